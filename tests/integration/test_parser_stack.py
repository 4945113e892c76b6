"""The parser against the real stack: attachments land in S3 once, and a poison message goes to
``mail.raw.dlq``-style dead letters with provenance while the next message is processed."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
from mailpipe.common import clients
from mailpipe.common.objects import put_at
from mailpipe.common.runtime.loop import StageRunner
from mailpipe.common.runtime.ports import Record
from mailpipe.common.settings import KafkaSettings, RuntimeSettings
from mailpipe.parser.stage import ParseStage

from tests.conftest import stack_env, stack_s3
from tests.support.harness import KafkaHarness
from tests.support.retarget import Retargeted

FAST = RuntimeSettings(retry_attempts=3, retry_backoff_seconds=0.01, dlq_min_records=5, poll_timeout_seconds=0.5)


_s3 = stack_s3


def _message(mid: str, data: bytes) -> bytes:
    return (f"Message-ID: <{mid}@it.example>\r\nFrom: a@it.example\r\nSubject: {mid}\r\n"
            "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x\r\n"
            "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + base64.encodebytes(data) + b"--x--\r\n"


def _headers(raw: bytes, mailbox: str, uid: int) -> list[tuple[str, bytes]]:
    return [("mailbox", mailbox.encode()), ("folder", b"INBOX"), ("uidvalidity", b"1"), ("uid", str(uid).encode()),
            ("size", str(len(raw)).encode()), ("sha256", hashlib.sha256(raw).hexdigest().encode())]


@pytest.mark.s3
def test_the_same_attachment_bytes_twice_make_one_object(unique: str) -> None:
    s3, bucket = _s3()
    writes: list[str] = []

    def store(key: str, data: bytes) -> None:
        if put_at(s3, bucket, key, data):
            writes.append(key)

    data = f"attachment {unique}".encode() * 500
    stage = ParseStage(lambda key: b"", store)
    for uid, mid in enumerate((f"one-{unique}", f"two-{unique}", f"one-{unique}"), 1):  # the third is a replay
        raw = _message(mid, data)
        stage.handle(Record("mail.raw", 0, uid, b"k", raw, _headers(raw, f"mb-{unique}", uid)))
    key = f"att/sha256/{hashlib.sha256(data).hexdigest()[:2]}/{hashlib.sha256(data).hexdigest()}"
    assert writes == [key]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key)
    assert [o["Key"] for o in listed.get("Contents", [])] == [key]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data


@pytest.mark.kafka
def test_poison_goes_to_the_dead_letter_topic_and_the_next_message_is_parsed(unique: str) -> None:
    harness = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    src, out = f"t{unique}.mail.raw", f"t{unique}.mail.parsed"
    for topic in (src, out, f"{src}.dlq"):
        harness.create_topic(topic)
    good = b"Message-ID: <good-" + unique.encode() + b"@it.example>\r\nFrom: a@it.example\r\n\r\nfine\r\n"
    poison = b"\x00\x01 this is not mail at all"
    producer = clients.make_producer(KafkaSettings(bootstrap_servers=stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS")))
    try:
        for uid, raw in enumerate((poison, good), 1):
            producer.send(src, key=f"s:{uid}".encode(), value=raw, headers=_headers(raw, "mbx", uid)).get(timeout=30)
    finally:
        producer.close()
    stage = Retargeted(ParseStage(lambda key: b""), out)
    runner = StageRunner(stage, harness.consumer(f"g{unique}", [src]), harness.producer(), FAST)
    try:
        deadline = time.monotonic() + 60
        while harness.committed(f"g{unique}", src) != 2:
            assert time.monotonic() < deadline, "the stage did not get past the poison message"
            runner.run_once()
        [dead] = harness.read_all(f"{src}.dlq")
        assert dead.value == poison and dead.key == b"s:1"
        assert dead.header("dlq-reason") == b"not_mail" and dead.header("dlq-stage") == b"parser"
        assert dead.header("dlq-source-topic") == src.encode() and dead.header("dlq-source-offset") == b"0"
        assert dead.header("mailbox") == b"mbx"  # the original record headers travel with it
        [parsed] = harness.read_all(out)
        payload = json.loads(parsed.value or b"")["payload"]
        assert payload["message_id"] == f"good-{unique}@it.example" and payload["sighting"]["uid"] == 2
    finally:
        harness.close()
