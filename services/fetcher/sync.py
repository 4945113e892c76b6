"""One run over one mailbox: every sync folder of an IMAP account, or the POP3 inbox.

Reads in batches; after each batch the records are acknowledged by Kafka, then the ledger and the
cursor advance in one transaction under the lease. A run yields (returns ``complete=False``) when
its time box ends, the process stops or the lease is lost; the next run continues from the cursor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..common.messages import Sighting
from . import checkpoint
from .accounts import store
from .errors import MailboxUnavailable
from .leases import Lease
from .plan import batches, plan_folder
from .publisher import Publisher
from .readers import ReaderPool
from .records import OVER_SIZE_LIMIT, Fetched, LedgerEntry
from .settings import FetchSettings
from .sources.imap import ImapMailSource, MessageInfo
from .sources.pop3 import Pop3MailSource, PopMessage

log = logging.getLogger(__name__)
INFO_CHUNK = 1000  # UIDs per metadata FETCH (sizes and dates only: small answers)
HEADER_COST = 16 * 1024  # what a header-only fetch weighs in a batch


@dataclass
class RunContext:
    """What one run needs: the lease, a connection of its own, the publisher and its limits."""

    lease: Lease
    conn: Any
    publisher: Publisher
    settings: FetchSettings
    stop: threading.Event
    max_message_bytes: int
    deadline: float = field(default=0.0)
    published: int = 0
    uidnext_seen: dict[str, int | None] = field(default_factory=dict)  # per folder, by the last full read
    reindex_generation: int = 0  # set by `accounts reindex`: downstream decides and links anew

    def should_yield(self) -> bool:
        """Stop after the current batch: the process stops, the lease is lost or asked for by a
        tool (``accounts reindex`` ...), or the run's time box is over."""
        lease = self.lease
        return (self.stop.is_set() or lease.lost.is_set() or lease.handover.is_set()
                or time.monotonic() >= self.deadline)


@dataclass(frozen=True)
class _Item:
    info: MessageInfo
    over_limit: bool

    @property
    def size(self) -> int:
        return HEADER_COST if self.over_limit else self.info.size


def sync_imap(src: ImapMailSource, ctx: RunContext) -> bool:
    """Read every sync folder; returns True when all were read to the end. A folder that is gone
    is looked for under a new name (same UIDVALIDITY); if none, the others are still read and the
    run then fails with ``folder_missing``."""
    missing: list[MailboxUnavailable] = []
    for folder in src.account.sync_folders:
        try:
            done = sync_imap_folder(src, ctx, folder)
        except MailboxUnavailable as exc:
            if exc.kind != "folder_missing":
                raise
            renamed = _follow_rename(src, ctx, folder)
            if renamed is None:
                missing.append(exc)
                continue
            done = sync_imap_folder(src, ctx, renamed)
        if not done:
            return False
    if missing:
        raise missing[0]
    return True


def sync_imap_folder(src: ImapMailSource, ctx: RunContext, folder: str) -> bool:
    """Read one folder from its cursor; True when read to the end."""
    status = src.examine(folder)
    cursor = checkpoint.load_cursor(ctx.conn, ctx.lease.mailbox_id, folder)
    plan = plan_folder(cursor, status.uidvalidity, ctx.settings.resync_margin_days)
    if plan.mode == "incremental":
        uids = src.uids_after(plan.after_uid)
    elif plan.mode == "resync" and plan.since is not None:
        log.warning("UIDVALIDITY changed; reading again since %s", plan.since,
                    extra={"mailbox_id": ctx.lease.mailbox_id, "uidvalidity": status.uidvalidity})
        uids = src.uids_since(plan.since)
    else:
        uids = src.uids_after(0)
    # After a resync everything up to the highest UID counts as read (older mail was read under
    # the old UIDVALIDITY); otherwise the cursor moves only past what was actually published.
    end_uid = max([*uids, (status.uidnext or 1) - 1]) if plan.mode == "resync" else (uids[-1] if uids else None)
    last_done = plan.after_uid
    for last_uid, fetched, entries in publish_uids(src, ctx, folder, status.uidvalidity, uids):
        last_done = last_uid
        checkpoint.advance_imap(ctx.conn, ctx.lease, folder, status.uidvalidity, last_done,
                                max((f.internal_date for f in fetched if f.internal_date), default=None),
                                status.uidnext, entries)
        if ctx.should_yield():
            return False
    if end_uid is not None and end_uid > last_done or cursor is None or plan.mode == "resync":
        checkpoint.advance_imap(ctx.conn, ctx.lease, folder, status.uidvalidity, max(end_uid or 0, last_done),
                                None, status.uidnext, [])
    else:
        checkpoint.note_server(ctx.conn, ctx.lease.mailbox_id, folder, status.uidvalidity, status.uidnext)
    ctx.uidnext_seen[folder] = status.uidnext
    return True


