"""The parser's batch path with an in-memory S3: GETs overlap, bytes in flight stay within the
budget, a record larger than the budget goes alone, the same object is PUT once per batch,
poison is per record, and nothing is returned before every PUT finished."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable

import pytest
from mailpipe.common.errors import PoisonMessage, TransientError
from mailpipe.common.runtime.ports import Record
from mailpipe.parser.batch import ByteBudget, IOBounds
from mailpipe.parser.stage import ParseStage

pytestmark = pytest.mark.timeout(60)
WAIT_SECONDS = 10.0  # how long a fake request waits for a sibling that must be in flight with it


def _message(uid: int, attachment: bytes) -> bytes:
    return (f"Message-ID: <m{uid}@batch.example>\r\nFrom: a@batch.example\r\nSubject: {uid}\r\n"
            "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
            "--x\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=d.bin\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + base64.encodebytes(attachment) + b"--x--\r\n"


def _record(uid: int, raw: bytes, claim: str | None = None) -> Record:
    headers = [("mailbox", b"mb"), ("folder", b"INBOX"), ("uidvalidity", b"1"), ("uid", str(uid).encode()),
               ("size", str(len(raw)).encode()), ("sha256", hashlib.sha256(raw).hexdigest().encode())]
    if claim:
        headers.append(("claim-check", claim.encode()))
    return Record("mail.raw", 0, uid, b"k", b"" if claim else raw, headers)


class FakeS3:
    """Objects in a dict. Tracks, per claim-checked record, the bytes 'in flight' from the start
    of its GET until its attachment's PUT returned, and the most ever in flight at once."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []
        self.lock = threading.Lock()
        self.in_flight, self.max_in_flight = 0, 0
        self.sizes: dict[str, int] = {}  # attachment key → the size its record reserved
        self.get_started: dict[str, threading.Event] = {}
        self.before_get: Callable[[str], None] = lambda key: None
        self.before_put: Callable[[str], None] = lambda key: None

    def claim(self, uid: int, raw: bytes, attachment: bytes) -> Record:
        key = f"raw/{uid}"
        self.objects[key] = raw
        self.sizes[_att_key(attachment)] = len(raw)
        self.get_started[key] = threading.Event()
        return _record(uid, raw, key)

    def get(self, key: str) -> bytes:
        with self.lock:
            data = self.objects[key]  # KeyError: the claim-check is gone
            self.in_flight += len(data)
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.get_started[key].set()
        self.before_get(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        self.before_put(key)
        with self.lock:
            self.objects[key] = data
            self.puts.append(key)
            self.in_flight -= self.sizes.get(key, 0)


def _att_key(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"att/sha256/{digest[:2]}/{digest}"


def _referenced(outputs: list[object]) -> list[str]:
    keys = []
    for outcome in outputs:
        assert isinstance(outcome, list)
        payload = json.loads(outcome[0].value)["payload"]
        keys += [a["object_key"] for a in payload["attachments"]]
    return keys


def test_the_byte_budget_admits_what_fits_and_a_larger_request_alone() -> None:
    budget = ByteBudget(100)
    assert budget.try_acquire(60) and not budget.try_acquire(60) and budget.try_acquire(40)
    budget.release(100)
    assert budget.try_acquire(500)  # nothing held: larger than the budget, admitted alone
    assert not budget.try_acquire(1)
    threading.Timer(0.1, budget.release, args=(500,)).start()
    budget.acquire(80)  # blocks until the large one is released
    assert budget.held == 80


def test_gets_overlap_and_the_bytes_in_flight_stay_within_the_budget() -> None:
    """Fails on the per-record path: record 1's GET waits until record 2's started, which a
    serial stage never does (it times out), and the most in flight is then 2 records' bytes."""
    s3 = FakeS3()
    attachments = [f"attachment {uid} ".encode() * 2000 for uid in range(1, 9)]
    records = [s3.claim(uid, _message(uid, a), a) for uid, a in enumerate(attachments, 1)]
    size = max(int(dict(r.headers)["size"]) for r in records)

    def wait_for_the_next(key: str) -> None:
        if key == "raw/1":
            assert s3.get_started["raw/2"].wait(WAIT_SECONDS), "record 2's GET never overlapped record 1's"

    s3.before_get = wait_for_the_next
    stage = ParseStage(s3.get, s3.put, io=IOBounds(threads=8, max_bytes_in_flight=2 * size))
    outcomes = stage.handle_batch(records)
    assert stage.batched
    assert s3.max_in_flight <= 2 * size and s3.max_in_flight > size
    assert _referenced(outcomes) == [_att_key(a) for a in attachments]  # in record order
    assert sorted(s3.puts) == sorted(_att_key(a) for a in attachments)


def test_messages_larger_than_the_budget_are_fetched_one_at_a_time() -> None:
    """Exercises the budget's 'alone' rule: were a large record refused outright the batch would
    hang, were it admitted beside another the in-flight figure would pass one record's size."""
    s3 = FakeS3()
    attachments = [f"big {uid} ".encode() * 5000 for uid in range(1, 5)]
    records = [s3.claim(uid, _message(uid, a), a) for uid, a in enumerate(attachments, 1)]
    size = max(int(dict(r.headers)["size"]) for r in records)
    outcomes = ParseStage(s3.get, s3.put, io=IOBounds(threads=4, max_bytes_in_flight=size // 3)).handle_batch(records)
    assert s3.max_in_flight <= size
    assert _referenced(outcomes) == [_att_key(a) for a in attachments]


def test_the_same_attachment_twice_in_a_batch_is_put_once() -> None:
    """Fails on the per-record path, which stores the attachment once per record."""
    s3 = FakeS3()
    data = b"the same bytes " * 1000
    records = [_record(1, _message(1, data)), s3.claim(2, _message(2, data), data), _record(3, _message(3, data))]
    outcomes = ParseStage(s3.get, s3.put).handle_batch(records)
    assert s3.puts == [_att_key(data)]
    assert _referenced(outcomes) == [_att_key(data)] * 3


def test_a_missing_claim_check_or_unparseable_record_is_poison_alone_and_stores_nothing() -> None:
    s3 = FakeS3()
    good = [b"good one " * 500, b"good two " * 500]
    lost = b"never stored " * 500
    records = [
        s3.claim(1, _message(1, good[0]), good[0]),
        _record(2, _message(2, lost), "raw/gone"),
        _record(3, b"\x00\x01 not mail"),
        _record(4, _message(4, good[1])),
    ]
    outcomes = ParseStage(s3.get, s3.put).handle_batch(records)
    assert isinstance(outcomes[1], PoisonMessage) and outcomes[1].reason == "claim_check_missing"
    assert isinstance(outcomes[2], PoisonMessage) and outcomes[2].reason == "not_mail"
    assert _referenced([outcomes[0], outcomes[3]]) == [_att_key(g) for g in good]
    assert sorted(s3.puts) == sorted(_att_key(g) for g in good)  # nothing of the poison records


def test_the_batch_returns_only_once_every_put_finished() -> None:
    """Slow PUTs: every object an output references is stored when handle_batch returns."""
    s3 = FakeS3()
    s3.before_put = lambda key: time.sleep(0.05)
    attachments = [f"slow {uid} ".encode() * 1000 for uid in range(1, 7)]
    records = [s3.claim(uid, _message(uid, a), a) if uid % 2 else _record(uid, _message(uid, a))
               for uid, a in enumerate(attachments, 1)]
    outcomes = ParseStage(s3.get, s3.put, io=IOBounds(threads=3)).handle_batch(records)
    assert all(key in s3.objects for key in _referenced(outcomes))


@pytest.mark.parametrize("failing", ["get", "put"])
def test_a_failing_request_fails_the_batch_after_every_request_ended(failing: str) -> None:
    """A transient GET or PUT error is raised for the runtime to retry the batch, and no request
    of the batch is still running by then (a retry never overlaps the failed run)."""
    s3 = FakeS3()
    attachments = [f"fail {uid} ".encode() * 1000 for uid in range(1, 7)]
    records = [s3.claim(uid, _message(uid, a), a) for uid, a in enumerate(attachments, 1)]
    running: list[str] = []
    fails = "raw/1" if failing == "get" else _att_key(attachments[1])

    def flaky(key: str) -> None:
        if key == fails:
            raise TransientError("S3 is away", dependency="s3")
        running.append(key)
        time.sleep(0.1)
        running.remove(key)

    s3.before_get = s3.before_put = flaky
    with pytest.raises(TransientError):
        ParseStage(s3.get, s3.put, io=IOBounds(threads=4)).handle_batch(records)
    assert running == []
