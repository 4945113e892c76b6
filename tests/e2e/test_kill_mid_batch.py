"""Issue 13: SIGKILL each consumer service in the middle of a pooled batch; nothing lost or doubled.

The pipeline runs as four processes (``services`` of test_pipeline.py). One warm-up email goes
through first, so every group has joined and the target's input topic has its starting offsets.
Then the target service is stopped, the corpus (every 4th email with a ~700 KB attachment that the
fetcher claim-checks to S3, others with small attachments or none) is appended to the Dovecot
mailbox, and the upstream services put all of it on the target's input topic. The target restarts
with a poll batch large enough to take the whole backlog in one or two batches, and is SIGKILLed
while such a batch is in flight.

What "in flight" means, per service, and how the test knows (``WORK``):
- parser: ``mailpipe_parser_parse_duration_seconds_count`` counts each record parsed inside
  ``ParseStage.handle_batch`` (``OverlappedBatch``), while the pool's claim-check GETs and attachment
  PUTs of the same batch are still running; the batch's offsets are committed only after it returns.
- matcher: the rows of ``matcher_decisions`` in the test's database appear when a batch's one
  PostgreSQL transaction commits; its outputs are sent and flushed after that, and only then are its
  offsets committed. Decisions ahead of the commits: the batch's state is durable, its offsets not,
  so the replay must repeat the stored decisions rather than decide (and create) anew. Its batches
  are smaller than the others' (``TARGET_BATCH``) so that several of them give the kill a chance.
- storage: ``mailpipe_runtime_records_consumed_total`` counts each record taken into the batch's open
  transaction (sent early in pipeline mode), before ``durable()`` commits it. Since that count runs
  ahead of its writes, storage also has a durable count (``DURABLE``: rows of ``email_sightings``)
  that its commits must never pass.
The kill is pulled when that count and what the group's committed offsets (Kafka admin API,
relative to where this process started) cover differ by ``MIN_IN_FLIGHT``: correct code is then
behind on its commits, with work done for records it has not committed; code that commits ahead
of its work is caught the same way, and loses what it committed. The proof that the kill landed
mid-batch is read after the process is dead, when its committed offsets are final: they still
differ from the work it had done (or run ahead of the durable count). A kill that raced the
batch's commit does not count; the test tries again on the next batch (``ATTEMPTS``) and fails
when it never lands.

After the restart: every email stored once (sightings, emails, links as the pure parse and match
functions compute them, attachments), every attachment's S3 object present under its content
address with that content, no dead letter from this mailbox on any DLQ, one matcher decision per
email.
"""

from __future__ import annotations

import hashlib
import signal
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import psycopg
import pytest
from kafka.structs import TopicPartition
from mailpipe.common import clients
from mailpipe.common.messages import Sighting
from mailpipe.common.settings import KafkaSettings
from mailpipe.devtools import mailboxes, mailgen
from mailpipe.devtools.processes import ServiceProcess
from mailpipe.parser.mime import parse_email

from tests.conftest import stack_env, stack_s3
from tests.e2e.test_pipeline import (  # noqa: F401  (services: a fixture)
    CONSUMES,
    expected_rows,
    services,
    stored,
    stored_rows,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3, pytest.mark.imap]

Count = Callable[[ServiceProcess, Any], int]  # (the target, an autocommit connection to the test's database)


def _metric(name: str) -> Count:
    return lambda proc, conn: int(proc.metric(name))


def _rows(table: str) -> Count:
    """The rows of ``table`` in the test's database, any mailbox: the target's group also handles
    what other tests put on the shared topics, and its commits count those records too."""
    return lambda proc, conn: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


DURABLE = {"storage": _rows("email_sightings")}  # storage's work count is taken before its writes are durable
WORK = {"parser": _metric("mailpipe_parser_parse_duration_seconds_count"), "matcher": _rows("matcher_decisions"),
        "storage": _metric("mailpipe_runtime_records_consumed_total")}
EMAILS, LARGE_EVERY = 80, 4  # 20 claim-checked ~700 KB emails, 20 with 2-60 KB attachments
BATCH = "200"  # the services' poll batch while the backlog builds up
TARGET_BATCH = {"parser": "200", "matcher": "20", "storage": "40"}  # the target's, at the kill
MIN_IN_FLIGHT, ATTEMPTS, QUIET_SECONDS = 3, 4, 10


