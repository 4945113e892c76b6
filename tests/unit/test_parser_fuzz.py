"""Mutated messages never crash the stage: each ends parsed (a valid mail.parsed record) or
dead-lettered with a reason (PoisonMessage). Derandomized, so CI sees the same examples."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mailpipe.common.errors import PoisonMessage
from mailpipe.common.messages import ParsedEnvelope
from mailpipe.common.runtime.ports import Record
from mailpipe.parser.limits import ParseLimits
from mailpipe.parser.stage import ParseStage

from tests.golden.parser.golden import eml_files

SEEDS = [p.read_bytes() for p in eml_files()]
LIMITS = ParseLimits(max_seconds=5.0)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "drop_boundaries", "repeat_headers", "insert", "delete"]))
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        if kind == "truncate":
            del raw[at:]
        elif kind == "flip":
            raw[at] = draw(st.integers(0, 255))
        elif kind == "drop_boundaries":
            raw = bytearray(bytes(raw).replace(b"\n--", b"\n"))
        elif kind == "repeat_headers":
            head, sep, body = bytes(raw).partition(b"\r\n\r\n")
            raw = bytearray(head + b"\r\n" + head * draw(st.integers(1, 3)) + sep + body)
        elif kind == "insert":
            raw[at:at] = draw(st.sampled_from([b"\r\n", b"\r\n\r\n", b"--", b"=?utf-8?b?", b"\x00", b":", b"\r",
                                               b"Content-Type: multipart/mixed; boundary=q\r\n", b"\xff\xfe"]))
        else:
            del raw[at:at + draw(st.integers(1, 64))]
    return bytes(raw)


def _record(raw: bytes) -> Record:
    headers = [("mailbox", b"fuzz"), ("folder", b"INBOX"), ("uidvalidity", b"1"), ("uid", b"1"),
               ("size", str(len(raw)).encode()), ("sha256", hashlib.sha256(raw).hexdigest().encode())]
    return Record("mail.raw", 0, 0, b"k", raw, headers)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_messages_end_parsed_or_dead_lettered(raw: bytes) -> None:
    stored: dict[str, bytes] = {}
    try:
        [out] = ParseStage(lambda key: b"", stored.__setitem__, LIMITS).handle(_record(raw))
    except PoisonMessage as exc:
        assert exc.reason  # dead-lettered, with a reason token
        return
    envelope = ParsedEnvelope.model_validate_json(out.value or b"")  # a valid record, JSON-clean
    assert envelope.payload.size_bytes == len(raw)
    for key, data in stored.items():
        assert key.endswith(hashlib.sha256(data).hexdigest())


def test_a_nul_in_a_charset_name_is_an_unknown_charset_not_a_crash() -> None:
    """Found by the test above: codecs.lookup raises ValueError (not LookupError) for a NUL."""
    raw = (b"From: a@acme.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=\"\x00UTF-8\"\r\n\r\nHi Bob\r\n")
    [out] = ParseStage(lambda key: b"", lambda key, data: None, LIMITS).handle(_record(raw))
    assert "Hi Bob" in ParsedEnvelope.model_validate_json(out.value or b"").payload.text_body
