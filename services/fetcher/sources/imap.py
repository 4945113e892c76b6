"""Read-only IMAP through imapclient: EXAMINE, ``UID SEARCH``, sizes before bodies, ``BODY.PEEK[]``.

Nothing here changes ``\\Seen``: folders are opened with EXAMINE and bodies read with
``BODY.PEEK``. Every library and socket error leaves as MailboxUnavailable (see ``connect``).
Methods block on the network for at most the connection's timeout per command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from ..accounts.model import Account
from ..connect import open_imap, translate
from ..errors import MailboxUnavailable
from ..folders import ServerFolder

T = TypeVar("T")


@dataclass(frozen=True)
class FolderStatus:
    uidvalidity: int
    uidnext: int | None
    exists: int


@dataclass(frozen=True)
class MessageInfo:
    """What the server says of a message before its body is read."""

    uid: int
    size: int
    internal_date: datetime | None


class ImapMailSource:
    """One logged-in IMAP connection. Use as a context manager; not thread-safe."""

    protocol = "imap"

    def __init__(self, account: Account, secret: str, timeout_seconds: float) -> None:
        self.account, self._secret, self.timeout = account, secret, timeout_seconds
        self.client: Any = None
        self._selected: str | None = None

    def __enter__(self) -> ImapMailSource:
        self.client = open_imap(self.account, self._secret, self.timeout)
        return self

    def sibling(self) -> ImapMailSource:
        """Another logged-in connection to the same mailbox (the caller closes it)."""
        return ImapMailSource(self.account, self._secret, self.timeout).__enter__()

    def reopen(self) -> None:
        """A new session on the same folder (servers close the connection after failing a FETCH)."""
        self.__exit__()
        self.client = open_imap(self.account, self._secret, self.timeout)
        if self._selected is not None:
            self.examine(self._selected)

    def __exit__(self, *exc: object) -> None:
        try:
            self.client.logout()
        except Exception:  # the connection is already broken: just release the socket
            try:
                self.client.shutdown()
            except Exception:
                pass

    def folders(self) -> list[ServerFolder]:
        """Every folder with its flags (special-use flags included where the server has them)."""
        rows = self.call(self.client.list_folders)
        delimiter = (rows[0][1] or b"/").decode() if rows else "/"
        return [ServerFolder(name=name, flags=tuple(flags), delimiter=delimiter) for flags, _, name in rows]

    def examine(self, folder: str) -> FolderStatus:
        """Open ``folder`` read-only. Raises MailboxUnavailable("folder_missing") when it is gone."""
        from imapclient.exceptions import IMAPClientError

        try:
            status = self.client.select_folder(folder, readonly=True)
        except IMAPClientError as exc:
            if "nonexistent" in str(exc).lower() or "doesn't exist" in str(exc).lower() or "not exist" in str(exc):
                raise MailboxUnavailable("folder_missing", "folders", f"folder {folder!r} does not exist") from exc
            raise translate(exc, self.account) from exc
        except Exception as exc:
            raise translate(exc, self.account) from exc
        self._selected = folder
        uidnext = status.get(b"UIDNEXT")
        return FolderStatus(int(status[b"UIDVALIDITY"]), int(uidnext) if uidnext else None, int(status[b"EXISTS"]))

    def uidvalidity_of(self, folder: str) -> int | None:
        """UIDVALIDITY by STATUS, without selecting (None when the server does not say)."""
        status = self.call(self.client.folder_status, folder, [b"UIDVALIDITY"])
        value = status.get(b"UIDVALIDITY")
        return int(value) if value is not None else None

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid``, ascending. ``N:*`` returns the highest UID even when it is
        below N, so the answer is filtered."""
        return sorted(u for u in self.call(self.client.search, ["UID", f"{last_uid + 1}:*"]) if u > last_uid)

    def uids_since(self, day: date) -> list[int]:
        """UIDs whose internal date is on or after ``day``, ascending."""
        return sorted(self.call(self.client.search, ["SINCE", day]))

    def uids_on(self, day: date) -> list[int]:
        return sorted(self.call(self.client.search, ["ON", day]))

    def uids_before(self, day: date) -> list[int]:
        return sorted(self.call(self.client.search, ["BEFORE", day]))

    def infos(self, uids: list[int]) -> list[MessageInfo]:
        """Sizes and internal dates (cheap: no bodies), ascending by UID. UIDs expunged meanwhile
        are simply absent."""
        items = self.call(self.client.fetch, uids, ["RFC822.SIZE", "INTERNALDATE"])
        return [MessageInfo(uid, int(items[uid].get(b"RFC822.SIZE", 0)), _aware(items[uid].get(b"INTERNALDATE")))
                for uid in sorted(items)]

    def bodies(self, uids: list[int]) -> dict[int, bytes]:
        """Whole messages, in one FETCH."""
        items = self.call(self.client.fetch, uids, ["BODY.PEEK[]"])
        return {uid: data.get(b"BODY[]") or b"" for uid, data in items.items()}

    def headers(self, uids: list[int]) -> dict[int, bytes]:
        """Header blocks only (for messages over the size limit, and for overviews)."""
        items = self.call(self.client.fetch, uids, ["BODY.PEEK[HEADER]"])
        return {uid: data.get(b"BODY[HEADER]") or b"" for uid, data in items.items()}

    def delete(self, folder: str, uids: list[int]) -> int:
        """Flag ``uids`` deleted and expunge them (UID EXPUNGE where the server has UIDPLUS, so
        nothing else flagged is removed). The only method that writes to the server."""
        self.call(self.client.select_folder, folder, readonly=False)
        self.call(self.client.delete_messages, uids)
        if self.client.has_capability("UIDPLUS"):
            self.call(self.client.uid_expunge, uids)
        else:
            self.call(self.client.expunge)
        self.call(self.client.unselect_folder)
        return len(uids)

    def call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """``fn(*args, **kw)`` on this connection's client, library and socket errors translated
        into MailboxUnavailable."""
        try:
            return fn(*args, **kw)
        except MailboxUnavailable:
            raise
        except Exception as exc:
            raise translate(exc, self.account) from exc


def _aware(when: datetime | None) -> datetime | None:
    """imapclient gives INTERNALDATE as naive local time (its normalise_times): the same instant,
    in UTC and aware, so every later comparison is between aware times."""
    if when is None or when.tzinfo is not None:
        return when
    return when.astimezone().astimezone(UTC)
