"""``mailpipe accounts expunge``, and ``accounts overview`` for either protocol.

Registered after ``tools_cli.register_tools``: the overview subcommand defined there reads IMAP
only, so its handler is replaced by one that also reads POP3 accounts (``tools_pop3``)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from .accounts.cli import returning
from .accounts.ops import Ops
from .tools_cli import _overview_lines, _wait_flag


def register_more_tools(accounts: Any) -> None:
    """Add ``expunge``; make ``overview`` work on POP3 accounts too."""
    p = accounts.add_parser("expunge", help="remove a folder's messages already flagged \\Deleted "
                                            "(dry run by default)")
    p.add_argument("id")
    p.add_argument("--folder", required=True)
    p.add_argument("--yes-delete-from-server", dest="confirm", action="store_true",
                   help="really expunge (without it: only report what would be removed)")
    _wait_flag(p)
    p.set_defaults(handler=_expunge)
    accounts.choices["overview"].set_defaults(handler=_overview)


def _expunge(a: argparse.Namespace) -> Any:
    from .expunge import expunge

    return returning(lambda ops: expunge(ops, a.id, a.folder, a.confirm, a.wait_seconds))


def _overview(a: argparse.Namespace) -> Any:
    def show(ops: Ops) -> Any:
        from .tools_pop3 import overview_any

        rows = overview_any(ops, a.id, a.date)
        return [asdict(r) for r in rows] if a.json else list(_overview_lines(a, rows))

    return returning(show)
