"""Copies of sent mail into the mailbox's Sent-role folder (reference 004: sent items are
synchronised even when another server sends them).

The sender queues each accepted message in ``sent_copies``; the fetcher appends it on its next
run of the mailbox, over the connection it already holds, marked seen. A copy is looked for by
its Message-ID first, so a run that died between APPEND and the record of it does not leave two.
Blocks on PostgreSQL and the IMAP server; server failures raise MailboxUnavailable like any read.
"""

from __future__ import annotations

import logging
from typing import Any

from .accounts.model import Account
from .errors import MailboxUnavailable
from .sources.imap import ImapMailSource

log = logging.getLogger(__name__)
BATCH = 100
# failures of the connection, not of the copy: the run fails (and retries) as for a read
_CONNECTION = ("connection_lost", "connection_refused", "timeout", "host_unknown", "tls_handshake",
               "certificate_untrusted", "auth_failed")


def sent_folder(account: Account) -> str | None:
    """The account's Sent-role folder, if it names one (``accounts folders --role NAME=sent``)."""
    return next((f.name for f in account.folders if f.role == "sent"), None)


def pending(conn: Any, mailbox_id: str) -> list[tuple[Any, str, bytes]]:
    """(outbound id, Message-ID, bytes) of the copies still to append, oldest first."""
    rows = conn.execute(
        "SELECT c.outbound_id, s.message_id, s.message FROM sent_copies c JOIN outbound_sends s USING (outbound_id) "
        "WHERE c.mailbox_id = %s AND c.done_at IS NULL ORDER BY c.created_at LIMIT %s", (mailbox_id, BATCH)).fetchall()
    return [(r[0], r[1], bytes(r[2])) for r in rows]


def done(conn: Any, outbound_id: Any, outcome: str) -> None:
    """Record what became of a copy (appended, already_there, folder_missing, append_refused,
    no_sent_folder, pop3): it is not tried again."""
    conn.execute("UPDATE sent_copies SET done_at = now(), outcome = %s WHERE outbound_id = %s",
                 (outcome, outbound_id))


def append_pending(conn: Any, account: Account, src: ImapMailSource | None) -> int:
    """Append the mailbox's pending copies (``src`` None: a POP3 mailbox, which has no folders);
    returns how many were appended."""
    copies = pending(conn, account.id)
    folder = sent_folder(account) if src is not None else None
    appended = 0
    for outbound_id, message_id, message in copies:
        if src is None or folder is None:
            done(conn, outbound_id, "pop3" if src is None else "no_sent_folder")
            continue
        if not src.call(src.client.folder_exists, folder):
            done(conn, outbound_id, f"folder_missing: {folder}")  # the role names a folder the server lacks
            continue
        if message_id and _already_there(src, folder, message_id):  # (an empty id would match every message)
            done(conn, outbound_id, "already_there")
            continue
        try:
            src.call(src.client.append, folder, message, flags=[b"\\Seen"])
        except MailboxUnavailable as exc:
            if exc.kind in _CONNECTION:
                raise  # the run fails and backs off like any read; the copy waits for the next run
            done(conn, outbound_id, f"append_refused: {exc.cause}"[:300])  # over quota, too large: not the run's
            continue
        done(conn, outbound_id, "appended")
        appended += 1
    if appended:
        log.info("sent copies appended", extra={"mailbox_id": account.id, "folder": folder, "messages": appended})
    return appended


def _already_there(src: ImapMailSource, folder: str, message_id: str) -> bool:
    src.call(src.client.select_folder, folder, readonly=True)
    try:
        return bool(src.call(src.client.search, ["HEADER", "Message-ID", message_id]))
    finally:
        src.call(src.client.unselect_folder)
