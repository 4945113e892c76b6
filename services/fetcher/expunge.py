"""``accounts expunge`` (reference 004, "Purge Delete Folder"): remove from one folder the messages
already flagged ``\\Deleted`` (by a mail client, or by a delete that was never expunged).

Besides purge-server, the only tool that writes to the server, and it writes nothing else: no flag
is set (headers are read with BODY.PEEK, so nothing becomes ``\\Seen``), no cursor or ledger row
moves (expunged UIDs are never reused, so the folder's cursor stays right). A dry run unless
confirmed: it opens the folder read-only (EXAMINE) and reports what would be removed.

When confirmed, the folder is searched for ``\\Deleted`` again in the same read-write session and
exactly those UIDs are removed with UID EXPUNGE (RFC 4315, UIDPLUS), so a message another client
flags between the search and the expunge stays. A server without UIDPLUS only has EXPUNGE, which
removes every message flagged at that moment: the report then says ``"uid_expunge": false`` and
counts what the server reported expunged. Blocks on PostgreSQL (the lease) and IMAP."""

from __future__ import annotations

from typing import Any

from . import leases
from .accounts.ops import Ops
from .leases import HANDOVER_WAIT_SECONDS
from .records import message_id_of
from .sources.imap import ImapMailSource
from .tools import imap_of, tool_lease

REPORTED_UIDS = 1000  # the report lists at most this many messages (the count is always whole)
_HEADER_ITEM = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"


def expunge(ops: Ops, mailbox_id: str, folder: str, confirm: bool,
            wait_seconds: float = HANDOVER_WAIT_SECONDS) -> dict[str, Any]:
    """Remove ``folder``'s messages flagged ``\\Deleted`` (a dry run unless ``confirm``), holding
    the mailbox's lease like every tool that reads or changes the server. Returns the report: the
    UIDs with size and Message-ID, their count and total size, and how many were removed. Raises
    LeaseBusy when a replica did not hand the mailbox over, MailboxUnavailable("folder_missing")
    for a folder that is not on the server, LookupError for an unknown or POP3 account."""
    with tool_lease(ops, mailbox_id, "expunge", wait_seconds) as run, imap_of(ops, mailbox_id) as src:
        if not confirm:
            src.examine(folder)
            return _report(mailbox_id, folder, flagged(src), dry_run=True)
        leases.guard_now(ops.conn, run.lease)
        src.call(src.client.select_folder, folder, readonly=False)
        try:
            found = flagged(src)
            removed, by_uid = _remove(src, sorted(found))
        finally:
            src.call(src.client.unselect_folder)  # UNSELECT expunges nothing (CLOSE would)
        report = _report(mailbox_id, folder, found, dry_run=False)
        report.update(expunged=removed, uid_expunge=by_uid)
        return report


def flagged(src: ImapMailSource) -> dict[int, tuple[int, str | None]]:
    """UID → (size, Message-ID, normalised as the fetch ledger keeps it) of the selected folder's
    messages flagged ``\\Deleted``."""
    uids = src.call(src.client.search, ["DELETED"])
    if not uids:
        return {}
    items = src.call(src.client.fetch, uids, ["RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    return {int(uid): (int(data.get(b"RFC822.SIZE", 0)), message_id_of(data.get(_HEADER_ITEM) or b""))
            for uid, data in items.items()}


def _remove(src: ImapMailSource, uids: list[int]) -> tuple[int, bool]:
    """Expunge ``uids`` (UID EXPUNGE where possible); how many went, and whether by UID."""
    if not uids:
        return 0, True
    if src.call(src.client.has_capability, "UIDPLUS"):
        src.call(src.client.uid_expunge, uids)
        return len(uids), True
    _, responses = src.call(src.client.expunge)
    return sum(1 for r in responses if isinstance(r, tuple) and r[1:2] == (b"EXPUNGE",)), False


def _report(mailbox_id: str, folder: str, found: dict[int, tuple[int, str | None]],
            dry_run: bool) -> dict[str, Any]:
    uids = sorted(found)
    return {"account": mailbox_id, "folder": folder, "dry_run": dry_run, "flagged_deleted": len(uids),
            "bytes": sum(size for size, _ in found.values()),
            "messages": [{"uid": u, "size": found[u][0], "message_id": found[u][1]} for u in uids[:REPORTED_UIDS]]}
