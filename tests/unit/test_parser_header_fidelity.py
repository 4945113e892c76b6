"""Header fidelity (issue 14, "Mail other parsers read"): three classes of header the parser misread.

1. Raw 8-bit bytes inside an RFC 2047 encoded word (``=?iso-8859-1?Q?Fr<F6>sche?=``, legacy
   mailers): ``policy.default`` decodes the bytes with the word's charset (the registry recovers
   them with ``surrogateescape``); the parser must too, in subjects and display names, next to B
   words, plain words and raw 8-bit text outside the word.
2. ``alice@example.com <bob@example.com>``: RFC 5322 §3.4 makes the angle-addr the mailbox, so
   the address is bob (``policy.default`` reads alice and drops the rest). The text before the
   angle-addr is the display name; a display name carrying another address is a spoofing vector
   and is surfaced as the warning ``display_name_is_address``.
3. White space between adjacent encoded words in a display name: RFC 2047 §6.2 says it is not
   displayed ("C arol Ada ms" is "Carol Adams"). ``policy.default`` drops it in unstructured
   headers but keeps it in phrases (CPython 3.11), so here the RFC decides.

Every case runs with CRLF and LF line ends, through the whole parse.
"""

from __future__ import annotations

import base64
import email
import random
from email import policy
from typing import Any

import pytest
from mailpipe.common.messages import Address, ParsedEmail, Sighting
from mailpipe.parser import addresses, headers
from mailpipe.parser.headers import collapse, repair
from mailpipe.parser.mime import parse_email

SIGHTING = Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1)
EOLS = [pytest.param(b"\r\n", id="crlf"), pytest.param(b"\n", id="lf")]
SPOOF = [("ceo@corp.example", "attacker@evil.example")]
_FIELDS = {"From": "from_", "Sender": "sender", "Reply-To": "reply_to", "To": "to", "Cc": "cc", "Bcc": "bcc"}


def _message(header_lines: list[bytes], eol: bytes) -> bytes:
    """A message with the given header lines (a line may hold ``\\n`` for folding, written with
    ``eol``), a Message-ID and a short body."""
    lines = [line.replace(b"\n", eol) for line in header_lines]
    return eol.join([b"Message-ID: <fidelity@golden.example>", *lines, b"", b"body", b""])


def _parse(raw: bytes) -> ParsedEmail:
    return parse_email(raw, SIGHTING, sha256="0" * 64)


def _parsed_pairs(header: bytes, value: bytes, eol: bytes) -> tuple[bytes, list[tuple[str, str]]]:
    """A message whose ``header`` is ``value``, and the (name, address) pairs parsed from it."""
    raw = _message([header + b": " + value, b"Subject: x"], eol)
    return raw, [(a.name, a.address) for a in getattr(_parse(raw), _FIELDS[header.decode()])]


