"""The parser's fast paths are the stdlib's results, proven by comparison.

- ``split`` (bytes-level MIME splitter) builds the same compat32 tree as
  ``email.message_from_bytes``, or declines (None), on the golden corpus, benchmark-shaped mail
  and thousands of mutations of both (LF and CRLF);
- ``fast_unstructured`` and ``fast_mailboxes`` give what policy.default's header registry gives
  (after the parser's normalisation), or decline, on generated values full of edge cases;
- the whole parse with the fast splitter equals the parse without it.
"""

from __future__ import annotations

import base64
import email
import email.utils
import random
import sys
from email import policy
from email.header import Header
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from mailpipe.common.messages import Sighting
from mailpipe.parser import bodies, headers, tree
from mailpipe.parser.addresses import fast_mailboxes
from mailpipe.parser.headers import collapse, fast_unstructured, repair
from mailpipe.parser.mime import parse_email
from mailpipe.parser.split import split

from tests.golden.parser.golden import eml_files

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import _common  # noqa: E402

SEEDS = [p.read_bytes() for p in eml_files()]
BENCH = _common.small_corpus(60) + [_common.message(random.Random(n), n, attachment_bytes=3000 + n * 50)
                                    for n in range(30)]
SIGHTING = Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1)
_INSERTS = [b"\r\n", b"\r\n\r\n", b"--", b"=?utf-8?b?", b"\x00", b":", b"\r", b" ", b"\t", b"--x--", b"\r\n--",
            b"\n", b"Content-Type: multipart/mixed; boundary=q\r\n", b"\xff\xfe", b"From x\r\n", b"--\r\n"]


def _signature(msg: Message, kept: tree.Tree | None = None) -> Any:
    """Everything the feed parser decides; with ``kept``, leaf payloads left in the raw bytes are
    read back through it (as the parser reads them)."""
    payload = msg._payload
    if kept is not None and isinstance(payload, str):
        payload = kept.payload_bytes(msg).decode("ascii", "surrogateescape")
    return (msg._headers, msg._unixfrom, msg.preamble, msg.epilogue, msg.get_default_type(),
            [type(d).__name__ for d in msg.defects], msg.policy is policy.compat32,
            [_signature(p, kept) for p in payload] if isinstance(payload, list) else payload)


