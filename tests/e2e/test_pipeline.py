"""End to end through four real service processes, Dovecot, Kafka, S3 and PostgreSQL."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from mailpipe.common import admin
from mailpipe.common.messages import Entity, MatchedEnvelope, Sighting
from mailpipe.devtools import mailboxes, mailgen, report
from mailpipe.devtools.processes import ServiceProcess, free_port, pipeline, stop_all
from mailpipe.matcher.directory import EntityIndex
from mailpipe.matcher.stage import Matcher
from mailpipe.parser.mime import parse_email

from tests.conftest import stack_env
from tests.support.harness import KafkaHarness

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3, pytest.mark.imap]


@pytest.fixture
def services(pg_dsn: str, unique: str, tmp_path: Path) -> Iterator[Callable[..., dict[str, ServiceProcess]]]:
    """Starts the four services for one mailbox, with consumer groups and a database of this test."""
    admin.create_topics()
    directory = tmp_path / "directory.yaml"
    directory.write_text(yaml.safe_dump(mailgen.directory(), allow_unicode=True))
    admin.load_directory(directory)
    started: list[dict[str, ServiceProcess]] = []

    def start(user: str, extra: dict[str, str], **account: object) -> dict[str, ServiceProcess]:
        mailboxes.save_account(pg_dsn, mailboxes.local_account(user, f"box-{unique}", poll_interval_seconds=5,
                                                               **account))
        env = {"MAILPIPE_POSTGRES__DSN": pg_dsn, "MAILPIPE_FETCH__CLAIM_INTERVAL_SECONDS": "0.2",
               # a SIGKILLed fetcher's lease must expire soon for its restart to take the mailbox over
               "MAILPIPE_FETCH__LEASE_SECONDS": "5", **extra}
        procs = pipeline(env, tmp_path / "logs", {s: free_port() for s in ("fetcher", "parser", "matcher", "storage")})
        started.append(start_in_groups(procs, unique))
        return procs

    yield start
    for procs in started:
        stop_all(procs)
    for log in sorted((tmp_path / "logs").glob("*.log")):
        print(f"===== {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))


CONSUMES = {"parser": "mail.raw", "matcher": "mail.parsed", "storage": "mail.matched"}


def start_in_groups(procs: dict[str, ServiceProcess], unique: str) -> dict[str, ServiceProcess]:
    """Start every service in consumer groups of this test. The shared topics hold every earlier
    run's records; this test's groups start at their current end, so each stage sees only this
    test's mail."""
    for p in procs.values():
        group = f"e2e-{unique}-{p.service}"
        if p.service in CONSUMES:
            commit_at_end(group, CONSUMES[p.service])
        p.env = {**p.env, "MAILPIPE_RUNTIME__GROUP_ID": group}
        p.start()
    return procs


def commit_at_end(group: str, topic: str) -> None:
    """Commit ``group``'s offsets at the current end of every partition of ``topic``."""
    from kafka.structs import OffsetAndMetadata, TopicPartition
    from mailpipe.common import clients
    from mailpipe.common.settings import KafkaSettings

    consumer = clients.make_consumer(KafkaSettings(bootstrap_servers=stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS")),
                                     group)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        ends = consumer.end_offsets(parts)
        consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in ends.items()})
    finally:
        consumer.close(autocommit=False)


def stored(dsn: str, mailbox_id: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM email_sightings WHERE mailbox_id = %s",
                                (mailbox_id,)).fetchone()[0])


