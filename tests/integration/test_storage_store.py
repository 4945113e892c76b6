"""Storage against the real PostgreSQL and S3: one email however many mailboxes saw it, a replay
that leaves the same database, server-side file copies."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from mailpipe.common.mailboxes import Mailboxes
from mailpipe.common.messages import (
    Action,
    Address,
    Attachment,
    FileCopy,
    Link,
    MailboxConfig,
    MailboxOptions,
    MatchedEmail,
    MatchedEnvelope,
    ParsedEmail,
    Sighting,
    encode,
)
from mailpipe.common.objects import get_content, put_content
from mailpipe.common.runtime.ports import Record
from mailpipe.storage.stage import StoreStage

from tests.conftest import stack_s3

STORAGE_TABLES = ["emails", "email_sightings", "email_participants", "email_links", "email_link_sources",
                  "email_attachments", "file_copies"]
MakeStage = Callable[..., StoreStage]
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def dump(dsn: str, without: tuple[str, ...] = ()) -> bytes:
    """Every storage table as COPY text, rows in a fixed order: equal bytes = equal database.
    ``without``: columns left out (the skeleton's ``stored_at``/``updated_at`` default to now())."""
    out = bytearray()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for table in STORAGE_TABLES:
            names = [c.name for c in cur.execute(f"SELECT * FROM {table} LIMIT 0").description or []]
            cols = ", ".join(n for n in names if n not in without)
            order = ", ".join(str(i) for i in range(1, len(cols.split(", ")) + 1))
            out += f"-- {table}\n".encode()
            with cur.copy(f"COPY (SELECT {cols} FROM {table} ORDER BY {order}) TO STDOUT") as copy:
                for block in copy:
                    out += bytes(block)
    return bytes(out)


def count(dsn: str, sql: str, *args: Any) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute(sql, args).fetchone()[0])  # type: ignore[index]


def parsed(n: int, mailbox: str, uid: int, attachments: list[Attachment] = ()) -> ParsedEmail:  # type: ignore[assignment]
    return ParsedEmail(
        email_id=uuid.uuid5(uuid.NAMESPACE_URL, f"storage-test-{n}"), message_id=f"m{n}@storage.test",
        sighting=Sighting(mailbox_id=mailbox, folder="INBOX", uidvalidity=7, uid=uid),
        subject=f"Report {n} [Task#{100 + n}]", **{"from": [Address(name="Frida", address="frida@nordlys.example")]},
        to=[Address(name="Sales", address="sales@mailpipe.test")], cc=[Address(address="chloe@acme.example")],
        bcc=[Address(address="audit@mailpipe.test")], date=T0 + timedelta(hours=n), date_source="header",
        references=[f"root{n}@storage.test"], thread_root=f"root{n}@storage.test", size_bytes=1000 + n,
        sha256=hashlib.sha256(str(n).encode()).hexdigest(), text_body=f"body {n}", html_body=f"<p>body {n}</p>",
        attachments=list(attachments), attachment_names=[a.filename for a in attachments],
        auto_submitted=n % 3 == 0, auto_submitted_reasons=["precedence:bulk"] if n % 3 == 0 else [])


def record(matched: MatchedEmail, offset: int, at: datetime) -> Record:
    env = MatchedEnvelope(email_id=matched.email.email_id, producer="matcher", occurred_at=at, payload=matched)
    return Record("mail.matched", 0, offset, str(matched.email.email_id).encode(), encode(env))


def store(stage: StoreStage, *records: Record) -> list[Any]:
    """Hand each record to the stage, then make them durable, as the runtime does for a batch."""
    for r in records:
        stage.handle(r)
    return stage.durable()


@pytest.fixture
def stage_for() -> Iterator[MakeStage]:
    made: list[StoreStage] = []

    def make(dsn: str, mailboxes: Mailboxes | None = None, s3: Any = None, bucket: str = "",
             **options: Any) -> StoreStage:
        made.append(StoreStage(lambda: psycopg.connect(dsn, autocommit=True), mailboxes, (), s3, bucket, **options))
        return made[-1]

    yield make
    for stage in made:
        stage.close()


s3_client = stack_s3


@pytest.fixture
def s3() -> tuple[Any, str]:
    return s3_client()


def mailboxes(*configs: tuple[str, str | None, str | None]) -> Mailboxes:
    return Mailboxes({m: MailboxConfig(mailbox_id=m, name=m, protocol="imap",
                                       options=MailboxOptions(owner_user=owner, team=team))
                      for m, owner, team in configs})