def _mutate(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        if not data:
            break
        at = rng.randrange(len(data))
        kind = rng.choice(["truncate", "flip", "drop_boundary", "repeat_headers", "insert", "delete", "dup_line"])
        if kind == "truncate":
            del data[at:]
        elif kind == "flip":
            data[at] = rng.randrange(256)
        elif kind == "drop_boundary":
            data = bytearray(bytes(data).replace(b"\n--", b"\n", 1))
        elif kind == "repeat_headers":
            head, sep, body = bytes(data).partition(b"\r\n\r\n")
            data = bytearray(head + b"\r\n" + head + sep + body)
        elif kind == "insert":
            data[at:at] = rng.choice(_INSERTS)
        elif kind == "dup_line":
            lines = bytes(data).split(b"\r\n")
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            data = bytearray(b"\r\n".join(lines))
        else:
            del data[at:at + rng.randint(1, 64)]
    out = bytes(data)
    return out.replace(b"\r\n", b"\n") if rng.random() < 0.3 else out


def _samples(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    base = SEEDS + BENCH
    return base + [b.replace(b"\r\n", b"\n") for b in base] + [_mutate(rng, rng.choice(base)) for _ in range(count)]


def test_split_builds_the_stdlib_tree_or_declines() -> None:
    built = kept_runs = 0
    for raw in _samples(3000, 4):
        fast = split(raw)
        if fast is None:
            continue
        built += 1
        expected = _signature(email.message_from_bytes(raw, policy=policy.compat32))
        assert _signature(fast) == expected, raw[:300]
        runs: list[tuple[int, int]] = []
        kept = split(raw, runs)
        assert kept is not None
        assert _signature(kept, tree.Tree(kept, raw, runs)) == expected, raw[:300]
        kept_runs += bool(runs)
    assert built > 1000  # most well-formed mail takes the fast path
    assert kept_runs > 20  # and large base64 bodies stay in the raw bytes


@pytest.mark.parametrize("raw", [
    b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n\r\n--b \t\r\nX: 1\r\n\r\none\r\n"
    b"--b\r\n\r\ntwo\r\n\r\n--b--  \r\nepi\r\n",
    b"From: a@b.example\nContent-Type: multipart/mixed; boundary=\"b c\"\n\n--b c\nContent-Type: multipart/"
    b"alternative; boundary=i\n\n--i\n\nx\n--i--\nouter epilogue\n--b c\n\n\n--b c--",
    b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--bb\r\n--b--",
    b"Subject: =?utf-8?q?x?=\r\n \r\n\tcontinued\r\nX-Empty:\r\n\r\nbody without line end",
])
def test_split_on_edges_of_the_grammar(raw: bytes) -> None:
    fast = split(raw)
    assert fast is not None
    assert _signature(fast) == _signature(email.message_from_bytes(raw, policy=policy.compat32))


@pytest.mark.parametrize("raw", [
    b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\nx\r\n--b--\r\n",
    b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n",  # no close
    b"From: a@b.example\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\ny\r\n",
    b"From: a@b.example\r\nbad header line\r\n\r\nx",
    b"From: a@b.example\r\nSubject: mixed line ends\n\r\nx",
    b"From nobody Mon Jan  1 00:00:00 2026\r\nFrom: a@b.example\r\n\r\nx",
])
def test_split_declines_what_the_stdlib_records_defects_for(raw: bytes) -> None:
    assert split(raw) is None


def _encoded_word(rng: random.Random) -> str:
    text = rng.choice(["Chloé Dubois", "山田 太郎", "a", "x y", "=?", "é_", "a?b", " ", "ÅÆØ,<>@\""])
    word = Header(text, rng.choice(["utf-8", "iso-8859-1"]) if text.isascii() or "Å" in text else "utf-8").encode()
    roll = rng.random()
    if roll < 0.15:
        word = word.replace("utf-8", rng.choice(["UTF-8", "bogus", "utf-8*en", "us-ascii"]), 1)
    elif roll < 0.3:
        word = "=?utf-8?q?" + rng.choice(["=C3=A9", "a_b", "=3D", "=ZZ", "=", "a=3", "=C3", "=e9", "x"]) + "?="
    elif roll < 0.4:
        word = "=?utf-8?b?" + rng.choice(["w6k=", "w6k", "w6", "=w6k", "w6k==", "!!!!", "YQ=="]) + "?="
    return word


_ATOMS = ["Bob", "Jo.", "J.R.R.", ".x", "a.b", "Zoë", "山田", "O'Neil", "x=y", "a?b", "=?", "?=", "=?x", "\x00",
          "q!#$%&*+/^_`{|}~-", "\xa0", "a\u2028b", "é"]
_QUOTED = ['"Jo  Bo"', '"O\'Neil, Pat"', '""', '" lead"', '"a (b) c"', '"a<b>@c"', '"=?utf-8?q?x?="', '"a\\"b"',
           '"Zoë, Å"', '"a;b:c"', '"\t"']
_LOCALS = ["a", "A.b", "x+y", "a..b", ".a", "a.", "q=?x", "o'n", '"q s"', "é"]
_DOMAINS = ["b.example", "B.Example", "x", "[1.2.3.4]", "a..b", "-a.b", "a_b.c"]


def _space(rng: random.Random) -> str:
    return rng.choice([" ", "  ", "\t", " \t ", "", " ", " \xa0"])


def _address_list(rng: random.Random) -> str:
    def mailbox() -> str:
        addr = rng.choice(_LOCALS) + rng.choice(["@", "@", "@", "@@", ""]) + rng.choice(_DOMAINS)
        if rng.random() < 0.3:
            return _space(rng) + addr + _space(rng)
        words = [rng.choice(_ATOMS) if rng.random() < 0.35 else rng.choice(_QUOTED) if rng.random() < 0.4
                 else _encoded_word(rng) for _ in range(rng.randint(0, 3))]
        return (_space(rng) + _space(rng).join(words) + _space(rng) + "<" + rng.choice(["", "", " "]) + addr + ">"
                + _space(rng) + rng.choice(["", "", "(c)"]))
    value = rng.choice([",", ", ", " ,"]).join(mailbox() for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.1:
        value = rng.choice(["Grp: ", ", ", ""]) + value + rng.choice([";", ",", ""])
    return value


def _unstructured(rng: random.Random) -> str:
    return "".join(rng.choice([_encoded_word(rng), " ", "  ", "\t", "abc", "x=?y", "=?", "?=", "é", "\xa0", "\x01",
                               "a=?utf-8?q?x?=", _encoded_word(rng) + "x"]) for _ in range(rng.randint(1, 6)))


def test_fast_header_decoders_give_what_the_registry_gives() -> None:
    rng = random.Random(7)
    decided = 0
    for _ in range(6000):
        value = _address_list(rng)
        got = fast_mailboxes(value)
        if got is not None:
            decided += 1
            header = policy.default.header_fetch_parse("To", value)
            expected = [(collapse(repair(a.display_name)), repair(a.addr_spec)) for a in header.addresses]
            assert [(collapse(d), a) for d, a in got] == expected, value
        value = _unstructured(rng)
        text = fast_unstructured(value)
        if text is not None:
            decided += 1
            assert collapse(text) == collapse(repair(str(policy.default.header_fetch_parse("Subject", value)))), value
    assert decided > 1500


def test_the_parse_with_the_fast_splitter_equals_the_parse_without(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = _samples(400, 5)
    fast = [_parsed(raw) for raw in samples]
    monkeypatch.setattr(tree, "split", lambda raw, runs=None: None)
    slow = [_parsed(raw) for raw in samples]
    for raw, a, b in zip(samples, fast, slow, strict=True):
        assert a == b, raw[:300]


def _parsed(raw: bytes) -> Any:
    try:
        return parse_email(raw, SIGHTING, sha256="0").model_dump()
    except Exception as exc:  # noqa: BLE001  # the same failure either way is equal too
        return type(exc).__name__, str(exc)


def test_a_large_base64_attachment_still_skips_the_line_parser() -> None:
    data = bytes(range(256)) * 400
    raw = (b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n"
           b"\r\nhi\r\n--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(data).replace(b"\n", b"\r\n") + b"--x--\r\n")
    parsed = parse_email(raw, SIGHTING, sha256="0")
    assert [a.size_bytes for a in parsed.attachments] == [len(data)]


def test_control_characters_are_found_in_the_bytes_as_in_the_text() -> None:
    rng = random.Random(3)
    alphabet = [bytes([b]) for b in range(0x80)] + ["é".encode(), "✓".encode(), b"\xff", b"\xc3", b"\r\n"]
    for _ in range(3000):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        for text in (data.decode("utf-8", "replace"), data.decode("ascii", "replace")):
            assert bodies._clean(text, data) == bodies._clean(text)


def test_text_that_reads_like_a_placeholder_is_kept_as_text() -> None:
    base64_lines = (b"QUFB" * 19 + b"\r\n") * 100
    raw = (b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nsee MailpipeRunQ7x0Z\r\n"
           b"--b\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment\r\n\r\n" + base64_lines
           + b"--b--\r\n")
    assert split(raw, []) is None
    parsed = parse_email(raw, SIGHTING, sha256="0")
    assert parsed.text_body == "see MailpipeRunQ7x0Z"
    assert [a.size_bytes for a in parsed.attachments] == [57 * 100]


def test_canonical_dates_are_read_as_parsedate_to_datetime_reads_them() -> None:
    rng = random.Random(5)
    decided = 0
    for _ in range(20000):
        value = " ".join([rng.choice(["Thu,", "Mon,", "Xyz,", "thu,", ""]) + rng.choice(["1", "01", "31", "32", "00"]),
                          rng.choice(["Jan", "Dec", "jan", "Foo"]), rng.choice(["2026", "1969", "0099", "1000", "26"]),
                          ":".join([rng.choice(["00", "23", "24", "9"]), rng.choice(["00", "59", "60"]),
                                    rng.choice(["00", "59", "60", "61"])]),
                          rng.choice(["+0000", "-0000", "+0100", "-0530", "+2400", "+9999", "-0075", "GMT", "+000"])])
        try:
            got: Any = headers._rfc5322_date(value)
        except ValueError:
            got = ValueError
        if got is None:
            continue
        decided += 1
        try:
            expected: Any = email.utils.parsedate_to_datetime(value)
        except ValueError:
            expected = ValueError
        assert got == expected, value
        if got is not ValueError:
            assert got.utcoffset() == expected.utcoffset(), value
    assert decided > 500
