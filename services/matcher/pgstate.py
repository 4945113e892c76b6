"""PostgresState: the matcher's state in PostgreSQL, each decision and its writes in one transaction.

Why PostgreSQL and not faust tables: measured by ``bench/faust_state.py`` under issue 5's crash test
(docs/matcher.md, "State"). faust-streaming 0.15.3 with exactly_once doubled cases, assignees and
autoresponses; with at_least_once it stopped committing offsets after the first restart. The
thread index must also be read across mailboxes, and a GlobalTable only sees another partition's
writes after its changelog lag. This module held every count of that test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from ..common.adapters.postgres_errors import postgres_boundary
from ..common.errors import PoisonMessage
from ..common.identity import bounded_key
from ..common.messages import Link
from .batch import Compute, Pending, decided_anew, stored_is_current
from .decision import CounterKind, Decision
from .pgbatch import decide_in_transaction, key


class _View:
    """StateView over one open transaction."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def thread_links(self, keys: Sequence[str]) -> list[Link]:
        rows = self.conn.execute("SELECT entity_type, entity_id FROM matcher_threads WHERE key = ANY(%s) "
                                 "ORDER BY entity_type, entity_id", ([bounded_key(k) for k in keys],)).fetchall()
        return [Link(entity_type=t, entity_id=i, reason="thread") for t, i in rows]

    def case_of_thread(self, mailbox_id: str, root: str) -> tuple[str, str] | None:
        row = self.conn.execute("SELECT case_id, number FROM matcher_cases WHERE mailbox_id = %s AND thread_root = %s",
                                (mailbox_id, bounded_key(root))).fetchone()
        return (row[0], row[1]) if row else None

    def lead_of_sender(self, mailbox_id: str, sender: str) -> str | None:
        row = self.conn.execute("SELECT lead_id FROM matcher_leads WHERE mailbox_id = %s AND sender = %s",
                                (mailbox_id, bounded_key(sender))).fetchone()
        return row[0] if row else None

    def round_robin_position(self, mailbox_id: str) -> int:
        row = self.conn.execute("SELECT round_robin_position FROM matcher_mailbox_state WHERE mailbox_id = %s",
                                (mailbox_id,)).fetchone()
        return int(row[0]) if row else 0

    def count_since(self, mailbox_id: str, kind: CounterKind, sender: str, since: datetime) -> int:
        row = self.conn.execute("SELECT count(*) FROM matcher_sender_events WHERE mailbox_id = %s AND kind = %s "
                                "AND sender = %s AND at >= %s",
                                (mailbox_id, kind, bounded_key(sender), since)).fetchone()
        return int(row[0])

    def assigned_cases(self, mailbox_id: str, users: Collection[str]) -> list[tuple[str, str]]:
        # A week bounds the scan: the CRM publishes the cases it received long before that.
        rows = self.conn.execute("SELECT case_id, assignee FROM matcher_cases WHERE mailbox_id = %s "
                                 "AND assignee = ANY(%s) AND created_at > now() - interval '7 days'",
                                 (mailbox_id, list(users))).fetchall()
        return [(r[0], r[1]) for r in rows]


class PostgresState:
    """A StateStore on one connection (reconnected by the caller after an error)."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._conn: Any = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def decide_once(self, mailbox_id: str, email_id: uuid.UUID, at: datetime, compute: Compute,
                    generation: int = 0) -> Decision:
        """The stored decision, or ``compute``'s written with its state in one transaction. Blocks
        on PostgreSQL; raises PoisonMessage (a value the database refuses), TransientError or
        DependencyConfigError (``adapters.postgres_errors``)."""
        try:
            with postgres_boundary():
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                return self._decide(self._conn, mailbox_id, email_id, at, compute, generation)
        except Exception:
            self.close()  # a broken connection cannot be reused; the retry reconnects
            raise

    def decide_batch(self, items: Sequence[Pending]) -> list[Decision | PoisonMessage]:
        """Every item's decision, the whole batch in one transaction (pgbatch.py). When PostgreSQL
        refuses a value (poison) the batch is rolled back and redone one transaction per email, so
        only the email at fault gets its PoisonMessage. Blocks on PostgreSQL; raises TransientError
        or DependencyConfigError; anything ``compute`` raises passes through (nothing written)."""
        try:
            with postgres_boundary():
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                with self._conn.transaction():
                    outcome = decide_in_transaction(self._conn, items)
        except PoisonMessage:
            return [self._one(item) for item in items]
        except Exception:
            self.close()
            raise
        return list(outcome.decisions)

    def _one(self, item: Pending) -> Decision | PoisonMessage:
        try:
            return self.decide_once(item.mailbox_id, item.email_id, item.at, item.compute, item.generation)
        except PoisonMessage as exc:
            return exc

    @staticmethod
    def _decide(conn: Any, mailbox_id: str, email_id: uuid.UUID, at: datetime, compute: Compute,
                generation: int) -> Decision:
        with conn.transaction():
            # The mailbox's lock, its row made if new and locked in one statement: decisions of one
            # mailbox never interleave, on any replica.
            conn.execute("INSERT INTO matcher_mailbox_state (mailbox_id) VALUES (%s) "
                         "ON CONFLICT (mailbox_id) DO UPDATE SET mailbox_id = EXCLUDED.mailbox_id", (mailbox_id,))
            row = conn.execute("SELECT decision FROM matcher_decisions WHERE mailbox_id = %s AND email_id = %s",
                               (mailbox_id, email_id)).fetchone()
            stored = Decision.model_validate(row[0]) if row is not None else None
            if stored is not None and stored_is_current(stored, generation):
                return stored
            decision, writes = decided_anew(stored, *compute(_View(conn)), generation)
            with conn.cursor() as cur:
                if writes.thread:
                    cur.executemany("INSERT INTO matcher_threads (key, entity_type, entity_id, mailbox_id) "
                                    "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                                    [(key(k, "thread_key"), lk.entity_type, lk.entity_id, mailbox_id)
                                     for k, lk in writes.thread])
                if writes.case:
                    c = writes.case
                    cur.execute("INSERT INTO matcher_cases (case_id, mailbox_id, thread_root, number, assignee, "
                                "team, sender, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                                "ON CONFLICT DO NOTHING",
                                (c.case_id, c.mailbox_id, key(c.root, "thread_root"), c.number, c.assignee, c.team,
                                 key(c.sender, "sender"), email_id))
                if writes.lead:
                    mailbox, sender, lead = writes.lead
                    cur.execute("INSERT INTO matcher_leads (mailbox_id, sender, lead_id) VALUES (%s, %s, %s) "
                                "ON CONFLICT DO NOTHING", (mailbox, key(sender, "sender"), lead))
                if writes.advance_round_robin:
                    cur.execute("UPDATE matcher_mailbox_state SET round_robin_position = round_robin_position + 1 "
                                "WHERE mailbox_id = %s", (mailbox_id,))
                if writes.events:
                    cur.executemany("INSERT INTO matcher_sender_events (mailbox_id, kind, email_id, sender, at) "
                                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                                    [(mailbox_id, kind, email_id, key(sender, "sender"), at)
                                     for kind, sender in writes.events])
                cur.execute("INSERT INTO matcher_decisions (mailbox_id, email_id, decision) VALUES (%s, %s, %s) "
                            "ON CONFLICT (mailbox_id, email_id) DO UPDATE SET decision = EXCLUDED.decision, "
                            "decided_at = now()",  # only reached for a newer generation, under the lock
                            (mailbox_id, email_id, Jsonb(decision.model_dump(mode="json", by_alias=True))))
            return decision
