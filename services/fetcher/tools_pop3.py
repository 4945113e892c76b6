"""The reference 000 tools on POP3 accounts: overview by date and delete old mail.

POP3 keeps no dates on the server (no INTERNALDATE, no SEARCH), so a message's day is the date
written in its own ``Date:`` header, read with ``TOP n 0`` (headers only, nothing is marked): the
day as written, its time and zone disregarded, as IMAP's SENTON/SENTBEFORE do (RFC 3501 §6.4.4).
A message without a readable ``Date:`` takes the day mailpipe fetched it (the ledger's
``fetched_at``, UTC); one without either has no day and is neither shown nor deleted.

Every POP3 message is a sighting in folder INBOX, UIDVALIDITY 0, uid derived from its UIDL
(``PopMessage.uid``), so the fetch ledger says which UIDLs mailpipe imported. Blocks on POP3 and
PostgreSQL (and Kafka, for the overview's dead letters)."""

from __future__ import annotations

import poplib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from typing import Any

from . import checkpoint, downstream, leases
from .accounts.ops import Ops
from .checkpoint import LedgerRow
from .connect import translate
from .credentials import login_secret
from .overview import OverviewRow, facts_of, overview_row
from .sources.pop3 import Pop3MailSource, PopMessage

FOLDER, UIDVALIDITY = "INBOX", 0  # where the POP3 source puts every sighting


@contextmanager
def pop3_of(ops: Ops, mailbox_id: str) -> Iterator[Pop3MailSource]:
    """A logged-in session of the POP3 account ``mailbox_id`` (QUIT on exit)."""
    stored = ops.stored(mailbox_id)
    timeout = ops.settings.fetch.timeout_seconds
    secret = login_secret(ops.conn, ops.box, stored.account, stored.sealed_secrets, timeout)
    with Pop3MailSource(stored.account, secret, timeout) as src:
        yield src


def message_day(header: bytes, ledger: LedgerRow | None) -> date | None:
    """Pure: the day of a message — its ``Date:`` as written, else the day it was fetched."""
    value = BytesHeaderParser(policy=default_policy).parsebytes(header).get("Date")
    try:
        return parsedate_to_datetime(str(value)).date() if value else _fetched_day(ledger)
    except (TypeError, ValueError, IndexError):
        return _fetched_day(ledger)


def _fetched_day(ledger: LedgerRow | None) -> date | None:
    return ledger[2].date() if ledger else None


def _dated(src: Pop3MailSource, ledger: dict[int, LedgerRow]) -> Iterator[tuple[PopMessage, bytes, date | None]]:
    for m in src.listing():
        head = src.header(m.number)
        yield m, head, message_day(head, ledger.get(m.uid))


def purge_pop3(ops: Ops, mailbox_id: str, before: date, confirm: bool, wait_seconds: float) -> dict[str, Any]:
    """purge-server for POP3: DELE, by UIDL, the messages older than ``before`` that the ledger
    shows wholly imported, then QUIT — the server removes DELE'd mail only when QUIT succeeds, so
    a session that breaks first deletes nothing and reports nothing deleted. A dry run unless
    ``confirm``. The report has the shape of the IMAP one, with UIDLs instead of UIDs."""
    from .tools import WHOLLY_IMPORTED, tool_lease

    with tool_lease(ops, mailbox_id, "purge_server", wait_seconds) as run, pop3_of(ops, mailbox_id) as src:
        ledger = checkpoint.ledger_rows(ops.conn, mailbox_id, FOLDER, UIDVALIDITY)
        old = [m for m, _, day in _dated(src, ledger) if day is not None and day < before]
        imported = [m for m in old if m.uid in ledger and ledger[m.uid][0] in WHOLLY_IMPORTED]
        deleted = 0
        if confirm and imported:
            leases.guard_now(ops.conn, run.lease)
            deleted = _dele_and_quit(src, imported)
    return {"account": mailbox_id, "before": before.isoformat(), "dry_run": not confirm, "folders": {FOLDER: {
        "older": len(old), "imported": len(imported), "deleted": deleted, "kept_not_imported": len(old) - len(imported),
        "uidls": [m.uidl for m in imported][:1000]}}}


def _dele_and_quit(src: Pop3MailSource, messages: list[PopMessage]) -> int:
    """DELE each message, then QUIT. On any failure the connection is dropped without QUIT, so
    the server deletes none of them (RFC 1939 §6: no UPDATE state), and the error is raised."""
    pop = src.pop
    assert pop is not None
    try:
        for m in messages:
            pop.dele(m.number)  # message numbers are this session's: the listing came from it
        pop.quit()  # the commit: raises unless +OK; the source's own QUIT on exit then does nothing
    except (OSError, poplib.error_proto) as exc:
        pop.close()
        raise translate(exc, src.account) from exc
    return len(messages)


def overview_pop3(ops: Ops, mailbox_id: str, day: date) -> list[OverviewRow]:
    """``accounts overview`` for POP3: a row per message on the server whose day is ``day``."""
    with pop3_of(ops, mailbox_id) as src:
        ledger = checkpoint.ledger_rows(ops.conn, mailbox_id, FOLDER, UIDVALIDITY)
        found = [(m, head) for m, head, d in _dated(src, ledger) if d == day]
    if not found:
        return []
    letters = downstream.dead_letters(ops.settings.kafka, mailbox_id, ops.settings.fetch.raw_topic)
    facts = facts_of(ops, mailbox_id, FOLDER, UIDVALIDITY, [m.uid for m, _ in found], letters)
    return [overview_row(FOLDER, m.uid, None, m.size, head, facts[m.uid], f"UIDL {m.uidl}: ") for m, head in found]


def overview_any(ops: Ops, mailbox_id: str, day: date) -> list[OverviewRow]:
    """The overview of either protocol."""
    if ops.stored(mailbox_id).account.protocol == "pop3":
        return overview_pop3(ops, mailbox_id, day)
    from .overview import overview

    return overview(ops, mailbox_id, day)