def _stdlib_pairs(raw: bytes, header: str) -> list[tuple[str, str]]:
    """policy.default's reading, in the parser's normal form."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    return [(collapse(repair(a.display_name)), a.addr_spec.lower()) for a in msg[header].addresses]


def _stdlib_subject(raw: bytes) -> str:
    return collapse(repair(str(email.message_from_bytes(raw, policy=policy.default)["Subject"])))


def _b64(text: str, charset: str = "utf-8") -> bytes:
    return base64.b64encode(text.encode(charset))


# --- 1. Raw 8-bit bytes inside an encoded word --------------------------------------------------

RAW_IN_WORD_SUBJECTS = [
    pytest.param(b"=?iso-8859-1?Q?Fr\xf6sche?=", "Fr\xf6sche", id="q-latin1"),
    pytest.param(b"=?ISO-8859-1?q?Fr\xf6sche_und_Kr\xf6ten?=", "Fr\xf6sche und Kr\xf6ten", id="q-lower-underscores"),
    pytest.param(b"=?windows-1252?Q?Preis_100\x80?=", "Preis 100\u20ac", id="q-cp1252-euro"),
    pytest.param(b"=?iso-8859-2?Q?P\xf8\xedli\xb9?=", "P\u0159\xedli\u0161", id="q-latin2"),
    pytest.param(b"=?koi8-r?Q?\xf0\xd2\xc9\xd7\xc5\xd4?=", "\u041f\u0440\u0438\u0432\u0435\u0442", id="q-koi8r"),
    pytest.param(b"=?euc-jp?Q?\xc6\xfc\xcb\xdc?=", "\u65e5\u672c", id="q-eucjp"),
    pytest.param(b"=?utf-8?Q?Gr\xc3\xbc\xc3\x9fe?=", "Gr\xfc\xdfe", id="q-utf8-raw"),
    pytest.param(b"Re: =?iso-8859-1?Q?Fr\xf6sche?= im Teich", "Re: Fr\xf6sche im Teich", id="plain-words-around"),
    pytest.param(b"=?iso-8859-1?Q?Fr\xf6sche?=\n =?iso-8859-1?Q?_und_Kr\xf6ten?=", "Fr\xf6sche und Kr\xf6ten",
                 id="folded-two-words"),
    pytest.param(b"=?iso-8859-1?Q?Fr\xf6sche?= =?utf-8?B?" + _b64(" \xfcber") + b"?=", "Fr\xf6sche \xfcber",
                 id="next-to-b-word"),
    # RFC 2045 §6.8 (which RFC 2047's B encoding is): characters outside the alphabet are ignored.
    pytest.param(b"=?utf-8?B?RnLD\xa0tnNjaGU=?=", "Fr\xf6sche", id="b-stray-byte"),
    # The bytes outside the word are raw UTF-8 text (read as UTF-8); the word's are Latin-1.
    pytest.param(b"=?iso-8859-1?Q?Fr\xf6sche?= und Kr\xc3\xb6ten", "Fr\xf6sche und Kr\xf6ten", id="raw-utf8-outside"),
]


@pytest.mark.parametrize("eol", EOLS)
@pytest.mark.parametrize(("value", "expected"), RAW_IN_WORD_SUBJECTS)
def test_raw_8bit_bytes_inside_an_encoded_subject_word_are_decoded_with_its_charset(
        value: bytes, expected: str, eol: bytes) -> None:
    raw = _message([b"From: a@example.com", b"Subject: " + value], eol)
    parsed = _parse(raw)
    assert parsed.subject == expected
    if b"Kr\xc3\xb6ten" not in value:  # policy.default reads raw text outside words as U+FFFD
        assert parsed.subject == _stdlib_subject(raw)


RAW_IN_WORD_NAMES = [
    pytest.param(b"From", b"=?iso-8859-1?Q?J\xf6rg_M\xfcller?= <joerg@example.com>",
                 [("J\xf6rg M\xfcller", "joerg@example.com")], id="from-q"),
    pytest.param(b"To", b"=?utf-8?B?" + _b64("J\xf6rg ") + b"?= =?iso-8859-1?Q?M\xfcller?= <joerg@example.com>, "
                        b"=?koi8-r?Q?\xf0\xc5\xd4\xd2?= <petr@example.com>",
                 [("J\xf6rg M\xfcller", "joerg@example.com"), ("\u041f\u0435\u0442\u0440", "petr@example.com")],
                 id="to-b-and-q-two-mailboxes"),
    pytest.param(b"Cc", b"Team: =?iso-8859-1?Q?Fr\xe9d\xe9ric?= <fred@example.com>, bob@example.com;",
                 [("Fr\xe9d\xe9ric", "fred@example.com"), ("", "bob@example.com")], id="cc-group"),
    pytest.param(b"Reply-To", b'"=?iso-8859-1?Q?J\xf6rg?=" <joerg@example.com>', [("J\xf6rg", "joerg@example.com")],
                 id="reply-to-quoted-word"),
    pytest.param(b"From", b"=?windows-1252?Q?Ren\xe9e_=96_Sales?=\n <renee@example.com>",
                 [("Ren\xe9e \u2013 Sales", "renee@example.com")], id="from-folded-mixed-escapes"),
    pytest.param(b"To", b"Dr. =?iso-8859-1?Q?J\xf6rg?= <joerg@example.com> (work)",
                 [("Dr. J\xf6rg", "joerg@example.com")], id="to-plain-word-and-comment"),
]


@pytest.mark.parametrize("eol", EOLS)
@pytest.mark.parametrize(("header", "value", "expected"), RAW_IN_WORD_NAMES)
def test_raw_8bit_bytes_inside_an_encoded_word_of_a_display_name_are_decoded(
        header: bytes, value: bytes, expected: list[tuple[str, str]], eol: bytes) -> None:
    raw, got = _parsed_pairs(header, value, eol)
    assert got == expected
    assert got == _stdlib_pairs(raw, header.decode())


# --- 2. An address as the display name: the angle-addr is the mailbox -------------------------

ADDRESS_AS_NAME = [
    pytest.param(b"From", b"alice@example.com <bob@example.com>", [("alice@example.com", "bob@example.com")],
                 id="from"),
    pytest.param(b"From", b"ceo@corp.example\n <attacker@evil.example>", SPOOF, id="from-folded"),
    pytest.param(b"Sender", b"ceo@corp.example <Attacker@Evil.example>", SPOOF, id="sender-case"),
    pytest.param(b"To", b"ceo@corp.example <attacker@evil.example>, carol@example.com",
                 [("ceo@corp.example", "attacker@evil.example"), ("", "carol@example.com")], id="to-list"),
    pytest.param(b"Cc", b"Board: ceo@corp.example <attacker@evil.example>, dan@example.com;",
                 [("ceo@corp.example", "attacker@evil.example"), ("", "dan@example.com")], id="cc-group"),
    pytest.param(b"Reply-To", b'"CEO" ceo@corp.example <attacker@evil.example>',
                 [("CEO ceo@corp.example", "attacker@evil.example")], id="reply-to-quoted-then-address"),
    pytest.param(b"Bcc", b"ceo@corp.example (the boss) <attacker@evil.example>",
                 [("ceo@corp.example", "attacker@evil.example")], id="bcc-comment"),
    pytest.param(b"To", b"Carol <carol@example.com>, ceo@corp.example =?utf-8?Q?Z=C3=B6e?= <zoe@evil.example>",
                 [("Carol", "carol@example.com"), ("ceo@corp.example Z\xf6e", "zoe@evil.example")],
                 id="to-second-mailbox-with-encoded-word"),
]


@pytest.mark.parametrize("eol", EOLS)
@pytest.mark.parametrize(("header", "value", "expected"), ADDRESS_AS_NAME)
def test_the_angle_addr_is_the_address_when_the_display_name_is_an_address(
        header: bytes, value: bytes, expected: list[tuple[str, str]], eol: bytes) -> None:
    assert _parsed_pairs(header, value, eol)[1] == expected


SPOOFED = [
    pytest.param("alice@example.com", "bob@example.com", id="unquoted-form"),
    pytest.param("ceo@corp.example", "attacker@evil.example", id="quoted-form"),
    pytest.param("CEO ceo@corp.example", "attacker@evil.example", id="within-words"),
    pytest.param("'ceo@corp.example'", "attacker@evil.example", id="single-quotes"),
    pytest.param("ceo@corp.example.", "ceo@corp.example.evil.example", id="lookalike-suffix"),
]
NOT_SPOOFED = [
    pytest.param("", "bob@example.com", id="no-name"),
    pytest.param("Bob Brown", "bob@example.com", id="plain-name"),
    pytest.param("bob@example.com", "bob@example.com", id="own-address"),
    pytest.param("'Bob@Example.com'", "bob@example.com", id="own-address-outlook-quotes"),
    pytest.param("Bob@Home", "bob@example.com", id="no-domain"),
]


@pytest.mark.parametrize(("name", "address"), SPOOFED)
def test_a_display_name_carrying_another_address_is_a_warning(name: str, address: str) -> None:
    found = addresses.address_warnings([Address(name="x", address="x@example.com"),
                                        Address(name=name, address=address)])
    assert found == {"display_name_is_address"}


@pytest.mark.parametrize(("name", "address"), NOT_SPOOFED)
def test_a_display_name_without_another_address_is_no_warning(name: str, address: str) -> None:
    assert addresses.address_warnings([Address(name=name, address=address)]) == set()


@pytest.mark.parametrize("value", [b"ceo@corp.example <attacker@evil.example>",
                                   b'"ceo@corp.example" <attacker@evil.example>',
                                   b"=?utf-8?Q?ceo@corp.example?= <attacker@evil.example>"])
def test_the_addresses_of_a_spoofed_header_yield_the_warning(value: bytes) -> None:
    msg = email.message_from_bytes(_message([b"From: " + value], b"\r\n"), policy=policy.compat32)
    found = addresses.addresses(msg, "From")
    assert [(a.name, a.address) for a in found] == [("ceo@corp.example", "attacker@evil.example")]
    assert addresses.address_warnings(found) == {"display_name_is_address"}


def test_the_parsed_email_carries_the_warning() -> None:
    parsed = _parse(_message([b"From: ceo@corp.example <attacker@evil.example>", b"Subject: x"], b"\r\n"))
    assert "display_name_is_address" in parsed.warnings


# --- 3. White space between adjacent encoded words of a display name ----------------------------

ADJACENT_WORDS = [
    pytest.param(b"From", b"=?utf-8?Q?C?= =?utf-8?Q?arol?= =?utf-8?Q?_Ada?= =?utf-8?Q?ms?= <carol@example.com>",
                 [("Carol Adams", "carol@example.com")], id="from-q"),
    pytest.param(b"To", b"=?utf-8?B?" + _b64("Car") + b"?= =?utf-8?B?" + _b64("ol Adams") + b"?= <carol@example.com>",
                 [("Carol Adams", "carol@example.com")], id="to-b"),
    pytest.param(b"Cc", b"=?utf-8?Q?C?=\n =?utf-8?Q?arol?=\t=?utf-8?Q?_Adams?= <carol@example.com>",
                 [("Carol Adams", "carol@example.com")], id="cc-folded-and-tab"),
    pytest.param(b"Reply-To", b"=?iso-8859-1?Q?J=F6?= =?utf-8?Q?rg?= Smith <joerg@example.com>",
                 [("J\xf6rg Smith", "joerg@example.com")], id="reply-to-charsets-then-plain-word"),
    pytest.param(b"To", b'=?utf-8?Q?C?= =?utf-8?Q?arol?= "van" =?utf-8?Q?A?= =?utf-8?Q?dams?= <carol@example.com>',
                 [("Carol van Adams", "carol@example.com")], id="to-quoted-word-between"),
    pytest.param(b"Bcc", b"Team: =?utf-8?Q?C?= =?utf-8?Q?arol?= <carol@example.com>, =?utf-8?Q?D?= "
                         b"=?utf-8?Q?an?= <dan@example.com>;",
                 [("Carol", "carol@example.com"), ("Dan", "dan@example.com")], id="bcc-group"),
    pytest.param(b"From", b"=?utf-8?Q?C?= =?utf-8?Q?arol?= <carol@example.com> (work)",
                 [("Carol", "carol@example.com")], id="from-comment-after"),
    pytest.param(b"From", b"=?iso-8859-1?Q?J\xf6?= =?iso-8859-1?Q?rg?= <joerg@example.com>",
                 [("J\xf6rg", "joerg@example.com")], id="from-raw-8bit-words"),
]


@pytest.mark.parametrize("eol", EOLS)
@pytest.mark.parametrize(("header", "value", "expected"), ADJACENT_WORDS)
def test_white_space_between_adjacent_encoded_words_of_a_display_name_is_dropped(
        header: bytes, value: bytes, expected: list[tuple[str, str]], eol: bytes) -> None:
    assert _parsed_pairs(header, value, eol)[1] == expected


# --- The fast decoders still give the registry's reading on values with raw bytes in words ------

_RAW_WORDS = ["=?iso-8859-1?Q?Fr\udcf6sche?=", "=?iso-8859-1?q?\udcf6_\udcfc?=", "=?utf-8?Q?\udcc3\udcb6?=",
              "=?utf-8?Q?\udcf6?=", "=?koi8-r?Q?\udcf0\udcd2?=", "=?utf-8?B?w7\udca0Y=?=", "=?x-unknown?Q?\udcf6?=",
              "=?iso-8859-1?Q?a=\udcf6?=", "=?utf-8?b?w7Y=?=", "=?utf-8?q?=C3=B6?="]


def _raw_value(rng: random.Random) -> str:
    pieces = [*_RAW_WORDS, " ", "  ", "\t", "abc", "Re:", "\udcf6x"]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, 5)))


def test_fast_decoders_read_raw_bytes_in_words_as_the_registry_does() -> None:
    rng = random.Random(14)
    decided = 0
    for _ in range(3000):
        value = headers.repair_outside_words(_raw_value(rng).strip() or "x")  # as the parser prepares values
        text = headers.fast_unstructured(value)
        if text is not None:
            decided += 1
            assert collapse(text) == collapse(str(policy.default.header_fetch_parse("Subject", value))), value
        mailbox = f"{value} <a@example.com>"
        pairs = addresses.fast_mailboxes(mailbox)
        if pairs is not None:
            decided += 1
            expected: Any = [(collapse(a.display_name), a.addr_spec)
                             for a in policy.default.header_fetch_parse("To", mailbox).addresses]
            assert [(collapse(d), a) for d, a in pairs] == expected, mailbox
    assert decided > 1000
