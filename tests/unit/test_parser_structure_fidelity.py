"""MIME structure other readers recover (issue 14, "Mail other parsers read"): one class per
parametrized test, each with the RFC's shape and the variants real mail has. Where
``policy.default`` reads the message right the parse must equal it; where it loses content a
lenient reader (mail clients, compat32) recovers, the parser recovers it too — each such case is
listed in docs/parser.md, "Deliberate differences from policy.default"."""

from __future__ import annotations

import base64
import email
import hashlib
from email import policy
from email.message import EmailMessage

import pytest
from mailpipe.common.messages import ParsedEmail, Sighting
from mailpipe.parser.mime import parse_email

SIGHTING = Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1)
PDF = b"%PDF-1.4 fidelity\n"
PDF64 = base64.b64encode(PDF)
BIG = PDF * 500  # 9,000 bytes: its base64 is a run the fast paths keep in the raw bytes (tree.py)
BIG64 = "\n".join(base64.encodebytes(BIG).decode().split())


def parse(raw: bytes) -> ParsedEmail:
    return parse_email(raw, SIGHTING, sha256="0" * 64)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


def mixed(subject: str, boundary: str) -> str:
    """The top of a multipart/mixed message."""
    return (f"From: a@example.com\nSubject: {subject}\nMIME-Version: 1.0\n"
            f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\n")


def stdlib(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def names(parsed: ParsedEmail) -> list[str]:
    return [a.filename for a in parsed.attachments]


# 1. A leading mbox "From " envelope line (exported .eml, some POP3 servers): the Unix-From line.
MBOX = {
    "mbox-classic": "From alice@example.com Mon Nov 30 10:00:00 2026\nFrom: Alice <alice@example.com>\n"
                    "To: bob@example.com\nSubject: exported\nMessage-ID: <mbox1@example.com>\n\n"
                    "Hello\n>From the mbox quoting, kept as the stdlib keeps it\n",
    "mbox-thunderbird-dash": "From - Mon Nov 30 10:00:00 2026\nX-Mozilla-Status: 0001\nFrom: alice@example.com\n"
                             "Subject: exported\n\nHello\n",
    "mbox-mime": "From MAILER-DAEMON Mon Nov 30 10:00:00 2026\nFrom: alice@example.com\nSubject: exported\n"
                 "MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b\"\n\n--b\n"
                 "Content-Type: text/plain\n\nHello\n--b\nContent-Type: text/html\n\n<p>Hello</p>\n--b--\n",
}


@pytest.mark.parametrize("name", sorted(MBOX))
def test_a_leading_mbox_from_line_is_the_unix_from_line(name: str) -> None:
    raw = crlf(MBOX[name])
    parsed = parse(raw)
    expected = stdlib(raw)
    assert expected.get_unixfrom() is not None
    assert parsed.subject == expected["subject"] == "exported"
    assert [a.address for a in parsed.from_] == ["alice@example.com"]
    body = expected.get_body(("plain",))
    assert body is not None and parsed.text_body == body.get_content().strip().replace("\r\n", "\n")
    if name == "mbox-classic":
        assert parsed.text_body.endswith(">From the mbox quoting, kept as the stdlib keeps it")  # not un-quoted


def test_a_from_line_without_a_header_after_it_is_still_not_mail() -> None:
    from mailpipe.common.errors import PoisonMessage

    with pytest.raises(PoisonMessage):
        parse(crlf("From alice@example.com Mon Nov 30 10:00:00 2026\nHello, this is no header\n"))


# 2. RFC 5322 §4.5.? obs-optional: whitespace between a field name and its colon.
OBSOLETE = {
    "obs-spaces-first-line": "From  : Alice <alice@example.com>\nTo: bob@example.com\nSubject: obsolete\n\nHello\n",
    "obs-tab-subject": "From: Alice <alice@example.com>\nSubject\t: obsolete\nTo : bob@example.com\n\nHello\n",
    "obs-after-mbox-line": "From alice@example.com Mon Nov 30 10:00:00 2026\nFrom : alice@example.com\n"
                           "Subject   :   obsolete\n\nHello\n",
    "obs-lf-line-ends": "From: alice@example.com\nSubject :obsolete\n\nHello\n",
}


@pytest.mark.parametrize("name", sorted(OBSOLETE))
def test_whitespace_before_a_colon_is_read_as_the_field(name: str) -> None:
    text = OBSOLETE[name]
    parsed = parse(text.encode() if name.endswith("-lf-line-ends") else crlf(text))
    assert parsed.subject == "obsolete"
    assert [a.address for a in parsed.from_] == ["alice@example.com"]
    assert parsed.text_body == "Hello"
    assert "ObsoleteHeaderDefect" in parsed.defects  # surfaced, as the registry does for obs syntax
    if name == "obs-tab-subject":
        assert [a.address for a in parsed.to] == ["bob@example.com"]


def test_a_colon_inside_a_value_or_the_body_is_not_obsolete_syntax() -> None:
    raw = crlf("From: alice@example.com\nSubject: Re : the point\n\nNote : body text\n")
    parsed = parse(raw)
    assert (parsed.subject, parsed.text_body) == (stdlib(raw)["subject"], "Note : body text")
    assert "ObsoleteHeaderDefect" not in parsed.defects


# 3. An unquoted boundary holding "=" (Outlook Express / Outlook "----=_NextPart_..." unquoted).
def nextpart(boundary: str, ctype: str = "multipart/alternative") -> bytes:
    return crlf(f"From: a@example.com\nSubject: next part\nMIME-Version: 1.0\nContent-Type: {ctype};\n"
                f"\tboundary={boundary}\n\nThis is a multi-part message in MIME format.\n\n"
                f"--{boundary}\nContent-Type: text/plain; charset=us-ascii\n\nplain text\n\n"
                f"--{boundary}\nContent-Type: text/html; charset=us-ascii\n\n<p>html text</p>\n\n--{boundary}--\n")


BOUNDARIES = {
    "nextpart-outlook": "----=_NextPart_000_0001_01D9ABCD.12345678",
    "nextpart-short": "----=_NextPart_000_0001",
    "two-equals": "=_alt=_0042",
}


@pytest.mark.parametrize("name", sorted(BOUNDARIES))
def test_an_unquoted_boundary_with_an_equals_sign_splits_the_parts(name: str) -> None:
    raw = nextpart(BOUNDARIES[name])
    parsed = parse(raw)
    assert parsed.text_body == "plain text"
    assert parsed.html_body == "<p>html text</p>"
    assert parsed.attachments == []
    value = BOUNDARIES[name].encode()
    quoted = parse(raw.replace(b"boundary=" + value, b'boundary="' + value + b'"'))
    assert (parsed.text_body, parsed.html_body, parsed.defects) == (quoted.text_body, quoted.html_body, quoted.defects)


# 4. Inline text parts with a filename (RFC 2183 §2.1: inline parts are shown in place).
def inline_text(part_headers: str, body: str = "the inline text", lead: str = "") -> bytes:
    first = f"--b\nContent-Type: text/plain\n\n{lead}\n" if lead else ""
    return crlf(mixed("inline", "b") +
                f"{first}--b\n{part_headers}\n\n{body}\n--b--\n")


INLINE = {
    "apple-mail-only-part": ("Content-Type: text/plain; charset=us-ascii; name=notes.txt\n"
                             "Content-Disposition: inline; filename=notes.txt", "the inline text", ""),
    "name-only-no-disposition": ("Content-Type: text/plain; name=\"body.txt\"", "the inline text", ""),
    "after-a-body": ("Content-Type: text/plain; name=log.txt\nContent-Disposition: inline; filename=log.txt",
                     "the inline text", "before"),
    "html-inline-named": ("Content-Type: text/html; name=page.html\nContent-Disposition: inline; filename=page.html",
                          "<p>the inline text</p>", ""),
}


@pytest.mark.parametrize("name", sorted(INLINE))
def test_an_inline_text_part_with_a_filename_is_shown_in_place_and_kept_as_a_file(name: str) -> None:
    headers, body, lead = INLINE[name]
    parsed = parse(inline_text(headers, body, lead))
    assert "the inline text" in (parsed.text_body + parsed.html_body)
    if lead:
        assert parsed.text_body == "before\nthe inline text"  # in place: in the order of the parts
    named = [a for a in parsed.attachments if a.filename != "part-1.txt"]
    assert [(a.disposition, a.size_bytes) for a in named] == [("inline", len(body))]


def test_a_text_part_marked_attachment_stays_out_of_the_body() -> None:
    parsed = parse(inline_text("Content-Type: text/plain; name=a.txt\nContent-Disposition: attachment; filename=a.txt",
                               "file text", "the body"))
    assert parsed.text_body == "the body"
    assert names(parsed) == ["a.txt"]


# 5a. base64 of invalid length (one character too many after the last whole quad).
def with_attachment(part_headers: str, body: str, ctype: str = "application/pdf") -> bytes:
    return crlf(mixed("file", "b") +
                f"--b\nContent-Type: text/plain\n\nsee the file\n--b\nContent-Type: {ctype}\n{part_headers}\n\n"
                f"{body}\n--b--\n")


BASE64_LENGTH = {
    "one-extra-character": PDF64.decode() + "A",
    "extra-after-whole-quads": PDF64.decode().rstrip("=") + "QUJD" + "x",
    "large-run": BIG64 + "Q",  # the run fast path (pybase64) declines it; the bytes are recovered
    "wrapped-lines": "\n".join([PDF64.decode()[:12], PDF64.decode()[12:] + "Z"]),
}


@pytest.mark.parametrize("name", sorted(BASE64_LENGTH))
def test_base64_of_invalid_length_keeps_its_decodable_bytes(name: str) -> None:
    text = BASE64_LENGTH[name]
    raw = with_attachment("Content-Disposition: attachment; filename=a.pdf\nContent-Transfer-Encoding: base64", text)
    parsed = parse(raw)
    (att,) = parsed.attachments
    alphabet = "".join(text.split()).rstrip("=")
    whole = alphabet[: len(alphabet) - len(alphabet) % 4]
    expected = base64.b64decode(whole + "=" * (-len(whole) % 4)) if len(alphabet) % 4 != 1 else base64.b64decode(
        alphabet[:-1] + "=" * (-(len(alphabet) - 1) % 4))
    assert att.size_bytes == len(expected)
    assert expected.startswith(PDF[:9])
    assert att.sha256 == hashlib.sha256(expected).hexdigest()
    assert "InvalidBase64LengthDefect" in parsed.defects  # still recorded: the data was damaged


# 5b. A nested multipart that reuses its parent's boundary.
def reused(inner: str = "multipart/alternative", data: str = PDF64.decode()) -> bytes:
    return crlf(mixed("reused", "same") +
                f"--same\nContent-Type: {inner}; boundary=\"same\"\n\n--same\nContent-Type: text/plain\n\ntext\n"
                "--same\nContent-Type: text/html\n\n<p>html</p>\n--same--\n\n"
                "--same\nContent-Type: application/pdf; name=\"x.pdf\"\nContent-Transfer-Encoding: base64\n\n"
                f"{data}\n--same--\n")


REUSED = {
    "alternative-in-mixed": reused(),
    "related-in-mixed": reused("multipart/related"),
    "no-final-close": reused().removesuffix(b"--same--\r\n"),
    "large-attachment-run": reused(data=BIG64),
}


@pytest.mark.parametrize("name", sorted(REUSED))
def test_a_part_after_a_reused_boundary_is_not_lost(name: str) -> None:
    parsed = parse(REUSED[name])
    assert parsed.text_body == "text"
    assert parsed.html_body == "<p>html</p>"
    assert names(parsed) == ["x.pdf"]
    assert parsed.attachments[0].sha256 == hashlib.sha256(BIG if name == "large-attachment-run" else PDF).hexdigest()


def test_a_delimiter_after_the_close_without_a_reused_boundary_stays_the_epilogue() -> None:
    raw = crlf(mixed("e", "b") +
               "--b\nContent-Type: text/plain\n\ntext\n--b--\n--b\nContent-Type: text/plain\n\nafter\n--b--\n")
    parsed = parse(raw)
    assert parsed.text_body == stdlib(raw).get_body(("plain",)).get_content().strip()  # type: ignore[union-attr]


# 5c. message/external-body (RFC 2046 §5.2.3): a reference, no content.
def external(access: str) -> bytes:
    return crlf(mixed("external", "b") +
                f"--b\nContent-Type: text/plain\n\nsee the link\n--b\nContent-Type: message/external-body; {access}\n\n"
                "Content-Type: application/zip\nContent-ID: <big@example.com>\n\n--b--\n")


EXTERNAL = {
    "url": 'access-type=URL; URL="http://example.com/big.zip"',
    "anon-ftp": 'access-type=anon-ftp; site="ftp.example.com"; directory="pub"; name="big.zip"',
    "local-file": 'access-type=local-file; name="/u/big.zip"',
}


@pytest.mark.parametrize("name", sorted(EXTERNAL))
def test_an_external_body_is_a_reference_not_an_empty_file(name: str) -> None:
    parsed = parse(external(EXTERNAL[name]))
    assert parsed.text_body == "see the link"
    assert parsed.attachments == []
    assert "external_body" in parsed.warnings


# 5d. An unquoted filename with spaces.
FILENAMES = {
    "content-type-name": ("application/pdf; name=my report.pdf", ""),
    "both-unquoted": ("application/pdf; name=my report.pdf",
                      "Content-Disposition: attachment; filename=my report.pdf\n"),
    "disposition-after-odd-type": ("application/pdf; x-note=(odd)",
                                   "Content-Disposition: attachment; filename=my  report.pdf\n"),
}


@pytest.mark.parametrize("name", sorted(FILENAMES))
def test_an_unquoted_filename_with_spaces_keeps_its_extension(name: str) -> None:
    ctype, headers = FILENAMES[name]
    parsed = parse(with_attachment(headers + "Content-Transfer-Encoding: base64", PDF64.decode(), ctype=ctype))
    assert names(parsed) == ["my report.pdf"]
    assert parsed.attachments[0].size_bytes == len(PDF)
