"""What the parser reads for answering (issue 15): the Return-Path an autoresponse goes to (RFC
3834 §4; '' for the null path, never answered) and the Content-Language that picks a template's
translation."""

from __future__ import annotations

import pytest
from mailpipe.common.messages import Sighting
from mailpipe.parser.mime import parse_email

SIGHTING = Sighting(mailbox_id="box", folder="INBOX", uidvalidity=1, uid=1)


def _parse(*header_lines: bytes) -> tuple[str | None, str | None]:
    raw = b"\r\n".join([*header_lines, b"From: a@x.test", b"Subject: hi", b"", b"body"])
    parsed = parse_email(raw, SIGHTING, sha256="0" * 64)
    return parsed.return_path, parsed.content_language


@pytest.mark.parametrize(("line", "expected"), [
    (b"Return-Path: <alice@acme.example>", "alice@acme.example"),
    (b"Return-Path: <>", ""),
    (b"Return-Path:   < bounce+x@mailer.example > ", "bounce+x@mailer.example"),
    (b"Return-Path: plain@acme.example", "plain@acme.example"),
])
def test_return_path(line: bytes, expected: str) -> None:
    assert _parse(line)[0] == expected


def test_no_return_path_is_none_not_null() -> None:
    assert _parse() == (None, None)


@pytest.mark.parametrize(("line", "expected"), [
    (b"Content-Language: de-AT, en", "de-at"),
    (b"Content-Language: pt-BR", "pt-br"),
    (b"Content-Language: ???", None),
    (b"Content-Language: ", None),
])
def test_content_language_first_tag(line: bytes, expected: str | None) -> None:
    assert _parse(line)[1] == expected


def test_an_internal_date_without_an_offset_is_utc() -> None:
    """Fetchers before issue 15 wrote imapclient's naive time; read as UTC it compares with the
    matcher's aware windows (an offset given is kept)."""
    from datetime import UTC, datetime, timedelta, timezone

    from mailpipe.common.rawrecord import RawRecord
    from mailpipe.common.runtime.ports import Record

    def read(value: str) -> datetime | None:
        headers = [("mailbox", b"box"), ("folder", b"INBOX"), ("uidvalidity", b"1"), ("uid", b"1"),
                   ("sha256", b"0" * 64), ("size", b"10"), ("internal-date", value.encode())]
        return RawRecord.from_record(Record("mail.raw", 0, 0, b"k", b"Subject: x\r\n\r\n", headers)).internal_date

    assert read("2026-11-30T09:00:00") == datetime(2026, 11, 30, 9, tzinfo=UTC)
    assert read("2026-11-30T10:00:00+01:00") == datetime(2026, 11, 30, 10, tzinfo=timezone(timedelta(hours=1)))
