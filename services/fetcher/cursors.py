"""Per (mailbox, folder) read position in PostgreSQL."""

from __future__ import annotations

from typing import Any


def load(conn: Any, mailbox_id: str, folder: str) -> tuple[int, int] | None:
    """``(uidvalidity, last_uid)`` or None when the folder was never read."""
    row = conn.execute("SELECT uidvalidity, last_uid FROM fetch_cursors WHERE mailbox_id = %s AND folder = %s",
                       (mailbox_id, folder)).fetchone()
    return (int(row[0]), int(row[1])) if row else None


def save(conn: Any, mailbox_id: str, folder: str, uidvalidity: int, last_uid: int) -> None:
    """Advance the cursor (call only after Kafka acknowledged every record up to ``last_uid``)."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO fetch_cursors (mailbox_id, folder, uidvalidity, last_uid) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (mailbox_id, folder) DO UPDATE SET uidvalidity = EXCLUDED.uidvalidity, "
            "last_uid = EXCLUDED.last_uid, updated_at = now()",
            (mailbox_id, folder, uidvalidity, last_uid))


def start_after(saved: tuple[int, int] | None, uidvalidity: int) -> int:
    """Pure: the UID to read after. A changed UIDVALIDITY means the server renumbered the folder,
    so everything is read again; ``email_id`` dedupe downstream absorbs the repeats."""
    if saved is None or saved[0] != uidvalidity:
        return 0
    return saved[1]