class Offsets:
    """A consumer group's committed offsets and a topic's end offsets, through one admin client
    and one group-less consumer (neither joins the group)."""

    def __init__(self, group: str, topic: str) -> None:
        settings = KafkaSettings(bootstrap_servers=stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
        self.group, self.topic = group, topic
        self._admin = clients.make_admin(settings)
        self._consumer = clients.make_consumer(settings, None)
        self._parts = [TopicPartition(topic, p) for p in sorted(self._consumer.partitions_for_topic(topic) or [])]

    def committed(self) -> int:
        offsets = self._admin.list_group_offsets({self.group: self._parts})[self.group]
        return sum(max(0, o.offset) for o in offsets.values())

    def lag(self) -> int:
        return sum(self._consumer.end_offsets(self._parts).values()) - self.committed()

    def close(self) -> None:
        self._admin.close()
        self._consumer.close(autocommit=False)


def kill_mid_batch(proc: ServiceProcess, offsets: Offsets, work: Callable[[], int],
                   durable: Callable[[], int] | None = None) -> tuple[int, int, int | None]:
    """SIGKILL ``proc`` once its work count and its group's commits (both since its start) differ by
    ``MIN_IN_FLIGHT``, or its commits run ``MIN_IN_FLIGHT`` ahead of its ``durable`` count; returns
    (work seen before the kill, records committed at death, durable count at death). Correct code
    only ever commits behind its work and its durable writes; committing ahead of them is the bug
    this test exists to catch."""
    base, work_base, deadline = offsets.committed(), work(), time.monotonic() + 60
    durable_base = durable() if durable else 0
    while True:
        assert proc.alive(), f"{proc.service} exited on its own"
        assert time.monotonic() < deadline, f"{proc.service} never had a batch in flight"
        # Commits against durable writes first: two quick reads, not waiting on the busy process.
        ahead = (offsets.committed() - base) - (durable() - durable_base) if durable else 0
        done = work() - work_base if ahead < MIN_IN_FLIGHT else 0
        if ahead >= MIN_IN_FLIGHT or abs(done - (offsets.committed() - base)) >= MIN_IN_FLIGHT:
            proc.kill(signal.SIGKILL)
            assert proc.proc is not None and proc.proc.returncode == -9
            time.sleep(0.5)  # a commit request sent just before the kill may still be applied
            return done, offsets.committed() - base, durable() - durable_base if durable else None
        time.sleep(0.005)


def wait_settled(dsn: str, box: str, expected: int, offsets: Offsets, procs: dict[str, ServiceProcess]) -> int:
    """Wait until ``expected`` sightings are stored, or until the target's input is all committed
    and nothing more was stored for ``QUIET_SECONDS`` (the rest is lost); returns the count."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + 120
    while (n := stored(dsn, box)) < expected:
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > QUIET_SECONDS and offsets.lag() == 0:
            return n
        dead = [p.service for p in procs.values() if not p.alive()]
        assert not dead, f"service(s) exited: {dead}"
        assert time.monotonic() < deadline, f"only {n} of {expected} stored"
        time.sleep(0.3)
    return n


def dlq_ends(topics: list[str]) -> dict[TopicPartition, int]:
    consumer = clients.make_consumer(KafkaSettings(bootstrap_servers=stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS")),
                                     None)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
        return dict(consumer.end_offsets(parts))
    finally:
        consumer.close(autocommit=False)


def dead_letters_of(box: str, since: dict[TopicPartition, int]) -> list[str]:
    """The DLQ records written after ``since`` that carry ``box`` in their value or headers."""
    consumer = clients.make_consumer(KafkaSettings(bootstrap_servers=stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS")),
                                     None)
    try:
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        ends, found = consumer.end_offsets(list(since)), []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in since) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                found += [f"{r.topic}: {dict(r.headers).get('dlq-reason', b'')!r}" for r in records
                          if box.encode() in (r.value or b"") or any(box.encode() in v for _, v in r.headers)]
        return found
    finally:
        consumer.close(autocommit=False)


def expected_attachments(corpus: list[mailgen.Generated]) -> dict[str, list[tuple[int, str, str]]]:
    """Message-ID → (position, sha256, object key) of its attachments, by the pure parse."""
    out = {}
    for g in corpus:
        p = parse_email(g.raw, Sighting(mailbox_id="x", folder="INBOX", uidvalidity=1, uid=1), sha256="0")
        out[g.message_id.strip("<>")] = [(i, a.sha256, a.object_key) for i, a in enumerate(p.attachments)]
    return out


def stored_attachments(dsn: str, box: str, message_ids: list[str]
                       ) -> tuple[dict[str, list[tuple[int, str, str]]], int, int]:
    """Message-ID → its attachment rows; the count of email rows with any of ``message_ids`` (one
    each, unless a replay stored an email again under another id); the matcher decisions of ``box``."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT e.message_id, a.position, a.sha256, a.object_key FROM emails e "
            "JOIN email_sightings s USING (email_id) JOIN email_attachments a USING (email_id) "
            "WHERE s.mailbox_id = %s ORDER BY 1, 2", (box,)).fetchall()
        emails = conn.execute("SELECT count(*) FROM emails WHERE message_id = ANY(%s)", (message_ids,)).fetchone()[0]
        decisions = conn.execute("SELECT count(*) FROM matcher_decisions WHERE mailbox_id = %s", (box,)).fetchone()[0]
    out: dict[str, list[tuple[int, str, str]]] = {}
    for message_id, position, sha, key in rows:
        out.setdefault(message_id, []).append((position, sha, key))
    return out, int(emails), int(decisions)


