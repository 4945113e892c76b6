"""``mailpipe sender status|resume``: which mailboxes may send, why one stopped, what waits."""

from __future__ import annotations

import argparse
from typing import Any

from ..common import clients
from ..common.settings import PostgresSettings, ServiceSettings, load
from . import ledger


class _Settings(ServiceSettings):
    postgres: PostgresSettings


def add_sender(p: argparse.ArgumentParser) -> None:
    """The ``sender`` subcommand's arguments."""
    actions = p.add_subparsers(dest="action", required=True)
    s = actions.add_parser("status", help="every mailbox that sent or tried: stopped (field, reason), held, "
                           "deferred, sent")
    s.set_defaults(handler=lambda a: _with_conn(ledger.mailbox_states))
    r = actions.add_parser("resume", help="let a stopped mailbox send again (its held mail goes out on the "
                           "next retry); changing its account with `mailpipe accounts set` does the same")
    r.add_argument("mailbox_id")
    r.set_defaults(handler=lambda a: _with_conn(lambda c: {"mailbox": a.mailbox_id,
                                                           "resumed": ledger.resume(c, a.mailbox_id)}))


def _with_conn(fn: Any) -> Any:
    settings = load(_Settings)
    with clients.connect_postgres(settings.postgres, autocommit=True) as conn:
        return fn(conn)



