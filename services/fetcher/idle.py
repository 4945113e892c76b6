"""Push: keep an IMAP IDLE connection on the mailbox's first folder and fetch as soon as the
server announces mail. IDLE is re-issued before servers drop it (RFC 2177: clients should
re-issue at least every 29 minutes); the other folders are still read at the poll interval."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..common import metrics
from .connect import translate
from .errors import MailboxUnavailable
from .sources.imap import ImapMailSource

CHECK_SECONDS = 0.5  # how long one idle_check waits: bounds the reaction to stop and lost leases


def idle_loop(src: ImapMailSource, folder: str, reissue_seconds: float, poll_interval_seconds: float,
              keep_going: Callable[[], bool], sync_folder: Callable[[str], object],
              sync_all: Callable[[], object]) -> None:
    """Block in IDLE on ``folder`` while ``keep_going()``; call ``sync_folder(folder)`` on news and
    ``sync_all()`` every poll interval. Raises MailboxUnavailable when the connection fails."""
    client: Any = src.client
    src.examine(folder)
    next_poll = time.monotonic() + poll_interval_seconds
    while keep_going():
        started = time.monotonic()
        _call(src, client.idle)
        news = False
        try:
            while keep_going() and time.monotonic() - started < reissue_seconds and not news:
                responses = _call(src, client.idle_check, CHECK_SECONDS)
                news = any(isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)
                if time.monotonic() >= next_poll:
                    break
        finally:
            _call(src, client.idle_done)
        if news:
            metrics.IDLE_WAKEUPS.inc()
            sync_folder(folder)
        if time.monotonic() >= next_poll:
            sync_all()
            next_poll = time.monotonic() + poll_interval_seconds
        src.examine(folder)


def _call(src: ImapMailSource, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except MailboxUnavailable:
        raise
    except Exception as exc:
        raise translate(exc, src.account) from exc
