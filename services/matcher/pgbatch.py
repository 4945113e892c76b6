"""One poll batch of decisions in one PostgreSQL transaction (PostgresState.decide_batch).

The order inside the transaction: lock every mailbox of the batch (its ``matcher_mailbox_state``
row, in sorted order so two replicas with overlapping batches queue instead of deadlocking), read
the batch's stored decisions in one query, read what the others may look up (batch.BatchView, one
query per table), decide them in record order, then write every decision and state change with one
``INSERT ... SELECT FROM unnest(arrays)`` per table. Reads happen after the locks are held, so a replica that
waited for another's batch sees all of it. Nothing is committed until the whole batch is decided.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from ..common import metrics
from ..common.identity import bounded_key
from .batch import BatchView, DecisionKey, Entry, Outcome, Pending, decide_all, stored_is_current
from .decision import CounterKind, Decision


def key(value: str, kind: str) -> str:
    """``value`` as the state tables store it: a Message-ID, thread root or sender too long for an
    index is stored by its digest (the same on every replica and replay, so threads still join);
    counted. Lookups use ``bounded_key`` itself."""
    bounded = bounded_key(value)
    if bounded is not value:
        metrics.KEYS_DIGESTED.labels(kind=kind).inc()
    return bounded


def lock_mailboxes(conn: Any, mailboxes: Collection[str]) -> dict[str, int]:
    """Lock (making if new) every mailbox's row, in sorted order; their round-robin positions."""
    rows = conn.execute("INSERT INTO matcher_mailbox_state (mailbox_id) "
                        "SELECT m FROM unnest(%s::text[]) AS m ORDER BY m "
                        "ON CONFLICT (mailbox_id) DO UPDATE SET mailbox_id = EXCLUDED.mailbox_id "
                        "RETURNING mailbox_id, round_robin_position", (sorted(set(mailboxes)),)).fetchall()
    return {m: int(p) for m, p in rows}


def stored_decisions(conn: Any, keys: Sequence[DecisionKey]) -> dict[DecisionKey, Decision]:
    rows = conn.execute("SELECT d.mailbox_id, d.email_id, d.decision FROM matcher_decisions d "
                        "JOIN unnest(%s::text[], %s::uuid[]) AS k(m, e) ON d.mailbox_id = k.m AND d.email_id = k.e",
                        ([m for m, _ in keys], [e for _, e in keys])).fetchall()
    return {(m, e): Decision.model_validate(d) for m, e, d in rows}


