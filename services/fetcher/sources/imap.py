"""Read-only IMAP with imapclient: EXAMINE, ``UID SEARCH``, ``BODY.PEEK[]`` in UID batches.

Never changes ``\\Seen``. Library and socket errors become TransientError at this boundary.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...common.errors import TransientError
from ..settings import MailboxSettings


class MailboxUnavailable(TransientError):
    """The mail server failed (refused, timed out, dropped the connection): back off, try later."""


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    size: int
    internal_date: datetime | None
    raw: bytes


class ImapMailSource:
    """One logged-in IMAP connection to a mailbox. Use as a context manager."""

    def __init__(self, box: MailboxSettings, timeout_seconds: float) -> None:
        self.box, self.timeout = box, timeout_seconds
        self._client: Any = None

    def __enter__(self) -> ImapMailSource:
        from imapclient import IMAPClient

        box = self.box
        context = ssl.create_default_context(cafile=box.ca_file) if box.security != "none" else None
        try:
            self._client = IMAPClient(box.host, port=box.effective_port, ssl=box.security == "tls",
                                      ssl_context=context, timeout=self.timeout)
            # imapclient sets imaplib's debug level and routes every protocol line to a logger,
            # formatting each one even when nobody logs it: 4-7x slower on large mail.
            self._client._imap.debug = 0
            if box.security == "starttls":
                self._client.starttls(context)
            self._client.login(box.username, box.password.get_secret_value())
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            raise MailboxUnavailable(f"connecting to {box.host}:{box.effective_port}: {exc}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._client.logout()
        except Exception:  # the connection may already be gone; nothing to save
            pass

    def examine(self, folder: str) -> int:
        """Select ``folder`` read-only; returns its UIDVALIDITY."""
        status = self._call(self._client.select_folder, folder, readonly=True)
        return int(status[b"UIDVALIDITY"])

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid``, ascending. (``N:*`` returns the highest UID even when it is
        below N, so the result is filtered.)"""
        uids = self._call(self._client.search, ["UID", f"{last_uid + 1}:*"])
        return sorted(u for u in uids if u > last_uid)

    def fetch(self, uids: list[int]) -> Iterator[FetchedMessage]:
        """Bodies, sizes and internal dates of ``uids`` in one FETCH, ascending by UID."""
        items = self._call(self._client.fetch, uids, ["BODY.PEEK[]", "RFC822.SIZE", "INTERNALDATE"])
        for uid in sorted(items):
            data = items[uid]
            raw = data.get(b"BODY[]") or b""
            yield FetchedMessage(uid, int(data.get(b"RFC822.SIZE", len(raw))), data.get(b"INTERNALDATE"), raw)

    def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        from imapclient.exceptions import IMAPClientAbortError

        try:
            return fn(*args, **kw)
        except (TimeoutError, OSError, IMAPClientAbortError) as exc:
            raise MailboxUnavailable(f"IMAP {getattr(fn, '__name__', fn)}: {exc}") from exc
