"""Leases in PostgreSQL: any number of fetcher replicas, never two on one mailbox at once.

A replica claims due mailboxes whose lease is free or expired with ``FOR UPDATE SKIP LOCKED``
(replicas never wait on each other), keeps them alive with heartbeats, and releases them with the
next run time (the poll interval on success, an exponential backoff on failure). Every claim
bumps ``lease_generation``; writes made under a lease check owner and generation (``guard``), so
a replica that stalled past its lease cannot advance state the new owner now holds. Times are the
database's clock, never a replica's. Every function blocks on the connection; psycopg errors
propagate.

An operator tool that needs a mailbox another holds asks for it (``request_handover``): the
holder sees the request (``handover_requested``), ends its run at the next batch or IDLE wake-up,
and ``release`` gives the lease straight to the tool with a new generation, so neither another
replica nor the old holder can read the mailbox while the tool does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from threading import Event
from typing import Any

from .errors import LeaseLost, MailboxUnavailable

HANDOVER_WAIT_SECONDS = 30.0  # how long a tool waits, by default, for a holder to hand a mailbox over


@dataclass
class Lease:
    """A mailbox held by this replica. ``lost`` is set when a heartbeat finds it taken over."""

    mailbox_id: str
    owner: str
    generation: int
    taken_over: bool = False
    lost: Event = field(default_factory=Event, repr=False)
    handover: Event = field(default_factory=Event, repr=False)  # a tool asked for it: end the run


_CLAIM = """
WITH due AS (
    SELECT s.mailbox_id, s.lease_owner IS NOT NULL AS taken_over
    FROM mailbox_schedule s JOIN mailbox_accounts a USING (mailbox_id)
    WHERE (a.config ->> 'enabled')::boolean
      AND s.next_run_at <= now()
      AND (s.lease_expires_at IS NULL OR s.lease_expires_at < now())
      AND NOT coalesce(s.handover_until > now(), false)  -- a tool waits for it: the tool goes first
    ORDER BY s.next_run_at
    LIMIT %(limit)s
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE mailbox_schedule s
SET lease_owner = %(owner)s, lease_expires_at = now() + make_interval(secs => %(ttl)s),
    lease_generation = s.lease_generation + 1
FROM due WHERE s.mailbox_id = due.mailbox_id
RETURNING s.mailbox_id, s.lease_generation, due.taken_over
"""


def claim(conn: Any, owner: str, limit: int, ttl_seconds: float) -> list[Lease]:
    """Take up to ``limit`` due mailboxes. A lease still carrying an owner was not released: its
    replica died, and the lease is taken over once it expired."""
    if limit <= 0:
        return []
    with conn.transaction():
        rows = conn.execute(_CLAIM, {"limit": limit, "owner": owner, "ttl": ttl_seconds}).fetchall()
    return [Lease(mailbox_id, owner, int(gen), bool(taken)) for mailbox_id, gen, taken in rows]


def heartbeat(conn: Any, lease: Lease, ttl_seconds: float) -> bool:
    """Extend the lease; False (and ``lease.lost`` set) when another replica holds it now."""
    kept: bool = conn.execute(
        "UPDATE mailbox_schedule SET lease_expires_at = now() + make_interval(secs => %s) "
        "WHERE mailbox_id = %s AND lease_owner = %s AND lease_generation = %s AND lease_expires_at > now()",
        (ttl_seconds, lease.mailbox_id, lease.owner, lease.generation)).rowcount == 1
    if not kept:
        lease.lost.set()
    return kept


def guard(conn: Any, lease: Lease) -> None:
    """Inside a transaction: lock the schedule row and check the lease is still ours. Raises
    LeaseLost otherwise, so the caller's transaction (a cursor advance) rolls back."""
    row = conn.execute(
        "SELECT 1 FROM mailbox_schedule WHERE mailbox_id = %s AND lease_owner = %s AND lease_generation = %s "
        "AND lease_expires_at > now() FOR UPDATE", (lease.mailbox_id, lease.owner, lease.generation)).fetchone()
    if row is None:
        lease.lost.set()
        raise LeaseLost(lease.mailbox_id)


def backoff_seconds(failures: int, base_seconds: float, max_seconds: float) -> float:
    """Pure: the wait after the ``failures``-th consecutive failure (30 s, 60 s, 120 s, ... capped)."""
    return float(min(max_seconds, base_seconds * 2 ** max(0, failures - 1)))


_PENDING = "handover_until > now()"  # a tool's request still waiting for an answer
_RELEASE = f"""
UPDATE mailbox_schedule SET
    lease_owner = CASE WHEN {_PENDING} THEN handover_to END,
    lease_expires_at = CASE WHEN {_PENDING} THEN now() + make_interval(secs => handover_lease_seconds) END,
    lease_generation = lease_generation + CASE WHEN {_PENDING} THEN 1 ELSE 0 END,
    handover_to = NULL, handover_until = NULL, handover_lease_seconds = NULL,
    failures = 0, last_success_at = now(), next_run_at = now() + make_interval(secs => %s)
WHERE mailbox_id = %s AND lease_owner = %s AND lease_generation = %s
RETURNING lease_owner
"""


def release(conn: Any, lease: Lease, next_run_seconds: float) -> str | None:
    """Give the mailbox back after a successful run; due again in ``next_run_seconds``. When a
    tool is waiting for it, the lease goes to that tool in the same statement (no replica can
    claim it in between); returns the tool's owner name then, else None."""
    row = conn.execute(_RELEASE, (next_run_seconds, lease.mailbox_id, lease.owner, lease.generation)).fetchone()
    return row[0] if row else None


def release_failed(conn: Any, lease: Lease, error: MailboxUnavailable, base_seconds: float,
                   max_seconds: float) -> float:
    """Give the mailbox back after a failure, recording the error for ``accounts list`` and backing
    off exponentially. Returns the backoff chosen."""
    with conn.transaction():
        row = conn.execute("SELECT failures FROM mailbox_schedule WHERE mailbox_id = %s AND lease_owner = %s "
                           "AND lease_generation = %s FOR UPDATE",
                           (lease.mailbox_id, lease.owner, lease.generation)).fetchone()
        if row is None:
            return 0.0
        delay = backoff_seconds(int(row[0]) + 1, base_seconds, max_seconds)
        conn.execute(
            "UPDATE mailbox_schedule SET lease_owner = NULL, lease_expires_at = NULL, failures = failures + 1, "
            "last_error_kind = %s, last_error = %s, last_error_at = now(), "
            "next_run_at = now() + make_interval(secs => %s) WHERE mailbox_id = %s",
            (error.kind, f"{error.field}: {error.cause}"[:1000], delay, lease.mailbox_id))
    return delay


def claim_one(conn: Any, owner: str, mailbox_id: str, ttl_seconds: float) -> Lease | None:
    """Take ``mailbox_id``'s lease for an operator tool (due or not); None while another holds it."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE mailbox_schedule SET lease_owner = %s, lease_expires_at = now() + make_interval(secs => %s), "
            "lease_generation = lease_generation + 1 WHERE mailbox_id = %s "
            "AND (lease_expires_at IS NULL OR lease_expires_at < now()) RETURNING lease_generation",
            (owner, ttl_seconds, mailbox_id)).fetchone()
    return Lease(mailbox_id, owner, int(row[0])) if row else None


def request_handover(conn: Any, mailbox_id: str, requester: str, wait_seconds: float, lease_seconds: float) -> bool:
    """Ask the holder of ``mailbox_id`` to give its lease to ``requester`` within ``wait_seconds``.
    False while another tool's request is pending (one request per mailbox at a time)."""
    done: bool = conn.execute(
        "UPDATE mailbox_schedule SET handover_to = %s, handover_until = now() + make_interval(secs => %s), "
        "handover_lease_seconds = %s WHERE mailbox_id = %s "
        "AND (handover_to IS NULL OR handover_to = %s OR handover_until <= now())",
        (requester, wait_seconds, lease_seconds, mailbox_id, requester)).rowcount == 1
    return done


def withdraw_handover(conn: Any, mailbox_id: str, requester: str) -> None:
    """Take back ``requester``'s request (answered or not)."""
    conn.execute("UPDATE mailbox_schedule SET handover_to = NULL, handover_until = NULL, "
                 "handover_lease_seconds = NULL WHERE mailbox_id = %s AND handover_to = %s", (mailbox_id, requester))


def handed_over(conn: Any, mailbox_id: str, requester: str) -> Lease | None:
    """The lease the holder gave ``requester``, once it did."""
    row = conn.execute("SELECT lease_generation FROM mailbox_schedule WHERE mailbox_id = %s AND lease_owner = %s "
                       "AND lease_expires_at > now()", (mailbox_id, requester)).fetchone()
    return Lease(mailbox_id, requester, int(row[0])) if row else None


def handover_requested(conn: Any, held: list[Lease]) -> list[Lease]:
    """Which of ``held`` a tool is waiting for (one primary-key lookup per lease: cheap enough
    to ask every claim interval)."""
    if not held:
        return []
    rows = conn.execute(f"SELECT mailbox_id, lease_generation FROM mailbox_schedule WHERE mailbox_id = ANY(%s) "
                        f"AND {_PENDING}", ([lease.mailbox_id for lease in held],)).fetchall()
    asked = {(m, int(g)) for m, g in rows}
    return [lease for lease in held if (lease.mailbox_id, lease.generation) in asked]


def holder(conn: Any, mailbox_id: str) -> tuple[str | None, Any]:
    """Who holds ``mailbox_id``'s lease now, and until when (the database's time)."""
    row = conn.execute("SELECT lease_owner, lease_expires_at FROM mailbox_schedule WHERE mailbox_id = %s",
                       (mailbox_id,)).fetchone()
    return (row[0], row[1]) if row else (None, None)


def hand_back(conn: Any, lease: Lease) -> None:
    """Release a tool's lease without touching the schedule."""
    conn.execute("UPDATE mailbox_schedule SET lease_owner = NULL, lease_expires_at = NULL "
                 "WHERE mailbox_id = %s AND lease_owner = %s AND lease_generation = %s",
                 (lease.mailbox_id, lease.owner, lease.generation))


def fence(conn: Any, mailbox_id: str) -> None:
    """Inside a transaction: invalidate whatever lease exists (its holder's next write fails with
    LeaseLost) and make the mailbox due now. Waits for a holder's checkpoint in progress."""
    conn.execute("UPDATE mailbox_schedule SET lease_generation = lease_generation + 1, lease_owner = NULL, "
                 "lease_expires_at = NULL, next_run_at = now(), failures = 0 WHERE mailbox_id = %s", (mailbox_id,))


def guard_now(conn: Any, lease: Lease) -> None:
    """``guard`` in a transaction of its own: raises LeaseLost unless the lease is still ours."""
    with conn.transaction():
        guard(conn, lease)
