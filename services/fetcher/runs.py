"""The audit of runs: which replica read which mailbox when, and how it ended."""

from __future__ import annotations

from typing import Any

from .leases import Lease


def start(conn: Any, lease: Lease) -> int:
    row = conn.execute("INSERT INTO fetch_runs (mailbox_id, replica, lease_generation) VALUES (%s, %s, %s) "
                       "RETURNING run_id", (lease.mailbox_id, lease.owner, lease.generation)).fetchone()
    return int(row[0])


def finish(conn: Any, run_id: int, outcome: str, messages: int) -> None:
    conn.execute("UPDATE fetch_runs SET ended_at = clock_timestamp(), outcome = %s, messages = %s WHERE run_id = %s",
                 (outcome, messages, run_id))
