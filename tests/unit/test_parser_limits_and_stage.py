"""The parser's limits, the stage's record handling, and the fast path's equivalence with
``policy.default``."""

from __future__ import annotations

import base64
import email
import hashlib
import json
from email import policy

import pytest
from mailpipe.common.errors import PoisonMessage
from mailpipe.common.messages import Sighting
from mailpipe.common.runtime.ports import Record
from mailpipe.parser.attachments import sanitize_filename
from mailpipe.parser.limits import ParseLimits
from mailpipe.parser.mime import parse_email
from mailpipe.parser.stage import ParseStage
from mailpipe.parser.tree import parse_tree

SIGHTING = Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1)


def _nested(depth: int) -> bytes:
    head = b"From: a@b.example\r\n"
    body = b"text\r\n"
    for level in range(depth):
        b = f"b{level}".encode()
        body = (b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n" + body
                + b"\r\n--" + b + b"--\r\n")
    return head + body


def _many_parts(count: int) -> bytes:
    parts = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(count))
    return b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n" + parts + b"--p--\r\n"


def _attachment(*datas: bytes) -> bytes:
    files = b"".join(b"--x\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
                     b"filename=\"d.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                     + base64.encodebytes(data).replace(b"\n", b"\r\n") for data in datas)
    return (b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
            b"Content-Type: text/plain\r\n\r\nhi\r\n" + files + b"--x--\r\n")


@pytest.mark.parametrize(("raw", "limits", "reason"), [
    (_many_parts(30), ParseLimits(max_parts=20), "too_many_parts"),
    (_nested(8), ParseLimits(max_depth=5), "too_deep"),
    (_nested(3000), ParseLimits(max_depth=5, max_parts=10_000), "too_deep"),
    (_attachment(b"\x00" * 30_000), ParseLimits(max_decoded_bytes=10_000), "decoded_too_large"),
    (_attachment(b"\x00" * 30_000), ParseLimits(max_message_bytes=10_000), "too_large"),
    (_many_parts(5), ParseLimits(max_seconds=0.0), "too_slow"),
    (b"".join(b"Received: from relay%d.example\r\n" % i for i in range(5000)) + b"\r\nbody\r\n",
     ParseLimits(max_header_bytes=64 * 1024), "headers_too_large"),
])
def test_past_a_limit_the_message_is_poison_with_the_reason(raw: bytes, limits: ParseLimits, reason: str) -> None:
    with pytest.raises(PoisonMessage) as info:
        parse_email(raw, SIGHTING, sha256="0", limits=limits)
    assert info.value.reason == reason


def test_within_the_limits_the_same_messages_parse() -> None:
    assert len(parse_email(_many_parts(30), SIGHTING, sha256="0").text_body.split()) == 30
    assert parse_email(_nested(8), SIGHTING, sha256="0").text_body == "text"
    assert parse_email(_attachment(b"\x00" * 30_000), SIGHTING, sha256="0").attachments[0].size_bytes == 30_000
    # a small header block over a large body is fine, whatever the body holds
    big_body = b"From: a@b.example\r\nSubject: s\r\n\r\n" + b"x" * 200_000
    assert parse_email(big_body, SIGHTING, sha256="0", limits=ParseLimits(max_header_bytes=1024)).subject == "s"


def _record(raw: bytes, **extra: str) -> Record:
    headers = [("mailbox", b"mbx"), ("folder", b"INBOX"), ("uidvalidity", b"7"), ("uid", b"42"),
               ("size", str(len(raw)).encode()), ("sha256", hashlib.sha256(raw).hexdigest().encode())]
    headers += [(k.replace("_", "-"), v.encode()) for k, v in extra.items()]
    return Record("mail.raw", 0, 5, b"k", raw, headers)


def test_stage_emits_a_header_only_record_as_parsed_mail_without_body() -> None:
    head = b"Message-ID: <big@x.example>\r\nFrom: A <a@x.example>\r\nSubject: huge\r\n\r\n"
    stored: dict[str, bytes] = {}
    record = _record(head, fetch_outcome="headers_only", fetch_reason="over_size_limit")
    [out] = ParseStage(lambda key: b"", stored.__setitem__).handle(record)
    payload = json.loads(out.value or b"")["payload"]
    assert (payload["fetch_outcome"], payload["truncated_reason"]) == ("headers_only", "over_size_limit")
    assert payload["subject"] == "huge" and payload["attachments"] == [] and payload["text_body"] == ""
    assert out.key == b"mbx" and not stored


def test_stage_stores_attachments_only_after_the_whole_message_parsed() -> None:
    stored: dict[str, bytes] = {}
    stage = ParseStage(lambda key: b"", stored.__setitem__, ParseLimits(max_decoded_bytes=50_000))
    with pytest.raises(PoisonMessage):
        stage.handle(_record(_attachment(b"\x01" * 20_000, b"\x02" * 40_000)))
    assert not stored  # nothing orphaned in S3 by a dead-lettered message
    stage.handle(_record(_attachment(b"\x01" * 20_000)))
    assert list(stored.values()) == [b"\x01" * 20_000]


@pytest.mark.parametrize(("headers", "reason"), [
    ({"claim_check": "raw/sha256/00/gone"}, "claim_check_missing"),
    ({"internal_date": "not a date"}, "bad_header"),
])
def test_stage_dead_letters_unusable_records(headers: dict[str, str], reason: str) -> None:
    def missing(key: str) -> bytes:
        raise KeyError(key)

    with pytest.raises(PoisonMessage) as info:
        ParseStage(missing).handle(_record(b"From: a@b.example\r\n\r\nx", **headers))
    assert info.value.reason == reason


def test_missing_record_header_is_poison() -> None:
    record = Record("mail.raw", 0, 0, b"k", b"From: a@b.example\r\n\r\nx", [("mailbox", b"m")])
    with pytest.raises(PoisonMessage) as info:
        ParseStage(lambda key: b"").handle(record)
    assert info.value.reason == "missing_header"


@pytest.mark.parametrize("data", [bytes(range(256)) * 64, b"\xff" * 10_001, b"ab" * 4000 + b"c"])
@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_fast_path_decodes_exactly_as_policy_default(data: bytes, eol: bytes) -> None:
    raw = _attachment(data).replace(b"\r\n", eol)
    reference = email.message_from_bytes(raw, policy=policy.default)
    expected = [p.get_payload(decode=True) for p in reference.walk() if not p.is_multipart()]
    tree = parse_tree(raw, ParseLimits())
    assert tree.runs, "the attachment should take the fast path"
    from mailpipe.parser.limits import Budget
    from mailpipe.parser.tree import walk

    got = [tree.decoded(p, Budget(ParseLimits())) for p in walk(tree.root) if not p.is_multipart()]
    assert got == expected


def test_filenames_are_made_safe() -> None:
    assert sanitize_filename("../../etc/passwd", "text/plain", 1) == "passwd"
    assert sanitize_filename("a\x00b\u202ec.txt", "text/plain", 1) == "a_b_c.txt"
    assert sanitize_filename("", "image/png", 3) == "part-3.png"
    assert sanitize_filename(None, "application/x-unknown-thing", 4) == "part-4.bin"
    long = sanitize_filename("é" * 300 + ".pdf", "application/pdf", 1)
    assert long.endswith(".pdf") and len(long.encode()) <= 200