def assert_objects_content_addressed(keys: set[tuple[str, str]]) -> None:
    s3, bucket = stack_s3()
    client: Any = s3
    for sha, key in sorted(keys):
        assert key == f"att/sha256/{sha[:2]}/{sha}"
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == sha, f"{key} holds other bytes"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("target", ["parser", "matcher", "storage"])
def test_sigkill_mid_pooled_batch_loses_and_doubles_nothing(services, pg_dsn: str, unique: str,  # noqa: F811
                                                             target: str) -> None:
    user, box = f"batch-{unique}@mailpipe.test", f"box-{unique}"
    corpus = mailgen.corpus(EMAILS + 1, seed=hash(unique) % 10_000, large_every=LARGE_EVERY)
    dlqs = dlq_ends([f"{t}.dlq" for t in CONSUMES.values()])
    mailboxes.append(user, [corpus[0].raw])  # the warm-up email
    procs = services(user, {"MAILPIPE_RUNTIME__BATCH_MAX_RECORDS": BATCH})
    wait_for(lambda: stored(pg_dsn, box) == 1, procs)

    proc = procs[target]
    proc.kill(signal.SIGTERM)  # a clean stop: the backlog builds up on its input topic
    others = {name: p for name, p in procs.items() if name != target}
    offsets = Offsets(proc.env["MAILPIPE_RUNTIME__GROUP_ID"], CONSUMES[target])
    conn = psycopg.connect(pg_dsn, autocommit=True)
    try:
        mailboxes.append(user, (g.raw for g in corpus[1:]))
        wait_for(lambda: offsets.lag() >= EMAILS, others, timeout=120)
        landed = []
        proc.env = {**proc.env, "MAILPIPE_RUNTIME__BATCH_MAX_RECORDS": TARGET_BATCH[target]}
        work_of = partial(WORK[target], proc, conn)
        durable_of = partial(DURABLE[target], proc, conn) if target in DURABLE else None
        for _ in range(ATTEMPTS):
            proc.start()
            work, committed, written = kill_mid_batch(proc, offsets, work_of, durable_of)
            print(f"{target}: killed with {work} records worked on, {committed} committed, {written} durable")
            # it died with work and commits apart, or commits ahead of its writes: in the middle of a batch
            if committed != work or (written is not None and committed > written):
                landed.append((work, committed))
                break
        proc.start()
        assert landed, f"no kill of the {target} landed in the middle of a batch in {ATTEMPTS} attempts"
        settled = wait_settled(pg_dsn, box, len(corpus), offsets, procs)
    finally:
        offsets.close()
        conn.close()
    assert settled == len(corpus), f"lost: {len(corpus) - settled} of {len(corpus)} emails never stored"
    time.sleep(2)  # anything doubled would land now
    assert stored(pg_dsn, box) == len(corpus)
    if target == "matcher":  # its restart found the killed batch's decisions stored and repeated them
        assert procs["matcher"].metric("mailpipe_matcher_decisions_replayed_total") >= MIN_IN_FLIGHT
    assert stored_rows(pg_dsn, box) == expected_rows(corpus)
    attachments, emails, decisions = stored_attachments(pg_dsn, box, [g.message_id.strip("<>") for g in corpus])
    assert emails == len(corpus) and decisions == len(corpus)
    expected = {mid: atts for mid, atts in expected_attachments(corpus).items() if atts}
    assert attachments == expected
    assert_objects_content_addressed({(sha, key) for atts in expected.values() for _, sha, key in atts})
    assert dead_letters_of(box, dlqs) == []