class PgLoader:
    """batch.Loader in the open transaction of ``conn``."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def threads(self, keys: Sequence[str]) -> Iterable[tuple[str, str, str]]:
        return self.conn.execute(  # type: ignore[no-any-return]
            "SELECT key, entity_type, entity_id FROM matcher_threads WHERE key = ANY(%s)", (list(keys),)).fetchall()

    def cases(self, pairs: Sequence[tuple[str, str]]) -> Iterable[tuple[str, str, str, str]]:
        return self.conn.execute(  # type: ignore[no-any-return]
            "SELECT c.mailbox_id, c.thread_root, c.case_id, c.number FROM matcher_cases c "
            "JOIN unnest(%s::text[], %s::text[]) AS k(m, r) ON c.mailbox_id = k.m AND c.thread_root = k.r",
            ([m for m, _ in pairs], [r for _, r in pairs])).fetchall()

    def leads(self, pairs: Sequence[tuple[str, str]]) -> Iterable[tuple[str, str, str]]:
        return self.conn.execute(  # type: ignore[no-any-return]
            "SELECT l.mailbox_id, l.sender, l.lead_id FROM matcher_leads l "
            "JOIN unnest(%s::text[], %s::text[]) AS k(m, s) ON l.mailbox_id = k.m AND l.sender = k.s",
            ([m for m, _ in pairs], [s for _, s in pairs])).fetchall()

    def events(self, pairs: Sequence[tuple[str, str]], since: datetime
               ) -> Iterable[tuple[str, CounterKind, uuid.UUID, str, datetime]]:
        return self.conn.execute(  # type: ignore[no-any-return]
            "SELECT e.mailbox_id, e.kind, e.email_id, e.sender, e.at FROM matcher_sender_events e "
            "JOIN unnest(%s::text[], %s::text[]) AS k(m, s) ON e.mailbox_id = k.m AND e.sender = k.s "
            "WHERE e.at >= %s", ([m for m, _ in pairs], [s for _, s in pairs], since)).fetchall()

    def assigned_cases(self, mailbox_id: str, users: Collection[str]) -> list[tuple[str, str]]:
        # A week bounds the scan: the CRM publishes the cases it received long before that.
        rows = self.conn.execute("SELECT case_id, assignee FROM matcher_cases WHERE mailbox_id = %s "
                                 "AND assignee = ANY(%s) AND created_at > now() - interval '7 days'",
                                 (mailbox_id, list(users))).fetchall()
        return [(r[0], r[1]) for r in rows]


def decide_in_transaction(conn: Any, items: Sequence[Pending]) -> Outcome:
    """The batch's decisions, its writes made in ``conn``'s open transaction (the caller commits).
    Raises psycopg errors and what ``compute`` raises."""
    positions = lock_mailboxes(conn, [i.mailbox_id for i in items])
    stored = stored_decisions(conn, list(dict.fromkeys(i.key for i in items)))
    view = BatchView(PgLoader(conn), dict(positions))
    view.prefetch([i for i in items if not stored_is_current(stored.get(i.key), i.generation)])
    outcome = decide_all(items, stored, view, view.record)
    write(conn, outcome.entries, positions, view.round_robin)
    return outcome


def write(conn: Any, entries: Sequence[Entry], before: dict[str, int], after: dict[str, int]) -> None:
    """Every entry's writes, one statement per table over arrays (``unnest``; measured faster than a
    pipelined ``executemany``: bench/match_state.py), ON CONFLICT DO NOTHING as one email at a time
    did: the first writer of a key wins."""
    threads: set[tuple[str, str, str, str]] = set()
    cases, leads, events = [], [], []
    decisions: dict[DecisionKey, str] = {}
    for e in entries:
        m, email, w = e.item.mailbox_id, e.item.email_id, e.writes
        threads.update((key(k, "thread_key"), lk.entity_type, lk.entity_id, m) for k, lk in w.thread)
        if w.case:
            c = w.case
            cases.append((c.case_id, c.mailbox_id, key(c.root, "thread_root"), c.number, c.assignee, c.team,
                          key(c.sender, "sender"), email))
        if w.lead:
            leads.append((w.lead[0], key(w.lead[1], "sender"), w.lead[2]))
        events += [(m, kind, email, key(sender, "sender"), e.item.at) for kind, sender in w.events]
        decisions[e.item.key] = e.decision.model_dump_json(by_alias=True)  # the last one wins
    advanced = [(m, after[m] - before.get(m, 0)) for m in sorted(after) if after[m] != before.get(m, 0)]
    # The thread index is shared by every mailbox: rows in key order, so two replicas inserting the
    # same keys wait for each other instead of deadlocking (the rest is under the mailbox locks).
    for sql, types, rows in (
        ("INSERT INTO matcher_threads (key, entity_type, entity_id, mailbox_id) SELECT * FROM {} "
         "ON CONFLICT DO NOTHING", "text text text text", sorted(threads)),
        ("INSERT INTO matcher_cases (case_id, mailbox_id, thread_root, number, assignee, team, sender, created_by) "
         "SELECT * FROM {} ON CONFLICT DO NOTHING", "text text text text text text text uuid", cases),
        ("INSERT INTO matcher_leads (mailbox_id, sender, lead_id) SELECT * FROM {} ON CONFLICT DO NOTHING",
         "text text text", leads),
        ("UPDATE matcher_mailbox_state s SET round_robin_position = s.round_robin_position + k.n "
         "FROM {} AS k(m, n) WHERE s.mailbox_id = k.m", "text bigint", advanced),
        ("INSERT INTO matcher_sender_events (mailbox_id, kind, email_id, sender, at) SELECT * FROM {} "
         "ON CONFLICT DO NOTHING", "text text uuid text timestamptz", events),
        ("INSERT INTO matcher_decisions (mailbox_id, email_id, decision) SELECT m, e, d::jsonb FROM {} AS k(m, e, d) "
         "ON CONFLICT (mailbox_id, email_id) DO UPDATE SET decision = EXCLUDED.decision, "
         "decided_at = now()",  # only reached for a newer generation, under the lock
         "text uuid text", [(m, e, d) for (m, e), d in decisions.items()]),
    ):
        if rows:
            columns = list(zip(*rows, strict=True))
            arrays = ", ".join(f"%b::{t}[]" for t in types.split())  # binary: no escaping
            conn.execute(sql.format(f"unnest({arrays})"), [list(c) for c in columns])