@pytest.mark.postgres
def test_same_email_from_two_mailboxes_is_one_email_with_two_sightings(pg_dsn: str, stage_for: MakeStage) -> None:
    boxes = mailboxes(("alice-box", "u-alice", "t-sales"), ("support", None, "t-support"))
    stage = stage_for(pg_dsn, boxes)
    first = MatchedEmail(email=parsed(1, "alice-box", 11), links=[Link(entity_type="person", entity_id="p6",
                                                                       reason="sender")])
    second = MatchedEmail(email=parsed(1, "support", 95), links=[
        Link(entity_type="person", entity_id="p6", reason="recipient"),
        Link(entity_type="case", entity_id="c9", reason="case_created")])
    store(stage, record(first, 0, T0))
    store(stage, record(second, 1, T0 + timedelta(minutes=5)))

    email_id = first.email.email_id
    assert count(pg_dsn, "SELECT count(*) FROM emails") == 1
    with psycopg.connect(pg_dsn) as conn:
        sightings = conn.execute("SELECT mailbox_id, uid, owner_user, team, fetched_at FROM email_sightings "
                                 "WHERE email_id = %s ORDER BY mailbox_id", (email_id,)).fetchall()
        links = conn.execute("SELECT entity_type, entity_id, reason FROM email_links WHERE email_id = %s "
                             "ORDER BY 1, 2", (email_id,)).fetchall()
        roles = conn.execute("SELECT role, address FROM email_participants WHERE email_id = %s ORDER BY 1",
                             (email_id,)).fetchall()
        row = conn.execute("SELECT subject, thread_root, reference_ids, html_body, date_source, first_seen_at "
                           "FROM emails").fetchone()
    assert sightings == [("alice-box", 11, "u-alice", "t-sales", T0),
                         ("support", 95, None, "t-support", T0 + timedelta(minutes=5))]
    # links merged; the link both mailboxes made keeps its first reason
    assert links == [("case", "c9", "case_created"), ("person", "p6", "sender")]
    assert ("bcc", "audit@mailpipe.test") in roles and ("from", "frida@nordlys.example") in roles
    assert row == ("Report 1 [Task#101]", "root1@storage.test", ["root1@storage.test"], "<p>body 1</p>",
                   "header", T0)


@pytest.mark.postgres
def test_replay_from_offset_zero_leaves_the_same_database(pg_dsn: str, stage_for: MakeStage) -> None:
    boxes = mailboxes(("a", "u1", "t1"), ("b", "u2", "t2"))
    att = Attachment(filename="x.pdf", content_type="application/pdf", size_bytes=3, sha256="ab" * 32,
                     object_key=f"att/sha256/ab/{'ab' * 32}")
    records = []
    for n in range(40):
        box = "a" if n % 2 else "b"
        links = [Link(entity_type="company", entity_id=f"c{n % 5}", reason="host")]
        records.append(record(MatchedEmail(email=parsed(n % 25, box, n, [att] if n % 4 == 0 else []),
                                           links=links), n, T0 + timedelta(seconds=n)))
    stage = stage_for(pg_dsn, boxes)
    for r in records:
        store(stage, r)
    before = dump(pg_dsn)
    assert count(pg_dsn, "SELECT count(*) FROM emails") == 25
    assert count(pg_dsn, "SELECT count(*) FROM email_sightings") == 40

    replay = stage_for(pg_dsn, boxes)  # a new process reading the topic again from offset zero
    for start in range(0, len(records), 16):  # in the runtime's batches this time
        store(replay, *records[start:start + 16])
    assert dump(pg_dsn) == before


@pytest.mark.postgres
@pytest.mark.s3
def test_files_are_copied_server_side_and_a_replay_copies_nothing_new(
        pg_dsn: str, s3: tuple[Any, str], stage_for: MakeStage, unique: str) -> None:
    client, bucket = s3
    data_a, data_b = f"report {unique}".encode(), f"other {unique}".encode()
    key_a, key_b = (put_content(client, bucket, "att", d) for d in (data_a, data_b))
    atts = [Attachment(filename="report.pdf", content_type="application/pdf", size_bytes=len(d),
                       sha256=k.rsplit("/", 1)[-1], object_key=k) for d, k in ((data_a, key_a), (data_b, key_b))]
    task, company = f"t{unique}", f"c{unique}"
    copies = [FileCopy(target_type="task", target_id=task, folder="Mail/../in", object_keys=[key_a],
                       filenames=["report.pdf"]),
              FileCopy(target_type="company", target_id=company, folder="", object_keys=[key_a],
                       filenames=["report.pdf"])]
    first = MatchedEmail(email=parsed(1, "a", 1, atts[:1]), actions=[
        Action(kind="files_to_copy", reason="copy_files:both", copies=copies)])
    # another email: a different file with the same name into the same task folder
    second = MatchedEmail(email=parsed(2, "a", 2, atts[1:]), actions=[
        Action(kind="files_to_copy", reason="copy_files:task", copies=[
            FileCopy(target_type="task", target_id=task, folder="Mail/../in", object_keys=[key_b],
                     filenames=["report.pdf"])])])
    stage = stage_for(pg_dsn, None, client, bucket)
    recs = [record(first, 0, T0), record(second, 1, T0)]
    store(stage, *recs)

    plain = f"crm/task/{task}/Mail/_/in/report.pdf"
    hashed = f"crm/task/{task}/Mail/_/in/report.{atts[1].sha256[:12]}.pdf"
    assert get_content(client, bucket, plain) == data_a
    assert get_content(client, bucket, hashed) == data_b
    assert get_content(client, bucket, f"crm/company/{company}/report.pdf") == data_a
    before = dump(pg_dsn)
    for r in recs:
        store(stage, r)
    assert dump(pg_dsn) == before
    assert get_content(client, bucket, plain) == data_a
    assert count(pg_dsn, "SELECT count(*) FROM file_copies") == 3
