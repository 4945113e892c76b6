"""Operator tools from the reference systems (000: reload, overview, delete old mails; 004:
download a folder once, subscribe, reindex; expunge is in expunge.py, POP3 in tools_pop3.py).
Tools that read or change a mailbox on the server hold its lease while they work, so they never
run beside a fetcher replica on the same mailbox."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from . import checkpoint, leases, runs
from .accounts.ops import Ops
from .credentials import login_secret
from .errors import MailboxUnavailable
from .leases import HANDOVER_WAIT_SECONDS, Lease
from .publisher import Publisher
from .sources.imap import ImapMailSource
from .sync import RunContext, publish_uids, sync_imap_folder

TOOL_LEASE_SECONDS = 60.0
_LOOK_SECONDS = 0.25


class LeaseBusy(LookupError):
    """The mailbox's holder did not hand it over in time; the message names the holder."""


@dataclass
class ToolRun:
    """A tool's hold on a mailbox: its lease, and how many messages it published (for fetch_runs)."""

    lease: Lease
    messages: int = 0


@contextmanager
def tool_lease(ops: Ops, mailbox_id: str, purpose: str,
               wait_seconds: float = HANDOVER_WAIT_SECONDS) -> Iterator[ToolRun]:
    """Hold ``mailbox_id``'s lease (heartbeated) for the block, recorded as a run named
    ``purpose`` in fetch_runs. A free or expired lease is taken at once; one a replica holds is
    asked for, and the replica hands it over when its run reaches the next batch or IDLE wake-up
    (push mailboxes never release it otherwise). Blocks up to ``wait_seconds``; raises LeaseBusy
    naming the holder when it did not answer, LookupError for an unknown account."""
    ops.stored(mailbox_id)
    owner = f"tool:{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    lease = _acquire(ops.conn, mailbox_id, owner, wait_seconds)
    run, run_id, outcome = ToolRun(lease), runs.start(ops.conn, lease), f"failed:{purpose}"
    done = threading.Event()

    def beat() -> None:
        with ops_connection(ops) as conn:
            while not done.wait(TOOL_LEASE_SECONDS / 3):
                leases.heartbeat(conn, lease, TOOL_LEASE_SECONDS)

    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    try:
        yield run
        outcome = purpose
    finally:
        done.set()
        beater.join()
        runs.finish(ops.conn, run_id, outcome, run.messages)  # ended before the lease is free, as replicas do
        leases.hand_back(ops.conn, lease)


def _acquire(conn: Any, mailbox_id: str, owner: str, wait_seconds: float) -> Lease:
    deadline = time.monotonic() + wait_seconds
    asked = False
    try:
        while True:
            lease = (leases.claim_one(conn, owner, mailbox_id, TOOL_LEASE_SECONDS)
                     or leases.handed_over(conn, mailbox_id, owner))
            if lease is not None:
                return lease
            if time.monotonic() >= deadline:
                break
            if not asked:  # False while another tool's request is pending: ask again next time
                asked = leases.request_handover(conn, mailbox_id, owner, wait_seconds, TOOL_LEASE_SECONDS)
            time.sleep(_LOOK_SECONDS)
    finally:
        if asked:
            leases.withdraw_handover(conn, mailbox_id, owner)
    # the holder may have answered between the last look and the withdrawal
    if (lease := leases.handed_over(conn, mailbox_id, owner)) is not None:
        return lease
    raise LeaseBusy(_busy_text(conn, mailbox_id, wait_seconds))


def _busy_text(conn: Any, mailbox_id: str, wait_seconds: float) -> str:
    who, until = leases.holder(conn, mailbox_id)
    if who is None:
        return f"{mailbox_id} changed hands all the time for {wait_seconds:g} s; try again"
    held = f"lease renewed until {until:%Y-%m-%d %H:%M:%S %Z}"
    if who.startswith("tool:"):
        return f"{mailbox_id} is in use by another operator tool ({who}, {held}); try again when it is done"
    return (f"{mailbox_id} is held by replica {who} ({held}), which did not hand it over within "
            f"{wait_seconds:g} s: it may be finishing a long batch, be stuck, or run a fetcher without lease "
            "hand-over; try again, or stop that replica (other replicas take its mailboxes once its lease expires)")


def ops_connection(ops: Ops) -> Any:
    from ..common import clients

    return clients.connect_postgres(ops.settings.postgres, autocommit=True)


@contextmanager
def imap_of(ops: Ops, mailbox_id: str) -> Iterator[ImapMailSource]:
    stored = ops.stored(mailbox_id)
    if stored.account.protocol != "imap":
        raise LookupError(f"{mailbox_id} is a POP3 mailbox: this tool needs IMAP folders")
    timeout = ops.settings.fetch.timeout_seconds
    secret = login_secret(ops.conn, ops.box, stored.account, stored.sealed_secrets, timeout)
    with ImapMailSource(stored.account, secret, timeout) as src:
        yield src


def _context(ops: Ops, lease: Lease) -> RunContext:
    publisher = Publisher(ops.producer, ops.s3, ops.settings.s3.bucket, ops.settings.fetch.claim_check_bytes,
                          topic=ops.settings.fetch.raw_topic)
    account = ops.stored(lease.mailbox_id).account
    return RunContext(lease, ops.conn, publisher, ops.settings.fetch, threading.Event(),
                      account.max_message_bytes or ops.settings.fetch.max_message_bytes, deadline=float("inf"))


def reload(ops: Ops, mailbox_id: str) -> dict[str, Any]:
    """Forget the read state: the next run reads everything again (email_id dedupes downstream)."""
    ops.stored(mailbox_id)
    checkpoint.forget(ops.conn, mailbox_id)
    return {"account": mailbox_id, "reloaded": True}