def wait_for(condition: Callable[[], bool], procs: dict[str, ServiceProcess], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        dead = [p.service for p in procs.values() if not p.alive()]
        assert not dead, f"service(s) exited: {dead}"
        assert time.monotonic() < deadline, "pipeline did not get there in time"
        time.sleep(0.3)


def expected_rows(corpus: list[mailgen.Generated]) -> dict[str, list[tuple[str, str, str]]]:
    """Subject → links, computed with the pure parse and match functions, no pipeline involved."""
    index = EntityIndex()
    for e in mailgen.directory():
        index.upsert(Entity.model_validate(e))
    matcher = Matcher(index)  # the mailbox does nothing with its mail: links only
    rows = {}
    for g in corpus:
        p = parse_email(g.raw, Sighting(mailbox_id="x", folder="INBOX", uidvalidity=1, uid=1), sha256="0")
        rows[g.message_id.strip("<>")] = sorted((lk.entity_type, lk.entity_id, lk.reason)
                                                for lk in matcher.match(p).links)
    return rows


def stored_rows(dsn: str, mailbox_id: str) -> dict[str, list[tuple[str, str, str]]]:
    with psycopg.connect(dsn) as conn:
        emails = conn.execute(
            "SELECT e.email_id, e.message_id FROM emails e JOIN email_sightings s USING (email_id) "
            "WHERE s.mailbox_id = %s", (mailbox_id,)).fetchall()
        out = {}
        for email_id, message_id in emails:
            links = conn.execute("SELECT entity_type, entity_id, reason FROM email_links WHERE email_id = %s",
                                 (email_id,)).fetchall()
            out[message_id] = sorted(tuple(r) for r in links)
        return out


def test_delivered_email_becomes_a_row_and_a_matched_record(services, pg_dsn: str, unique: str) -> None:
    user = f"e2e-{unique}@mailpipe.test"
    raw = (f"Message-ID: <one-{unique}@mailpipe.test>\r\nFrom: Alice <alice@acme.example>\r\n"
           f"To: sales@mailpipe.test\r\nSubject: hello {unique}\r\nDate: Mon, 5 Oct 2026 10:00:00 +0000\r\n"
           f"\r\nHi\r\n").encode()
    mailboxes.append(user, [raw])
    procs = services(user, {})
    wait_for(lambda: stored(pg_dsn, f"box-{unique}") == 1, procs)
    expected = [("company", "acme", "person_main_address:sender"), ("person", "p1", "sender")]
    assert stored_rows(pg_dsn, f"box-{unique}") == {f"one-{unique}@mailpipe.test": expected}

    records = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS")).read_all("mail.matched")
    mine = [MatchedEnvelope.model_validate_json(r.value or b"") for r in records
            if r.header("email-id") and b"box-" + unique.encode() in (r.value or b"")]
    assert mine, "no mail.matched record for the delivered email"
    assert sorted((lk.entity_type, lk.entity_id, lk.reason) for lk in mine[-1].payload.links) == expected
    assert mine[-1].payload.email.subject == f"hello {unique}"


def test_kill_9_of_each_service_mid_stream_loses_and_doubles_nothing(services, pg_dsn: str, unique: str) -> None:
    user, box = f"kill-{unique}@mailpipe.test", f"box-{unique}"
    corpus = mailgen.corpus(120, seed=hash(unique) % 10_000, large_every=40)
    first, second = corpus[:60], corpus[60:]
    mailboxes.append(user, (g.raw for g in first))
    small_batches = {"MAILPIPE_FETCH__BATCH_SIZE": "5", "MAILPIPE_RUNTIME__BATCH_MAX_RECORDS": "5"}
    procs = services(user, small_batches)
    progress = {
        "fetcher": lambda: procs["fetcher"].metric("mailpipe_fetcher_messages_fetched_total") >= 5,
        "parser": lambda: procs["parser"].metric("mailpipe_runtime_records_consumed_total") >= 5,
        "matcher": lambda: procs["matcher"].metric("mailpipe_runtime_records_consumed_total") >= 5,
        "storage": lambda: stored(pg_dsn, box) >= 5,
    }
    for name in ("fetcher", "parser", "matcher", "storage"):
        wait_for(progress[name], procs)
        procs[name].kill(signal.SIGKILL)
        assert procs[name].proc is not None and procs[name].proc.returncode == -9
        procs[name].start()
    mailboxes.append(user, (g.raw for g in second))
    wait_for(lambda: stored(pg_dsn, box) >= len(corpus), procs)
    time.sleep(2)  # anything doubled would land now
    assert stored(pg_dsn, box) == len(corpus)
    assert stored_rows(pg_dsn, box) == expected_rows(corpus)
    with psycopg.connect(pg_dsn) as conn:
        table = report.matched_rows(conn, box)
    assert len(table) == len(corpus) and len({r for r in table}) == len(table)
