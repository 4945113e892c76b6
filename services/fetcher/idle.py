"""Push: keep an IMAP IDLE connection on the mailbox's first folder and fetch as soon as the
server announces mail. IDLE is re-issued before servers drop it (RFC 2177: clients should
re-issue at least every 29 minutes); the other folders are still read at the poll interval.

Mail that arrives while we are not idling (during a fetch, between two IDLEs) raises no
notification, so every cycle compares the folder's UIDNEXT with the one the last fetch saw."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..common import metrics
from .sources.imap import ImapMailSource

CHECK_SECONDS = 0.5  # how long one idle_check waits: bounds the reaction to stop, lost leases and tools
NEWS = (b"EXISTS", b"RECENT")


def idle_loop(src: ImapMailSource, folder: str, reissue_seconds: float, poll_interval_seconds: float,
              keep_going: Callable[[], bool], sync_folder: Callable[[str], object],
              sync_all: Callable[[], object], uidnext_seen: Callable[[str], int | None]) -> None:
    """Block in IDLE on ``folder`` while ``keep_going()``; call ``sync_folder(folder)`` when the
    folder has mail the last fetch did not see (``uidnext_seen``) and ``sync_all()`` every poll
    interval. Raises MailboxUnavailable when the connection fails."""
    client: Any = src.client
    next_poll = time.monotonic() + poll_interval_seconds
    metrics.IDLE_CONNECTIONS.inc()
    try:
        while keep_going():
            status = src.examine(folder)  # also selects the folder IDLE below watches
            seen = uidnext_seen(folder)
            if seen is None or (status.uidnext or 0) > seen:
                sync_folder(folder)
                continue
            if time.monotonic() >= next_poll:
                sync_all()
                next_poll = time.monotonic() + poll_interval_seconds
                continue
            started = time.monotonic()
            src.call(client.idle)
            news = False
            try:
                while (keep_going() and not news and time.monotonic() - started < reissue_seconds
                       and time.monotonic() < next_poll):
                    news = _announces_mail(src.call(client.idle_check, CHECK_SECONDS))
            finally:
                _, responses = src.call(client.idle_done)
            if news or _announces_mail(responses):
                metrics.IDLE_WAKEUPS.inc()
    finally:
        metrics.IDLE_CONNECTIONS.dec()


def _announces_mail(responses: list[Any]) -> bool:
    return any(isinstance(r, tuple) and len(r) > 1 and r[1] in NEWS for r in responses)

