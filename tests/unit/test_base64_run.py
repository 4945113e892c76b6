"""The parser decodes a run of base64 lines with pybase64 where it used binascii.a2b_base64: the two
must give the same bytes, or both refuse, on every run the fast path can see (lines of base64
characters, any line length, CRLF or LF, well or badly padded), and the parsed attachment must be
the bytes ``policy.default`` decodes."""

from __future__ import annotations

import base64
import binascii
import email
from email import policy

import pybase64
from hypothesis import given, settings
from hypothesis import strategies as st
from mailpipe.common.messages import Sighting
from mailpipe.parser.mime import parse_email

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _decode(decoder: object, data: bytes) -> bytes | str:
    try:
        return bytes(decoder(data))  # type: ignore[operator]
    except binascii.Error:
        return "refused"


def _lines(body: bytes, width: int, eol: bytes) -> bytes:
    return eol.join(body[i:i + width] for i in range(0, len(body), width)) + eol


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=3000), width=st.integers(1, 200), eol=st.sampled_from([b"\r\n", b"\n"]),
       tail=st.sampled_from(["", "=", "==", "===", "A", "AB", "ABC", "A=", "AB=", "ABC=="]))
def test_pybase64_decodes_every_run_as_a2b_base64(data: bytes, width: int, eol: bytes, tail: str) -> None:
    encoded = base64.b64encode(data).rstrip(b"=") if tail else base64.b64encode(data)
    run = _lines(encoded + tail.encode(), width, eol)
    assert _decode(pybase64.b64decode, run) == _decode(binascii.a2b_base64, run)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=ALPHABET, max_size=400), width=st.integers(1, 100))
def test_pybase64_agrees_on_arbitrary_alphabet_runs(text: str, width: int) -> None:
    run = _lines(text.encode(), width, b"\r\n")
    assert _decode(pybase64.b64decode, run) == _decode(binascii.a2b_base64, run)


def test_a_large_attachment_parses_to_the_bytes_policy_default_decodes() -> None:
    payload = bytes(range(256)) * 400 + b"tail"  # long enough for the fast path (MIN_RUN_BYTES)
    raw = (b"From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
           b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment; filename=x.bin\r\n\r\n"
           + _lines(base64.b64encode(payload), 76, b"\r\n") + b"--b--\r\n")
    stored: dict[str, bytes] = {}
    parsed = parse_email(raw, Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1), sha256="0",
                         store=stored.__setitem__)
    expected = email.message_from_bytes(raw, policy=policy.default).get_payload(1).get_payload(decode=True)
    assert expected == payload
    assert [a.size_bytes for a in parsed.attachments] == [len(payload)]
    assert list(stored.values()) == [payload]
