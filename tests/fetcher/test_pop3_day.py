"""Pure: the day a POP3 message counts under for overview and purge-server (docs/fetcher.md,
*POP3 accounts*): its Date header as written, else the day it was fetched, else none."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from mailpipe.fetcher.tools_pop3 import message_day

FETCHED = ("published", None, datetime(2026, 11, 2, 23, 59, tzinfo=UTC), "<a@b>")


@pytest.mark.parametrize(("header", "ledger", "day"), [
    (b"Date: Tue, 5 Mar 2024 23:30:00 -0500\r\n\r\n", None, date(2024, 3, 5)),  # as written, not UTC's 6th
    (b"Date: 6 Mar 2024 00:10:00 +0900\r\n\r\n", FETCHED, date(2024, 3, 6)),
    (b"Subject: no date\r\n\r\n", FETCHED, date(2026, 11, 2)),
    (b"Date: yesterday-ish\r\n\r\n", FETCHED, date(2026, 11, 2)),
    (b"Date: yesterday-ish\r\n\r\n", None, None),
    (b"Subject: no date\r\n\r\n", None, None),
])
def test_message_day(header: bytes, ledger: tuple[str, None, datetime, str] | None, day: date | None) -> None:
    assert message_day(header, ledger) == day