def publish_uids(src: ImapMailSource, ctx: RunContext, folder: str, uidvalidity: int,
                 uids: list[int]) -> Iterator[tuple[int, list[Fetched], list[LedgerEntry]]]:
    """Fetch and publish ``uids`` (ascending) in batches: sizes first, then whole bodies, or only
    headers for messages over the size limit. Yields, after Kafka acknowledged each batch, the
    highest UID now done (expunged UIDs count as done), what was published and its ledger entries.

    More than one batch is read ahead, on ``read_connections`` connections of their own, while the
    current batch is published and acknowledged, so a distant server's round trips hide behind the
    Kafka and S3 work (at most ``read_connections + 1`` batches are in memory). A single batch — the
    usual poll — is read on the run's own connection, without opening more."""
    plan = _plan_batches(src, ctx, uids)
    if len(uids) <= ctx.settings.batch_size:
        for done_uid, items in plan:
            yield (done_uid, *_publish(ctx, _fetch_batch(src, ctx, folder, uidvalidity, items)))
        return
    ahead = ctx.settings.read_connections
    with ReaderPool(src, folder, ahead) as readers:
        window: deque[tuple[int, Future[list[Fetched]]]] = deque()
        for done_uid, items in plan:
            window.append((done_uid, readers.submit(_fetch_batch, ctx, folder, uidvalidity, items)))
            if len(window) > ahead:
                done, read = window.popleft()
                yield (done, *_publish(ctx, read.result()))
        while window:
            done, read = window.popleft()
            yield (done, *_publish(ctx, read.result()))


def _publish(ctx: RunContext, fetched: list[Fetched]) -> tuple[list[Fetched], list[LedgerEntry]]:
    entries = ctx.publisher.publish(fetched, "imap", ctx.reindex_generation)
    ctx.published += len(fetched)
    return fetched, entries


def _plan_batches(src: ImapMailSource, ctx: RunContext, uids: list[int]) -> Iterator[tuple[int, list[_Item]]]:
    """The batches to read, with the UID each one completes: sizes and dates first (cheap), on the
    run's connection, 1,000 UIDs at a time."""
    for start in range(0, len(uids), INFO_CHUNK):
        chunk = uids[start:start + INFO_CHUNK]
        items = [_Item(i, i.size > ctx.max_message_bytes) for i in src.infos(chunk)]
        groups = list(batches(items, ctx.settings.batch_size, ctx.settings.batch_max_bytes))
        for n, batch in enumerate(groups):
            # the last batch of a chunk also covers the chunk's UIDs expunged before we fetched them
            yield (chunk[-1] if n == len(groups) - 1 else batch[-1].info.uid), batch
        if not groups:
            yield chunk[-1], []


def _fetch_batch(src: ImapMailSource, ctx: RunContext, folder: str, uidvalidity: int,
                 batch: list[_Item]) -> list[Fetched]:
    whole, failed = _read_all(src, src.bodies, [i.info.uid for i in batch if not i.over_limit])
    heads, failed_heads = _read_all(src, src.headers, [i.info.uid for i in batch if i.over_limit])
    failed.update(failed_heads)
    out = []
    for item in batch:
        info = item.info
        sighting = Sighting(mailbox_id=ctx.lease.mailbox_id, folder=folder, uidvalidity=uidvalidity, uid=info.uid)
        if info.uid in failed:
            out.append(Fetched(sighting, b"", info.size, info.internal_date, unreadable=failed[info.uid]))
            continue
        raw = heads.get(info.uid) if item.over_limit else whole.get(info.uid)
        if raw is None:
            continue  # expunged between the size check and the body fetch: nothing to publish
        out.append(Fetched(sighting, raw, info.size, info.internal_date, OVER_SIZE_LIMIT if item.over_limit else None))
    return out


