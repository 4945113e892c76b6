"""The operator tools as ``mailpipe accounts <tool>`` subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import date
from typing import Any

from .accounts.cli import returning
from .accounts.ops import Ops
from .leases import HANDOVER_WAIT_SECONDS


def register_tools(accounts: Any) -> None:
    """Add reload, reindex, overview, purge-server, expunge, subscribe, unsubscribe and download."""
    p = accounts.add_parser("reload", help="forget what was read: everything is read again (no duplicates downstream)")
    p.add_argument("id")
    p.set_defaults(handler=lambda a: _run(lambda ops, t: t.reload(ops, a.id)))
    p = accounts.add_parser("reindex", help="publish a folder's fetched mail again so it is matched anew")
    p.add_argument("id")
    p.add_argument("--folder", default="INBOX")
    p.add_argument("--uid", type=int, action="append", help="only this UID (repeatable): replay a dead letter")
    _wait_flag(p)
    p.set_defaults(handler=lambda a: _run(lambda ops, t: t.reindex(ops, a.id, a.folder, a.uid, a.wait_seconds)))
    p = accounts.add_parser("overview", help="what the server had on a day, and what happened to each message")
    p.add_argument("id")
    p.add_argument("--date", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_overview)
    p = accounts.add_parser("purge-server", help="delete old, imported mail from the server (dry run by default)")
    p.add_argument("id")
    p.add_argument("--older-than-months", type=int, required=True)
    p.add_argument("--yes-delete-from-server", dest="confirm", action="store_true",
                   help="really delete (without it: only report what would be deleted)")
    _wait_flag(p)
    p.set_defaults(handler=lambda a: _run(lambda ops, t: t.purge_server(ops, a.id, a.older_than_months, a.confirm,
                                                                        wait_seconds=a.wait_seconds)))
    p = accounts.add_parser("expunge", help="remove a folder's messages already flagged \\Deleted (dry run by default)")
    p.add_argument("id")
    p.add_argument("--folder", required=True)
    p.add_argument("--yes-delete-from-server", dest="confirm", action="store_true",
                   help="really expunge (without it: only report what would be removed)")
    _wait_flag(p)
    p.set_defaults(handler=_expunge)
    for name, on in (("subscribe", True), ("unsubscribe", False)):
        p = accounts.add_parser(name, help=f"{'read' if on else 'stop reading'} a folder on every run")
        p.add_argument("id")
        p.add_argument("folder")
        p.set_defaults(handler=lambda a, on=on: _run(lambda ops, t: t.subscribe(ops, a.id, a.folder, on)))
    p = accounts.add_parser("download", help="read one folder once, now")
    p.add_argument("id")
    p.add_argument("folder")
    _wait_flag(p)
    p.set_defaults(handler=lambda a: _run(lambda ops, t: t.download(ops, a.id, a.folder, a.wait_seconds)))


def _wait_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait-seconds", type=float, default=HANDOVER_WAIT_SECONDS,
                   help="how long a replica holding the mailbox may take to hand it over "
                        f"(default {HANDOVER_WAIT_SECONDS:g})")


def _run(fn: Any) -> Any:
    """What the tool returned, for the CLI to print (None: nothing to print)."""
    from . import tools

    return returning(lambda ops: fn(ops, tools))


def _overview(a: argparse.Namespace) -> Any:
    def show(ops: Ops, tools: Any) -> Any:
        from dataclasses import asdict

        from .tools_pop3 import overview_any  # IMAP or POP3, as the account says

        rows = overview_any(ops, a.id, a.date)
        return [asdict(r) for r in rows] if a.json else list(_overview_lines(a, rows))

    return _run(show)


def _expunge(a: argparse.Namespace) -> Any:
    from .expunge import expunge

    return returning(lambda ops: expunge(ops, a.id, a.folder, a.confirm, a.wait_seconds))


def _overview_lines(a: argparse.Namespace, rows: list[Any]) -> Iterator[str]:
    yield f"{len(rows)} message(s) on {a.date} in {a.id}"
    for r in rows:
        yield (f"  {r.folder:<16} uid {r.uid:<7} {r.size:>9} B  {r.sender[:30]:<30}  {r.subject[:40]:<40}  "
               f"{r.what_happened}")
