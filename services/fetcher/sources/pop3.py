"""POP3 with poplib: UIDL for identity, LIST for sizes, RETR for bodies, TOP for headers only.

Mail is left on the server: this source never sends DELE. Errors leave as MailboxUnavailable.
"""

from __future__ import annotations

import hashlib
import poplib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..accounts.model import Account
from ..connect import open_pop3, translate
from ..errors import MailboxUnavailable

T = TypeVar("T")
# poplib refuses lines over 2,048 bytes; real mail (unwrapped HTML, long headers) has them.
poplib._MAXLINE = max(poplib._MAXLINE, 1 << 20)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PopMessage:
    number: int  # the message number of this session only
    uidl: str
    size: int

    @property
    def uid(self) -> int:
        """A stable numeric id for the sighting key: POP3 message numbers change between sessions,
        UIDLs do not, so the uid is derived from the UIDL (60 bits of its SHA-256)."""
        return int(hashlib.sha256(self.uidl.encode()).hexdigest()[:15], 16)


class Pop3MailSource:
    """One logged-in POP3 session. Use as a context manager; QUIT on exit."""

    protocol = "pop3"

    def __init__(self, account: Account, secret: str, timeout_seconds: float) -> None:
        self.account, self._secret, self.timeout = account, secret, timeout_seconds
        self.pop: poplib.POP3 | None = None

    def __enter__(self) -> Pop3MailSource:
        self.pop = open_pop3(self.account, self._secret, self.timeout)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.pop is not None
        try:
            self.pop.quit()
        except Exception:  # the session is already broken (POP3 changes nothing without DELE)
            try:
                self.pop.close()
            except Exception:
                pass

    def listing(self) -> list[PopMessage]:
        """Every message on the server, in server order."""
        assert self.pop is not None
        uidls = _pairs(self._call(self.pop.uidl)[1])
        sizes = _pairs(self._call(self.pop.list)[1])
        return [PopMessage(n, uidl, int(sizes.get(n, "0"))) for n, uidl in sorted(uidls.items())]

    def body(self, number: int) -> bytes:
        """The whole message. Raises MailboxUnavailable("message_unreadable") when the server
        answers -ERR for it (the session stays usable)."""
        assert self.pop is not None
        return b"\r\n".join(self._read(self.pop.retr, number)[1]) + b"\r\n"

    def header(self, number: int) -> bytes:
        assert self.pop is not None
        return b"\r\n".join(self._read(self.pop.top, number, 0)[1]) + b"\r\n"

    def _read(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except poplib.error_proto as exc:
            text = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            if text.startswith("-ERR"):
                raise MailboxUnavailable("message_unreadable", "server", f"the server failed a RETR: {text}") from exc
            raise translate(exc, self.account) from exc
        except Exception as exc:
            raise translate(exc, self.account) from exc

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except MailboxUnavailable:
            raise
        except Exception as exc:
            raise translate(exc, self.account) from exc


def _pairs(lines: list[bytes]) -> dict[int, str]:
    out = {}
    for line in lines:
        number, _, value = line.decode("latin-1").partition(" ")
        out[int(number)] = value.strip()
    return out
