"""Storage write throughput: emails per second written with their sightings, participants and links,
against a plain COPY of the same rows into unindexed tables in the same database and run (the
floor). Target: >= 0.25x the floor, >= 2,000/s. Two measurements of the storage side:

- store: the write path (``save_batch``, one transaction per batch of ``--batch`` records, the
  runtime's default batch size), from MatchedEmail objects, as the floor starts from ready rows;
- stage: ``StoreStage.handle`` + ``durable`` from encoded ``mail.matched`` records, as the service
  runs (envelope decoding and the files-skipped accounting included).

    .venv/bin/python bench/store.py [--emails 5000] [--batch 200]

Needs the local stack (MAILPIPE_POSTGRES__DSN); works in a scratch database it drops afterwards."""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mailpipe.common.mailboxes import Mailboxes  # noqa: E402
from mailpipe.common.messages import (  # noqa: E402
    Address,
    Attachment,
    Link,
    MailboxConfig,
    MailboxOptions,
    MatchedEmail,
    MatchedEnvelope,
    ParsedEmail,
    Sighting,
    encode,
)
from mailpipe.common.runtime.ports import Record  # noqa: E402
from mailpipe.devtools.scratchdb import scratch_database  # noqa: E402
from mailpipe.storage.repository import PARTICIPANT_ROLES, Pending, save_batch  # noqa: E402
from mailpipe.storage.stage import StoreStage  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def corpus(n: int, seed: int = 6) -> list[MatchedEmail]:
    """Emails with 1 sender, 1-3 recipients, a cc, a third with an attachment, 1-3 links; one in
    five seen a second time from another mailbox (a merged sighting)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        box = f"box{rng.randrange(20)}"
        to = [Address(name=f"R {k}", address=f"r{rng.randrange(500)}@acme.example") for k in range(rng.randint(1, 3))]
        atts = [Attachment(filename=f"file{i}.pdf", content_type="application/pdf", size_bytes=1000,
                           sha256=hashlib.sha256(str(i % 300).encode()).hexdigest(),
                           object_key=f"att/sha256/00/{i % 300}")] if i % 3 == 0 else []
        email = ParsedEmail(
            email_id=uuid.uuid5(uuid.NAMESPACE_URL, f"bench-{i}"), message_id=f"b{i}@bench.example",
            sighting=Sighting(mailbox_id=box, folder="INBOX", uidvalidity=1, uid=i),
            subject=f"Question about order {i}", **{"from": [Address(name="Alice", address=f"a{i % 700}@x.example")]},
            to=to, cc=[Address(address="cc@acme.example")], date=T0 + timedelta(minutes=i), date_source="header",
            size_bytes=3000, sha256=hashlib.sha256(f"raw{i}".encode()).hexdigest(), text_body="hello " * 50,
            attachments=atts, thread_root=f"b{i}@bench.example")
        links = [Link(entity_type="company", entity_id=f"c{rng.randrange(200)}", reason="host")
                 for _ in range(rng.randint(1, 3))]
        out.append(MatchedEmail(email=email, links=links))
        if i % 5 == 0:
            again = email.model_copy(update={"sighting": Sighting(mailbox_id="shared", folder="INBOX",
                                                                  uidvalidity=1, uid=i)})
            out.append(MatchedEmail(email=again, links=links))
    return out


def floor_rows(records: list[MatchedEmail]) -> dict[str, list[tuple[object, ...]]]:
    rows: dict[str, list[tuple[object, ...]]] = {"emails": [], "sightings": [], "participants": [], "links": []}
    for m in records:
        e = m.email
        rows["emails"].append((e.email_id, e.message_id, e.subject, e.from_[0].address, e.date, e.size_bytes, e.sha256,
                               e.text_body, e.thread_root))
        s = e.sighting
        rows["sightings"].append((s.mailbox_id, s.folder, s.uidvalidity, s.uid, e.email_id, T0, "u1", "t1"))
        groups = {"from": e.from_, "to": e.to, "cc": e.cc}
        rows["participants"] += [(e.email_id, r, a.address, a.name)
                                 for r in PARTICIPANT_ROLES for a in groups.get(r, [])]
        rows["links"] += [(e.email_id, lk.entity_type, lk.entity_id, lk.reason) for lk in m.links]
    return rows


FLOOR_TABLES = {
    "emails": "email_id uuid, message_id text, subject text, from_address text, sent_at timestamptz, "
              "size_bytes bigint, sha256 text, text_body text, thread_root text",
    "sightings": "mailbox_id text, folder text, uidvalidity bigint, uid bigint, email_id uuid, "
                 "fetched_at timestamptz, owner_user text, team text",
    "participants": "email_id uuid, role text, address text, name text",
    "links": "email_id uuid, entity_type text, entity_id text, reason text",
}


def store(dsn: str, records: list[MatchedEmail], batch: int) -> float:
    options = MailboxOptions(owner_user="u1", team="t1")
    items = [Pending(m, T0, options) for m in records]
    with psycopg.connect(dsn, autocommit=True) as conn:  # as the storage stage connects
        started = time.perf_counter()
        for start in range(0, len(items), batch):
            with conn.transaction():
                save_batch(conn, items[start:start + batch])
        return time.perf_counter() - started


def stage(dsn: str, records: list[MatchedEmail], batch: int) -> float:
    options = MailboxOptions(owner_user="u1", team="t1")
    boxes = Mailboxes({b: MailboxConfig(mailbox_id=b, name=b, protocol="imap", options=options)
                       for b in {m.email.sighting.mailbox_id for m in records}})
    encoded = [Record("mail.matched", 0, i, None, encode(MatchedEnvelope(
        email_id=m.email.email_id, producer="matcher", occurred_at=T0, payload=m))) for i, m in enumerate(records)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE emails CASCADE")
    writer = StoreStage(lambda: psycopg.connect(dsn, autocommit=True), boxes)
    try:
        started = time.perf_counter()
        for start in range(0, len(encoded), batch):
            for r in encoded[start:start + batch]:
                writer.handle(r)
            assert writer.durable() == []
        return time.perf_counter() - started
    finally:
        writer.close()


def run(dsn: str, n: int, batch: int) -> None:
    records = corpus(n)
    store_seconds = store(dsn, records, batch)
    stage_seconds = stage(dsn, records, batch)
    with psycopg.connect(dsn) as conn:
        for name, cols in FLOOR_TABLES.items():
            conn.execute(f"CREATE TABLE floor_{name} ({cols})")
        conn.commit()
        rows = floor_rows(records)
        started = time.perf_counter()
        with conn.cursor() as cur:
            for name, table_rows in rows.items():
                with cur.copy(f"COPY floor_{name} FROM STDIN") as copy:
                    for row in table_rows:
                        copy.write_row(row)
        conn.commit()
        floor_seconds = time.perf_counter() - started
    floor_rate = len(records) / floor_seconds
    print(f"{len(records)} records ({n} emails, {len(records) - n} second sightings), batches of {batch}")
    print(f"floor: COPY of the same rows into unindexed tables in {floor_seconds:.2f} s = {floor_rate:,.0f} records/s")
    for name, seconds in (("store", store_seconds), ("stage", stage_seconds)):
        rate = len(records) / seconds
        print(f"{name}: {seconds:.2f} s = {rate:,.0f} records/s = {rate / floor_rate:.3f}x the floor "
              f"(target >= 0.25x and >= 2,000/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emails", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=200, help="records per transaction (the runtime's batch)")
    args = parser.parse_args()
    with scratch_database(os.environ["MAILPIPE_POSTGRES__DSN"], "bench_store") as dsn:
        run(dsn, args.emails, args.batch)


if __name__ == "__main__":
    main()
