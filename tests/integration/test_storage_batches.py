"""Storage writes a batch of records in one transaction: the same database as writing them one by
one, a record PostgreSQL refuses dead-lettered alone, a connection lost before the commit written
again in full, and a replay of the whole topic through the runtime leaving the same dump. Each runs
on the plain path (``send_every_records=0``) and with records sent early in pipeline mode."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from mailpipe.common.messages import Link, MatchedEmail
from mailpipe.common.runtime.loop import StageRunner
from mailpipe.common.runtime.ports import Output
from mailpipe.common.settings import RuntimeSettings
from mailpipe.storage.stage import StoreStage

from tests.conftest import stack_env
from tests.integration.test_storage_store import T0, MakeStage, count, dump, mailboxes, parsed, record, stage_for, store
from tests.support.harness import KafkaHarness

__all__ = ["stage_for"]  # the fixture, imported for its side effect on this module's tests
NOW_COLUMNS = ("stored_at", "updated_at")  # the skeleton's defaults: differ between two loads, not two replays


def tangled() -> list[Any]:
    """Records that repeat keys inside one batch: an email from two mailboxes, the same sighting
    twice (later time, other owner), a link made twice with two reasons, participants repeated."""
    out = []
    for n in range(25):
        box, uid = ("a", n) if n % 3 else ("b", 100 + n)
        links = [Link(entity_type="company", entity_id=f"c{n % 4}", reason="host" if n % 2 else "address")]
        out.append(record(MatchedEmail(email=parsed(n % 11, box, uid), links=links), n, T0 + timedelta(seconds=n)))
    for n in (1, 2, 4, 5, 7):  # the same sightings again, later offsets with earlier times
        links = [Link(entity_type="company", entity_id=f"c{n % 4}", reason="again"),
                 Link(entity_type="person", entity_id=f"p{n}", reason="sender")]
        out.append(record(MatchedEmail(email=parsed(n, "a", n), links=links), len(out), T0 - timedelta(minutes=n)))
    return out


@pytest.mark.postgres
@pytest.mark.parametrize("send_every", [0, 3])
def test_batches_leave_the_database_one_by_one_leaves(pg_dsn: str, stage_for: MakeStage, send_every: int) -> None:
    records = tangled()
    boxes = mailboxes(("a", "u1", "t1"), ("b", None, "t2"))
    one = stage_for(pg_dsn, boxes, send_every_records=0)
    for r in records:
        store(one, r)
    expected = dump(pg_dsn, NOW_COLUMNS)
    for size in (7, len(records)):
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("TRUNCATE emails CASCADE")
        batched = stage_for(pg_dsn, boxes, send_every_records=send_every)
        for start in range(0, len(records), size):
            store(batched, *records[start:start + size])
        assert dump(pg_dsn, NOW_COLUMNS) == expected, f"batches of {size}"


@pytest.mark.postgres
@pytest.mark.parametrize("send_every", [0, 1, 2])
def test_a_record_the_database_refuses_is_rejected_alone(pg_dsn: str, stage_for: MakeStage, send_every: int) -> None:
    stage = stage_for(pg_dsn, send_every_records=send_every)
    nul = parsed(2, "a", 2).model_copy(update={"subject": "bad \x00 subject"})
    huge = parsed(3, "a", 3).model_copy(update={"size_bytes": 2**63})  # over bigint
    # A Message-ID over the B-tree limit was the other refusal here; since migration 022 it is stored.
    long_id = parsed(5, "a", 5).model_copy(update={"message_id": "".join(f"{i:x}" for i in range(3000)) + "@x"})
    records = [record(MatchedEmail(email=parsed(1, "a", 1)), 0, T0), record(MatchedEmail(email=nul), 1, T0),
               record(MatchedEmail(email=huge), 2, T0), record(MatchedEmail(email=parsed(4, "a", 4)), 3, T0),
               record(MatchedEmail(email=long_id), 4, T0)]
    rejected = store(stage, *records)
    assert [(r.offset, exc.reason) for r, exc in rejected] == [(1, "database_refused"), (2, "database_refused")]
    assert count(pg_dsn, "SELECT count(*) FROM emails") == 3
    assert count(pg_dsn, "SELECT count(*) FROM email_sightings WHERE uid IN (1, 4, 5)") == 3


@pytest.mark.postgres
@pytest.mark.s3
def test_a_refusal_survives_a_failed_file_copy_and_a_missing_source_is_skipped(
        pg_dsn: str, stage_for: MakeStage, unique: str) -> None:
    """durable() commits the rows, then copies: when a copy fails, the retry still returns the
    refused record for the dead-letter topic; a copy whose source object is gone is counted as
    skipped, not retried for ever."""
    from botocore.exceptions import ClientError, EndpointConnectionError
    from mailpipe.common import metrics
    from mailpipe.common.errors import TransientError
    from mailpipe.common.messages import Action, Attachment, FileCopy

    from tests.conftest import stack_s3

    client, bucket = stack_s3()

    class FailingOnce:
        """The real S3 client, whose first copy_object fails as an unreachable endpoint does."""

        def __init__(self) -> None:
            self.failed = False

        def copy_object(self, **kw: Any) -> Any:
            if not self.failed:
                self.failed = True
                raise EndpointConnectionError(endpoint_url="http://s3.invalid")
            return client.copy_object(**kw)

    gone = f"att/sha256/00/{unique}-gone"  # never stored: retention removed it, say
    att = Attachment(filename="a.pdf", content_type="application/pdf", size_bytes=1, sha256="0" * 64,
                     object_key=gone)
    with_copy = MatchedEmail(email=parsed(1, "a", 1, [att]), actions=[Action(
        kind="files_to_copy", reason="copy_files:task", copies=[FileCopy(
            target_type="task", target_id=f"t{unique}", folder="", object_keys=[gone], filenames=["a.pdf"])])])
    nul = parsed(2, "a", 2).model_copy(update={"subject": "bad \x00 subject"})
    stage = stage_for(pg_dsn, None, FailingOnce(), bucket)
    for r in (record(with_copy, 0, T0), record(MatchedEmail(email=nul), 1, T0)):
        stage.handle(r)
    with pytest.raises(TransientError) as failed:  # translated at the S3 boundary
        stage.durable()
    assert isinstance(failed.value.__cause__, EndpointConnectionError)
    missing = metrics.STORAGE_FILES_SKIPPED.labels(reason="source_missing")._value.get()
    rejected = stage.durable()  # the runtime's retry
    assert [(r.offset, exc.reason) for r, exc in rejected] == [(1, "database_refused")]
    assert metrics.STORAGE_FILES_SKIPPED.labels(reason="source_missing")._value.get() == missing + 1
    assert stage.durable() == []  # nothing left over
    with pytest.raises(ClientError):
        client.head_object(Bucket=bucket, Key=f"crm/task/t{unique}/a.pdf")


@pytest.mark.postgres
@pytest.mark.parametrize("send_every", [0, 2])
def test_a_connection_lost_before_the_commit_is_written_again_in_full(
        pg_dsn: str, stage_for: MakeStage, send_every: int) -> None:
    stage = stage_for(pg_dsn, send_every_records=send_every)
    assert store(stage, *(record(MatchedEmail(email=parsed(n, "a", n)), n, T0) for n in range(3))) == []
    for n in range(3, 9):
        stage.handle(record(MatchedEmail(email=parsed(n, "a", n)), n, T0))
    with psycopg.connect(pg_dsn, autocommit=True) as admin:  # the server drops the stage's connection
        open_transactions = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_xid IS NOT NULL").fetchone()
        assert open_transactions == (1 if send_every else 0,)  # records sent early: written, not committed
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    if send_every:  # the early transaction (records 3-8 sent) is lost: durable writes them again itself
        assert stage.durable() == []
    else:
        with pytest.raises(psycopg.OperationalError):
            stage.durable()
        assert count(pg_dsn, "SELECT count(*) FROM emails") == 3
        assert stage.durable() == []  # the runtime's retry: connects again and writes all six
    assert count(pg_dsn, "SELECT count(*) FROM emails") == 9
    assert count(pg_dsn, "SELECT count(*) FROM email_sightings") == 9


@pytest.mark.postgres
@pytest.mark.kafka
def test_replaying_the_topic_from_offset_zero_leaves_the_same_dump(pg_dsn: str, unique: str) -> None:
    kafka = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    topic = f"test-matched-{unique}"
    kafka.create_topic(topic, 3)
    records = tangled()
    producer = kafka.producer()
    for r in records:
        producer.send(Output(topic, r.key, r.value))
    producer.flush(60)
    boxes = mailboxes(("a", "u1", "t1"), ("b", None, "t2"))
    settings = RuntimeSettings(batch_max_records=8, poll_timeout_seconds=0.5)
    dumps = []
    try:
        for group in ("first", "replay"):
            stage = StoreStage(lambda: psycopg.connect(pg_dsn, autocommit=True), boxes)
            runner = StageRunner(stage, kafka.consumer(f"{group}-{unique}", [topic]), kafka.producer(), settings)
            deadline = time.monotonic() + 60
            while sum(kafka.committed(f"{group}-{unique}", topic, p) or 0 for p in range(3)) < len(records):
                assert time.monotonic() < deadline, "the topic was not consumed"
                runner.run_once()
            stage.close()
            dumps.append(dump(pg_dsn))
    finally:
        kafka.close()
    assert count(pg_dsn, "SELECT count(*) FROM emails") == 11
    assert dumps[0] == dumps[1]
