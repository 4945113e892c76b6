"""The parser's batch path against the real stack (Kafka, versitygw): claim-checks fetched and
attachments stored on the stage's I/O threads, a missing claim-check dead-letters only its record,
no ``mail.parsed`` record is sent before the objects it references are in S3, and an S3 outage in
the middle of a batch retries the batch without losing or doubling anything."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from mailpipe.common import clients
from mailpipe.common.objects import get_content, put_at
from mailpipe.common.runtime.loop import Outcome, StageRunner
from mailpipe.common.runtime.ports import Delivery, Output, ProducerPort, Record
from mailpipe.common.settings import RuntimeSettings, S3Settings
from mailpipe.parser.batch import IOBounds
from mailpipe.parser.stage import ParseStage

from tests.conftest import stack_env, stack_s3
from tests.support.harness import KafkaHarness
from tests.support.http_outage import OutageProxy
from tests.support.retarget import Retargeted

# A retry window of ~10 s: longer than the outage below, so the process rides it out.
PATIENT = RuntimeSettings(retry_attempts=12, retry_backoff_seconds=0.2, retry_backoff_max_seconds=1.0,
                          dlq_min_records=50, poll_timeout_seconds=0.5, batch_max_records=200)
OUTAGE_SECONDS = 3.0


def _message(mid: str, attachment: bytes) -> bytes:
    return (f"Message-ID: <{mid}@batches.example>\r\nFrom: a@batches.example\r\nSubject: {mid}\r\n"
            "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x\r\n"
            "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + base64.encodebytes(attachment) + b"--x--\r\n"


def _headers(raw: bytes, mailbox: str, uid: int, claim: str | None) -> list[tuple[str, bytes]]:
    headers = [("mailbox", mailbox.encode()), ("folder", b"INBOX"), ("uidvalidity", b"1"),
               ("uid", str(uid).encode()), ("size", str(len(raw)).encode()),
               ("sha256", hashlib.sha256(raw).hexdigest().encode())]
    return headers + ([("claim-check", claim.encode())] if claim else [])


def _key(kind: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"{kind}/sha256/{digest[:2]}/{digest}"


def _s3_via(endpoint: str) -> Any:
    return clients.make_s3(S3Settings(endpoint_url=endpoint, access_key_id=stack_env("MAILPIPE_S3__ACCESS_KEY_ID"),
                                      secret_access_key=stack_env("MAILPIPE_S3__SECRET_ACCESS_KEY"),  # type: ignore[arg-type]
                                      bucket=stack_env("MAILPIPE_S3__BUCKET")))


class CheckingProducer:
    """The real producer; every ``mail.parsed`` record it is given is checked first: each object
    it references must already be in S3 (read back over a direct connection)."""

    def __init__(self, producer: ProducerPort, s3: Any, bucket: str) -> None:
        self.producer, self.s3, self.bucket = producer, s3, bucket
        self.missing: list[str] = []
        self.checked = 0

    def send(self, output: Output) -> Delivery:
        if not output.topic.endswith(".dlq"):
            payload = json.loads(output.value or b"")["payload"]
            for attachment in payload["attachments"]:
                try:
                    get_content(self.s3, self.bucket, attachment["object_key"])
                    self.checked += 1
                except KeyError:
                    self.missing.append(attachment["object_key"])
        return self.producer.send(output)

    def flush(self, timeout_seconds: float) -> None:
        self.producer.flush(timeout_seconds)

    def close(self) -> None:
        self.producer.close()


class Recorded(Retargeted):
    """Counts the batch calls that failed (the runtime then calls the stage again with the batch)."""

    failed_batches = 0

    def handle_batch(self, records: Sequence[Record]) -> list[Outcome]:
        try:
            return super().handle_batch(records)
        except Exception:
            self.failed_batches += 1
            raise


class Setup:
    """Per-test topics, and ``mail.raw`` records: every other one claim-checked in S3."""

    def __init__(self, unique: str) -> None:
        self.harness = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
        self.src, self.out, self.group = f"t{unique}.mail.raw", f"t{unique}.mail.parsed", f"g{unique}"
        for topic in (self.src, self.out, f"{self.src}.dlq"):
            self.harness.create_topic(topic)
        self.s3, self.bucket = stack_s3()
        self.mailbox = f"mb-{unique}"
        self.sent: list[tuple[int, bytes]] = []  # (uid, attachment) of every record, in order

    def publish(self, attachments: list[bytes], unique: str, missing: frozenset[int] = frozenset()) -> None:
        producer = clients.make_producer(self.harness.settings)
        for uid, attachment in enumerate(attachments, 1):
            raw = _message(f"m{uid}-{unique}", attachment)
            claim = _key("raw", raw) if uid % 2 == 0 or uid in missing else None
            if claim and uid not in missing:
                put_at(self.s3, self.bucket, claim, raw)
            producer.send(self.src, key=f"{self.mailbox}:{uid}".encode(), value=b"" if claim else raw,
                          headers=_headers(raw, self.mailbox, uid, claim))
            self.sent.append((uid, attachment))
        producer.flush()
        producer.close()

    def run(self, stage: Recorded, producer: ProducerPort, settings: RuntimeSettings, count: int) -> None:
        consumer = self.harness.consumer(self.group, [self.src])
        runner = StageRunner(stage, consumer, producer, settings)
        deadline = time.monotonic() + 120
        try:
            while self.harness.committed(self.group, self.src) != count:
                assert time.monotonic() < deadline, "the stage did not take every record"
                runner.run_once()
        finally:
            consumer.close()

    def parsed_uids(self) -> list[int]:
        return [json.loads(r.value or b"")["payload"]["sighting"]["uid"] for r in self.harness.read_all(self.out)]


def _on_io_threads(calls: list[str]) -> bool:
    return bool(calls) and all(name.startswith("parser-io") for name in calls)


@pytest.mark.kafka
@pytest.mark.s3
@pytest.mark.timeout(180)
def test_a_batch_mixing_claim_checks_inline_records_and_a_missing_claim_check(unique: str) -> None:
    """Exercises the batch path specifically: the GETs and PUTs must run on the stage's I/O
    threads, and the attachment two records share is PUT once (the per-record path PUTs it
    twice: that assertion fails on the code before the batch path)."""
    setup = Setup(unique)
    shared = f"shared {unique} ".encode() * 4000
    attachments = [f"{unique} attachment {uid} ".encode() * (2000 + 500 * uid) for uid in range(1, 13)]
    attachments[9] = shared
    attachments[10] = shared
    setup.publish(attachments, unique, missing=frozenset({5}))
    threads: list[str] = []
    puts: Counter[str] = Counter()

    lock = threading.Lock()

    def fetch(key: str) -> bytes:
        threads.append(threading.current_thread().name)
        return get_content(setup.s3, setup.bucket, key)

    def store(key: str, data: bytes) -> None:
        with lock:
            threads.append(threading.current_thread().name)
            puts[key] += 1
        time.sleep(0.2)  # a slow S3: an output sent before its PUT finished would find no object
        put_at(setup.s3, setup.bucket, key, data)

    stage = Recorded(ParseStage(fetch, store, io=IOBounds(threads=4)), setup.out)
    producer = CheckingProducer(setup.harness.producer(), setup.s3, setup.bucket)
    try:
        setup.run(stage, producer, PATIENT, len(attachments))
        [dead] = setup.harness.read_all(f"{setup.src}.dlq")
        assert dead.header("uid") == b"5" and dead.header("dlq-reason") == b"claim_check_missing"
        assert setup.parsed_uids() == [uid for uid, _ in setup.sent if uid != 5]  # in order, once each
        assert producer.missing == [] and producer.checked == len(attachments) - 1
        assert _on_io_threads(threads)
        assert puts[_key("att", shared)] == 1
        assert _key("att", attachments[4]) not in puts  # the dead-lettered record stored nothing
    finally:
        setup.harness.close()


@pytest.mark.kafka
@pytest.mark.s3
@pytest.mark.timeout(240)
def test_an_s3_outage_in_the_middle_of_a_batch_retries_it_and_loses_or_doubles_nothing(unique: str) -> None:
    """S3 answers 503 from the middle of the first batch's PUTs for a few seconds: the batch is
    retried as a whole (the stage is called again), nothing is dead-lettered, every email is
    parsed exactly once and no output was sent before its objects were in S3."""
    setup = Setup(unique)
    count = 16
    attachments = [f"{unique} outage {uid} ".encode() * 3000 for uid in range(1, count + 1)]
    setup.publish(attachments, unique)
    proxy = OutageProxy(("127.0.0.1", int(stack_env("MAILPIPE_S3__ENDPOINT_URL").rsplit(":", 1)[1])))
    through_proxy = _s3_via(proxy.url)
    stored: list[str] = []
    lock = threading.Lock()

    def store(key: str, data: bytes) -> None:
        with lock:
            stored.append(key)
            if len(stored) == count // 2:  # the middle of the batch: half the PUTs were started
                proxy.set_unavailable(True)
                threading.Timer(OUTAGE_SECONDS, proxy.set_unavailable, args=(False,)).start()
        put_at(through_proxy, setup.bucket, key, data)

    stage = Recorded(ParseStage(lambda key: get_content(through_proxy, setup.bucket, key), store,
                                io=IOBounds(threads=4)), setup.out)
    producer = CheckingProducer(setup.harness.producer(), setup.s3, setup.bucket)
    try:
        setup.run(stage, producer, PATIENT, count)
        assert proxy.refused_requests > 0, "the outage never reached the stage"
        assert stage.failed_batches >= 1, "no batch failed: the outage missed the batch path"
        assert setup.harness.read_all(f"{setup.src}.dlq") == []
        assert setup.parsed_uids() == list(range(1, count + 1))  # in order, none lost, none twice
        assert producer.missing == [] and producer.checked == count
        for attachment in attachments:
            assert get_content(setup.s3, setup.bucket, _key("att", attachment)) == attachment
    finally:
        proxy.close()
        setup.harness.close()
