"""Dependency faults against the real servers: the exceptions the adapters' tables name are the
ones the servers really raise, an S3 outage longer than a retry window dead-letters nothing, wrong
S3 credentials stop the stage naming the variable, and a record whose output the broker refuses
as too large is dead-lettered instead of stalling the partition."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import psycopg
import pytest
from mailpipe.common import clients
from mailpipe.common.adapters import translate
from mailpipe.common.errors import DependencyConfigError, PoisonMessage, TransientError
from mailpipe.common.objects import check_bucket, get_content, put_at
from mailpipe.common.runtime.loop import Stage, StageRunner
from mailpipe.common.runtime.ports import Output, Record
from mailpipe.common.settings import RuntimeSettings, S3Settings
from mailpipe.parser.stage import ParseStage

from tests.conftest import stack_env
from tests.support.harness import KafkaHarness
from tests.support.http_outage import OutageProxy
from tests.support.retarget import Retargeted

FAST = RuntimeSettings(retry_attempts=2, retry_backoff_seconds=0.05, dlq_min_records=5, poll_timeout_seconds=0.3)


def _raised(fn: Any) -> BaseException:
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


@pytest.mark.postgres
def test_postgres_raises_what_the_table_names(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (k text PRIMARY KEY)")
        too_long = _raised(lambda: conn.execute("INSERT INTO t VALUES (%s)", ("".join(
            hashlib.sha256(str(i).encode()).hexdigest() for i in range(200)),)))  # 12,800 incompressible bytes
        not_utf8 = _raised(lambda: conn.execute("SELECT convert_from('\\xc3'::bytea, 'UTF8')"))
        overflow = _raised(lambda: conn.execute("SELECT 2147483647::int + 1"))
        missing = _raised(lambda: conn.execute("SELECT * FROM no_such_table"))
    assert isinstance(too_long, psycopg.errors.ProgramLimitExceeded)
    assert isinstance(not_utf8, psycopg.errors.CharacterNotInRepertoire)
    assert isinstance(overflow, psycopg.errors.NumericValueOutOfRange)
    for exc in (too_long, not_utf8, overflow):
        assert isinstance(translate(exc), PoisonMessage), exc
    assert isinstance(translate(missing), DependencyConfigError)
    refused = _raised(lambda: psycopg.connect("postgresql://nobody:pw@127.0.0.1:1/db", connect_timeout=2))
    assert isinstance(translate(refused), TransientError)


def _s3(endpoint: str | None = None, secret: str | None = None, bucket: str | None = None) -> tuple[Any, str]:
    settings = S3Settings(endpoint_url=endpoint or stack_env("MAILPIPE_S3__ENDPOINT_URL"),
                          access_key_id=stack_env("MAILPIPE_S3__ACCESS_KEY_ID"),
                          secret_access_key=secret or stack_env("MAILPIPE_S3__SECRET_ACCESS_KEY"),  # type: ignore[arg-type]
                          bucket=bucket or stack_env("MAILPIPE_S3__BUCKET"))
    return clients.make_s3(settings), settings.bucket


@pytest.mark.s3
def test_s3_refusals_are_configuration_errors_naming_the_variable(unique: str) -> None:
    wrong, bucket = _s3(secret="not-the-secret-key")
    exc = _raised(lambda: check_bucket(wrong, bucket))
    assert isinstance(exc, DependencyConfigError) and "MAILPIPE_S3__SECRET_ACCESS_KEY" in str(exc)
    exc = _raised(lambda: put_at(wrong, bucket, f"att/sha256/00/{unique}", b"x"))
    assert isinstance(exc, DependencyConfigError) and "MAILPIPE_S3__SECRET_ACCESS_KEY" in str(exc)
    right, _ = _s3()
    exc = _raised(lambda: check_bucket(right, f"no-bucket-{unique}"))
    assert isinstance(exc, DependencyConfigError) and "MAILPIPE_S3__BUCKET" in str(exc)
    exc = _raised(lambda: put_at(right, f"no-bucket-{unique}", "k", b"x"))
    assert isinstance(exc, DependencyConfigError) and "MAILPIPE_S3__BUCKET" in str(exc)
    with pytest.raises(KeyError):
        get_content(right, bucket, f"raw/sha256/00/{unique}")


def _message(mid: str, attachment: bytes) -> bytes:
    return (f"Message-ID: <{mid}@faults.example>\r\nFrom: a@faults.example\r\nSubject: {mid}\r\n"
            "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x\r\n"
            "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + base64.encodebytes(attachment) + b"--x--\r\n"


def _raw_record_headers(raw: bytes, uid: int, claim: str | None) -> list[tuple[str, bytes]]:
    headers = [("mailbox", b"mb-faults"), ("folder", b"INBOX"), ("uidvalidity", b"1"), ("uid", str(uid).encode()),
               ("size", str(len(raw)).encode()), ("sha256", hashlib.sha256(raw).hexdigest().encode())]
    return headers + ([("claim-check", claim.encode())] if claim else [])


def _parse_stage(s3: Any, bucket: str, out: str) -> Retargeted:
    return Retargeted(ParseStage(lambda key: get_content(s3, bucket, key),
                                lambda key, data: put_at(s3, bucket, key, data) and None), out)


def _setup(unique: str, count: int) -> tuple[KafkaHarness, str, str, list[bytes]]:
    """Topics and ``count`` raw messages: each has its own attachment (a PUT), every third is
    claim-checked (a GET)."""
    harness = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    src, out = f"t{unique}.mail.raw", f"t{unique}.mail.parsed"
    for topic in (src, out, f"{src}.dlq"):
        harness.create_topic(topic)
    direct, bucket = _s3()
    producer = clients.make_producer(harness.settings)
    attachments = []
    for uid in range(1, count + 1):
        attachment = f"{unique} attachment {uid} ".encode() * 300
        raw = _message(f"m{uid}-{unique}", attachment)
        claim = None
        if uid % 3 == 0:
            claim = f"raw/sha256/{hashlib.sha256(raw).hexdigest()[:2]}/{hashlib.sha256(raw).hexdigest()}"
            put_at(direct, bucket, claim, raw)
        producer.send(src, key=str(uid).encode(), value=b"" if claim else raw,
                      headers=_raw_record_headers(raw, uid, claim))
        attachments.append(attachment)
    producer.flush()
    producer.close()
    return harness, src, out, attachments


@pytest.mark.kafka
@pytest.mark.s3
@pytest.mark.timeout(240)
def test_an_s3_outage_longer_than_the_retry_window_dead_letters_nothing(unique: str) -> None:
    count = 12
    harness, src, out, attachments = _setup(unique, count)
    proxy = OutageProxy(("127.0.0.1", int(stack_env("MAILPIPE_S3__ENDPOINT_URL").rsplit(":", 1)[1])))
    s3, bucket = _s3(endpoint=proxy.url)
    group = f"g{unique}"
    # The outage lasts until the stage has given up once (its retry window spent), however long
    # that takes on a loaded machine: a fixed outage could end inside a slow retry window.
    proxy.set_unavailable(True)
    restarts, committed_during_outage = 0, []
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            # What the orchestrator does: a stage that exits is started again, from the last commit.
            consumer = harness.consumer(group, [src])
            runner = StageRunner(_parse_stage(s3, bucket, out), consumer, harness.producer(), FAST)
            try:
                while harness.committed(group, src) != count and time.monotonic() < deadline:
                    runner.run_once()
                break
            except TransientError:
                restarts += 1
                committed_during_outage.append(harness.committed(group, src))
                proxy.set_unavailable(False)
            finally:
                consumer.close()  # the process exits: it leaves the group
    finally:
        proxy.close()
    assert proxy.refused_requests > 0 and restarts >= 1, "the outage never reached the stage"
    assert committed_during_outage[0] is None, "a batch was committed while S3 was away"
    assert harness.read_all(f"{src}.dlq") == []
    parsed = {r.key for r in harness.read_all(out)}
    assert len(parsed) == 1 and harness.committed(group, src) == count  # one mailbox key; all committed
    emails = {dict(r.headers)["email-id"] for r in harness.read_all(out)}
    assert len(emails) == count
    direct, _ = _s3()
    for attachment in attachments:
        digest = hashlib.sha256(attachment).hexdigest()
        assert get_content(direct, bucket, f"att/sha256/{digest[:2]}/{digest}") == attachment


@pytest.mark.kafka
@pytest.mark.s3
@pytest.mark.timeout(120)
def test_wrong_s3_credentials_stop_the_stage_without_dead_letters(unique: str) -> None:
    harness, src, out, _ = _setup(unique, 6)
    wrong, bucket = _s3(secret="not-the-secret-key")
    runner = StageRunner(_parse_stage(wrong, bucket, out), harness.consumer(f"g{unique}", [src]), harness.producer(),
                         FAST)
    with pytest.raises(DependencyConfigError) as stopped:
        for _ in range(100):
            runner.run_once()
    assert "MAILPIPE_S3__SECRET_ACCESS_KEY" in str(stopped.value)
    assert harness.read_all(f"{src}.dlq") == []
    assert harness.committed(f"g{unique}", src) is None


class _Sized(Stage):
    """Echoes each record; the value ``big`` becomes an output larger than its topic accepts."""

    name = "sized"

    def __init__(self, out: str) -> None:
        self.out = out

    def handle(self, record: Record) -> list[Output]:
        value = b"x" * 300_000 if record.value == b"big" else record.value
        return [Output(self.out, record.key, value)]


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_an_output_too_large_for_the_producer_dead_letters_its_record(unique: str) -> None:
    """MAILPIPE_KAFKA__MAX_REQUEST_BYTES (the producer's max.request.size) is the limit the topics
    are created to accept; kafka-python refuses a larger record in send()."""
    from mailpipe.common.runtime.kafka_ports import KafkaProducerPort

    harness = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    src, out = f"t{unique}.in", f"t{unique}.out"
    for topic in (src, out, f"{src}.dlq"):
        harness.create_topic(topic)
    for value in (b"one", b"big", b"two"):
        harness.produce(src, b"k", value)
    producer = KafkaProducerPort(clients.make_producer(harness.settings, max_request_size=100_000))
    runner = StageRunner(_Sized(out), harness.consumer(f"g{unique}", [src]), producer, FAST)
    deadline = time.monotonic() + 60
    try:
        while harness.committed(f"g{unique}", src) != 3 and time.monotonic() < deadline:
            runner.run_once()
    finally:
        producer.close()
    dead = harness.read_all(f"{src}.dlq")
    assert [r.value for r in dead] == [b"big"]
    assert dict(dead[0].headers)["dlq-reason"] == b"record_too_large"
    assert [r.value for r in harness.read_all(out)] == [b"one", b"two"]


@pytest.mark.s3
def test_s3_away_at_start_is_no_reason_to_stop() -> None:
    away, bucket = _s3(endpoint="http://127.0.0.1:1")
    assert check_bucket(away, bucket) is None  # logged; the stage's retries deal with S3 later
