"""Accounts in PostgreSQL: the configuration as JSON, the secrets sealed, the schedule beside them.

Every function takes a psycopg connection and blocks on it; psycopg errors propagate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...common.patterns import AS_STORED  # saved before patterns were checked: still loads
from .model import Account
from .secrets import SecretBox


@dataclass(frozen=True)
class AccountStatus:
    """The scheduling state an operator sees in ``accounts list``."""

    next_run_at: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    failures: int
    last_error_kind: str | None
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None


@dataclass(frozen=True)
class StoredAccount:
    account: Account
    sealed_secrets: bytes
    status: AccountStatus


_SELECT = """
SELECT a.config, a.secrets, s.next_run_at, s.lease_owner, s.lease_expires_at, s.failures,
       s.last_error_kind, s.last_error, s.last_error_at, s.last_success_at
FROM mailbox_accounts a LEFT JOIN mailbox_schedule s USING (mailbox_id)
"""


def _row(row: Any) -> StoredAccount:
    return StoredAccount(Account.model_validate(row[0], context=AS_STORED), bytes(row[1]), AccountStatus(*row[2:]))


def save(conn: Any, account: Account, sealed_secrets: bytes) -> bool:
    """Insert or replace ``account``; returns True when it is new. A changed account is due at once."""
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO mailbox_accounts (mailbox_id, config, secrets) VALUES (%s, %s, %s) "
            "ON CONFLICT (mailbox_id) DO UPDATE SET config = EXCLUDED.config, secrets = EXCLUDED.secrets, "
            "updated_at = now() RETURNING (xmax = 0)",
            (account.id, account.model_dump_json(), sealed_secrets)).fetchone()
        conn.execute("INSERT INTO mailbox_schedule (mailbox_id) VALUES (%s) ON CONFLICT (mailbox_id) "
                     "DO UPDATE SET next_run_at = now(), failures = 0", (account.id,))
    return bool(row[0])


def get(conn: Any, mailbox_id: str) -> StoredAccount | None:
    row = conn.execute(_SELECT + " WHERE a.mailbox_id = %s", (mailbox_id,)).fetchone()
    return _row(row) if row else None


def all_accounts(conn: Any) -> list[StoredAccount]:
    return [_row(r) for r in conn.execute(_SELECT + " ORDER BY a.mailbox_id")]


def remove(conn: Any, mailbox_id: str) -> bool:
    """Delete the account, its schedule, cursors, ledger and UIDL set; True when it existed. What was
    already published stays published (storage owns those emails and their retention)."""
    with conn.transaction():
        for table in ("fetch_cursors", "fetch_ledger", "pop3_uidls"):
            conn.execute(f"DELETE FROM {table} WHERE mailbox_id = %s", (mailbox_id,))
        return bool(conn.execute("DELETE FROM mailbox_accounts WHERE mailbox_id = %s", (mailbox_id,)).rowcount)


def update_secrets(conn: Any, mailbox_id: str, sealed_secrets: bytes) -> None:
    """Replace the sealed secrets only (an OAuth2 refresh, a key rotation)."""
    conn.execute("UPDATE mailbox_accounts SET secrets = %s WHERE mailbox_id = %s", (sealed_secrets, mailbox_id))


def rotate_all(conn: Any, box: SecretBox) -> int:
    """Re-seal every account's secrets with the first key; returns how many."""
    with conn.transaction():
        rows = conn.execute("SELECT mailbox_id, secrets FROM mailbox_accounts FOR UPDATE").fetchall()
        for mailbox_id, token in rows:
            update_secrets(conn, mailbox_id, box.rotate(bytes(token)))
    return len(rows)


def rename_folder(conn: Any, mailbox_id: str, old: str, new: str) -> None:
    """Point the account's folder ``old`` at its new server name ``new`` (a rename followed)."""
    with conn.transaction():
        row = conn.execute("SELECT config FROM mailbox_accounts WHERE mailbox_id = %s FOR UPDATE",
                           (mailbox_id,)).fetchone()
        if row is None:
            return
        account = Account.model_validate(row[0], context=AS_STORED)
        folders = [f.model_copy(update={"name": new}) if f.name == old else f for f in account.folders]
        conn.execute("UPDATE mailbox_accounts SET config = %s, updated_at = now() WHERE mailbox_id = %s",
                     (account.model_copy(update={"folders": folders}).model_dump_json(), mailbox_id))