def _read_all(src: ImapMailSource, read: Callable[[list[int]], dict[int, bytes]],
              uids: list[int]) -> tuple[dict[int, bytes], dict[int, str]]:
    """``read(uids)`` in one FETCH; when the server fails it (a damaged message), read them one by
    one on fresh sessions so only the bad ones fail. Returns what was read and UID → reason."""
    if not uids:
        return {}, {}
    try:
        return read(uids), {}
    except MailboxUnavailable as exc:
        if exc.kind != "message_unreadable":
            raise
    got: dict[int, bytes] = {}
    failed: dict[int, str] = {}
    src.reopen()
    for uid in uids:
        try:
            got.update(read([uid]))
        except MailboxUnavailable as exc:
            if exc.kind != "message_unreadable":
                raise
            log.warning("the server cannot deliver a message; dead-lettering it",
                        extra={"mailbox_id": src.account.id, "uid": uid, "error": exc.cause})
            failed[uid] = exc.cause
            src.reopen()
    return got, failed


def _follow_rename(src: ImapMailSource, ctx: RunContext, folder: str) -> str | None:
    """The new name of a renamed folder: the one whose UIDVALIDITY is the old folder's cursor's."""
    cursor = checkpoint.load_cursor(ctx.conn, ctx.lease.mailbox_id, folder)
    if cursor is None:
        return None
    watched = set(src.account.sync_folders)
    for candidate in src.folders():
        if candidate.selectable and candidate.name not in watched \
                and src.uidvalidity_of(candidate.name) == cursor.uidvalidity:
            log.warning("folder renamed; following it", extra={"mailbox_id": ctx.lease.mailbox_id})
            with ctx.conn.transaction():  # both or neither, under the lease guard rename_folder takes
                checkpoint.rename_folder(ctx.conn, ctx.lease, folder, candidate.name)
                store.rename_folder(ctx.conn, ctx.lease.mailbox_id, folder, candidate.name)
            return candidate.name
    return None


def sync_pop3(src: Pop3MailSource, ctx: RunContext) -> bool:
    """Read every message whose UIDL is not in the mailbox's UIDL set; mail stays on the server."""
    listing = src.listing()
    known = checkpoint.known_uidls(ctx.conn, ctx.lease.mailbox_id)
    gone = known - {m.uidl for m in listing}
    new = [m for m in listing if m.uidl not in known]
    if gone and not new:
        checkpoint.advance_pop3(ctx.conn, ctx.lease, [], [], gone)
    for batch in batches(new, ctx.settings.batch_size, ctx.settings.batch_max_bytes):
        fetched = [_pop_fetch(src, ctx, m) for m in batch]
        entries = ctx.publisher.publish(fetched, "pop3")
        checkpoint.advance_pop3(ctx.conn, ctx.lease, [m.uidl for m in batch], entries, gone)
        gone = set()
        ctx.published += len(fetched)
        if ctx.should_yield():
            return False
    return True


def _pop_fetch(src: Pop3MailSource, ctx: RunContext, m: PopMessage) -> Fetched:
    over = m.size > ctx.max_message_bytes
    sighting = Sighting(mailbox_id=ctx.lease.mailbox_id, folder="INBOX", uidvalidity=0, uid=m.uid)
    try:
        raw = src.header(m.number) if over else src.body(m.number)
    except MailboxUnavailable as exc:
        if exc.kind != "message_unreadable":
            raise
        return Fetched(sighting, b"", m.size, None, unreadable=exc.cause)
    return Fetched(sighting, raw, m.size, None, OVER_SIZE_LIMIT if over else None)
