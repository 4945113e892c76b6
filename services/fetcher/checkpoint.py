"""The fetcher's durable state in PostgreSQL: cursors, the ledger and POP3 UIDL sets.

State moves only in ``advance_*``, called after Kafka acknowledged every record of the batch, in
one transaction with the lease check: the ledger rows and the cursor move together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .leases import Lease, guard
from .records import LedgerEntry


@dataclass(frozen=True)
class Cursor:
    """How far a folder has been read: everything up to ``last_uid`` under ``uidvalidity``."""

    uidvalidity: int
    last_uid: int
    last_date: datetime | None


def load_cursor(conn: Any, mailbox_id: str, folder: str) -> Cursor | None:
    row = conn.execute("SELECT uidvalidity, last_uid, last_date FROM fetch_cursors "
                       "WHERE mailbox_id = %s AND folder = %s", (mailbox_id, folder)).fetchone()
    return Cursor(int(row[0]), int(row[1]), row[2]) if row else None


def rename_folder(conn: Any, lease: Lease, old: str, new: str) -> None:
    """Carry a folder's cursor over to its new name."""
    with conn.transaction():
        guard(conn, lease)
        conn.execute("UPDATE fetch_cursors SET folder = %s WHERE mailbox_id = %s AND folder = %s",
                     (new, lease.mailbox_id, old))


def note_server(conn: Any, mailbox_id: str, folder: str, uidvalidity: int, uidnext: int | None) -> None:
    """Remember the server's UIDNEXT (for the unfetched-messages gauge); no cursor move."""
    if uidnext is not None:
        conn.execute("UPDATE fetch_cursors SET server_uidnext = %s WHERE mailbox_id = %s AND folder = %s "
                     "AND uidvalidity = %s", (uidnext, mailbox_id, folder, uidvalidity))


def write_ledger(conn: Any, entries: list[LedgerEntry]) -> None:
    if not entries:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO fetch_ledger (mailbox_id, folder, uidvalidity, uid, message_id, size_bytes, internal_date, "
            "sha256, outcome, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (mailbox_id, folder, uidvalidity, uid) DO UPDATE SET outcome = EXCLUDED.outcome, "
            "reason = EXCLUDED.reason, sha256 = EXCLUDED.sha256, fetched_at = now()",
            [(e.sighting.mailbox_id, e.sighting.folder, e.sighting.uidvalidity, e.sighting.uid, e.message_id,
              e.size, e.internal_date, e.sha256, e.outcome, e.reason) for e in entries])


def advance_imap(conn: Any, lease: Lease, folder: str, uidvalidity: int, last_uid: int,
                 last_date: datetime | None, uidnext: int | None, entries: list[LedgerEntry]) -> None:
    """Record ``entries`` and move the folder's cursor to ``last_uid``. Raises LeaseLost (and
    writes nothing) when the lease is no longer ours."""
    with conn.transaction():
        guard(conn, lease)
        write_ledger(conn, entries)
        conn.execute(
            "INSERT INTO fetch_cursors (mailbox_id, folder, uidvalidity, last_uid, last_date, server_uidnext) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (mailbox_id, folder) DO UPDATE SET "
            "uidvalidity = EXCLUDED.uidvalidity, last_uid = EXCLUDED.last_uid, "
            "last_date = GREATEST(EXCLUDED.last_date, CASE WHEN fetch_cursors.uidvalidity = EXCLUDED.uidvalidity "
            "THEN fetch_cursors.last_date END), server_uidnext = EXCLUDED.server_uidnext, updated_at = now()",
            (lease.mailbox_id, folder, uidvalidity, last_uid, last_date, uidnext))


def known_uidls(conn: Any, mailbox_id: str) -> set[str]:
    return {r[0] for r in conn.execute("SELECT uidl FROM pop3_uidls WHERE mailbox_id = %s", (mailbox_id,))}


def advance_pop3(conn: Any, lease: Lease, uidls: list[str], entries: list[LedgerEntry],
                 gone: set[str] | None = None) -> None:
    """Add ``uidls`` to the mailbox's UIDL set (and drop ``gone`` ones, no longer on the server)."""
    with conn.transaction():
        guard(conn, lease)
        write_ledger(conn, entries)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO pop3_uidls (mailbox_id, uidl) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            [(lease.mailbox_id, u) for u in uidls])
        if gone:
            conn.execute("DELETE FROM pop3_uidls WHERE mailbox_id = %s AND uidl = ANY(%s)",
                         (lease.mailbox_id, list(gone)))


def unfetched_total(conn: Any) -> int:
    """Server UIDNEXT minus cursor, summed over every folder of every enabled mailbox."""
    row = conn.execute(
        "SELECT coalesce(sum(greatest(c.server_uidnext - 1 - c.last_uid, 0)), 0) FROM fetch_cursors c "
        "JOIN mailbox_accounts a USING (mailbox_id) WHERE (a.config ->> 'enabled')::boolean").fetchone()
    return int(row[0])


def failing_total(conn: Any) -> int:
    """Enabled mailboxes whose last run failed (backing off: auth, connection, TLS, ...)."""
    row = conn.execute(
        "SELECT count(*) FROM mailbox_schedule s JOIN mailbox_accounts a USING (mailbox_id) "
        "WHERE s.failures > 0 AND (a.config ->> 'enabled')::boolean").fetchone()
    return int(row[0])


def push_total(conn: Any) -> int:
    """Enabled push mailboxes: the IDLE connections the fleet should hold."""
    row = conn.execute("SELECT count(*) FROM mailbox_accounts WHERE (config ->> 'enabled')::boolean "
                       "AND coalesce((config ->> 'push')::boolean, false)").fetchone()
    return int(row[0])


def overdue_total(conn: Any, intervals: int) -> int:
    """Enabled polling mailboxes with no successful run for ``intervals`` of their own poll interval
    (counted from the account's creation when it never succeeded). Push mailboxes are left out:
    their run lasts as long as the lease, so they have no last success to compare."""
    row = conn.execute(
        "SELECT count(*) FROM mailbox_accounts a LEFT JOIN mailbox_schedule s USING (mailbox_id) "
        "WHERE (a.config ->> 'enabled')::boolean AND NOT coalesce((a.config ->> 'push')::boolean, false) "
        "AND coalesce(s.last_success_at, a.created_at) "
        "< now() - make_interval(secs => %s * (a.config ->> 'poll_interval_seconds')::float8)",
        (intervals,)).fetchone()
    return int(row[0])


def forget(conn: Any, mailbox_id: str) -> None:
    """Forget what was read (cursors and UIDL set), fencing any run in progress, so the next run
    reads everything again. The ledger stays: it is the history of what was published."""
    from .leases import fence

    with conn.transaction():
        fence(conn, mailbox_id)
        conn.execute("DELETE FROM fetch_cursors WHERE mailbox_id = %s", (mailbox_id,))
        conn.execute("DELETE FROM pop3_uidls WHERE mailbox_id = %s", (mailbox_id,))


LedgerRow = tuple[str, str | None, datetime, str | None]  # outcome, reason, fetched_at, Message-ID


def ledger_rows(conn: Any, mailbox_id: str, folder: str, uidvalidity: int) -> dict[int, LedgerRow]:
    """UID → (outcome, reason, fetched_at, message_id) for one folder generation."""
    rows = conn.execute("SELECT uid, outcome, reason, fetched_at, message_id FROM fetch_ledger WHERE mailbox_id = %s "
                        "AND folder = %s AND uidvalidity = %s", (mailbox_id, folder, uidvalidity))
    return {int(r[0]): (r[1], r[2], r[3], r[4]) for r in rows}