def download(ops: Ops, mailbox_id: str, folder: str, wait_seconds: float = HANDOVER_WAIT_SECONDS) -> dict[str, Any]:
    """Read ``folder`` once now (subscribed or not), from its cursor."""
    with tool_lease(ops, mailbox_id, "download", wait_seconds) as run, imap_of(ops, mailbox_id) as src:
        ctx = _context(ops, run.lease)
        sync_imap_folder(src, ctx, folder)
        run.messages = ctx.published
    return {"account": mailbox_id, "folder": folder, "published": ctx.published}


def reindex(ops: Ops, mailbox_id: str, folder: str, only_uids: list[int] | None = None,
            wait_seconds: float = HANDOVER_WAIT_SECONDS) -> dict[str, Any]:
    """Publish the folder's already-fetched messages (or ``only_uids`` of them) again, so parsing
    and matching run on them anew — after a directory change, or to replay a message that was
    dead-lettered because the server could not deliver it. The cursor does not move; the ledger
    is refreshed. A replica holding the mailbox (a push mailbox in IDLE) is asked to hand it over.
    The records carry a reindex generation, so the matcher decides anew instead of repeating its
    stored decision, and storage replaces the links (a crash replay repeats the same generation)."""
    with tool_lease(ops, mailbox_id, "reindex", wait_seconds) as run, imap_of(ops, mailbox_id) as src:
        lease = run.lease
        ctx = _context(ops, lease)
        # Newer than any earlier reindex (the database's clock: one for every host running the tool),
        # so the matcher decides these messages anew and storage re-links them.
        ctx.reindex_generation = int(ops.conn.execute(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint").fetchone()[0])
        status = src.examine(folder)
        cursor = checkpoint.load_cursor(ops.conn, mailbox_id, folder)
        if cursor is None or cursor.uidvalidity != status.uidvalidity:
            return {"account": mailbox_id, "folder": folder, "published": 0, "note": "nothing fetched here yet"}
        uids = [u for u in src.uids_after(0) if u <= cursor.last_uid and (not only_uids or u in only_uids)]
        for _, _, entries in publish_uids(src, ctx, folder, status.uidvalidity, uids):
            with ops.conn.transaction():
                leases.guard(ops.conn, lease)
                checkpoint.write_ledger(ops.conn, entries)
            run.messages = ctx.published
    return {"account": mailbox_id, "folder": folder, "published": ctx.published}


def months_back(today: date, months: int) -> date:
    """Pure: the same day ``months`` months earlier (clamped to the month's last day)."""
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    month += 1
    for day in range(today.day, 0, -1):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


WHOLLY_IMPORTED = ("published", "claim_checked")  # ledger outcomes whose bodies are downstream


def purge_server(ops: Ops, mailbox_id: str, older_than_months: int, confirm: bool,
                 today: date | None = None, wait_seconds: float = HANDOVER_WAIT_SECONDS) -> dict[str, Any]:
    """Delete mail older than ``older_than_months`` from the server (not from mailpipe). A dry run
    unless ``confirm``. Only messages the ledger shows as imported are ever deleted; the report
    lists the others as kept. Imported means the whole message went downstream: a header-only
    record (over the size limit) or a dead-lettered one (unreadable) does not count. POP3
    accounts: see ``tools_pop3.purge_pop3``."""
    cutoff = months_back(today or date.today(), older_than_months)
    if ops.stored(mailbox_id).account.protocol == "pop3":  # by UIDL; the mail's day from its Date header
        from .tools_pop3 import purge_pop3

        return purge_pop3(ops, mailbox_id, cutoff, confirm, wait_seconds)
    report: dict[str, Any] = {"account": mailbox_id, "before": cutoff.isoformat(), "dry_run": not confirm,
                              "folders": {}}
    with tool_lease(ops, mailbox_id, "purge_server", wait_seconds) as run, imap_of(ops, mailbox_id) as src:
        lease = run.lease
        for folder in src.account.sync_folders:
            status = src.examine(folder)
            old = src.uids_before(cutoff)
            ledger = checkpoint.ledger_rows(ops.conn, mailbox_id, folder, status.uidvalidity)
            imported = [u for u in old if u in ledger and ledger[u][0] in WHOLLY_IMPORTED]
            deleted = 0
            if confirm and imported:
                leases.guard_now(ops.conn, lease)
                deleted = src.delete(folder, imported)
            report["folders"][folder] = {"older": len(old), "imported": len(imported), "deleted": deleted,
                                         "kept_not_imported": len(old) - len(imported), "uids": imported[:1000]}
    return report


def subscribe(ops: Ops, mailbox_id: str, folder: str, on: bool) -> dict[str, Any]:
    """Read ``folder`` on every run (``on``) or stop reading it; the read state is kept."""
    stored = ops.stored(mailbox_id)
    account = stored.account
    if on and folder not in [f.name for f in account.folders]:
        with imap_of(ops, mailbox_id) as src:
            if folder not in [f.name for f in src.folders() if f.selectable]:
                raise MailboxUnavailable("folder_missing", "folders", f"no folder {folder!r} on the server")
        from .accounts.model import Folder

        folders = [*account.folders, Folder(name=folder)]
    else:
        folders = [f.model_copy(update={"sync": on}) if f.name == folder else f for f in account.folders]
    ops.save(account.model_copy(update={"folders": folders}), ops.secrets(stored))
    return {"account": mailbox_id, "folder": folder, "subscribed": on}
