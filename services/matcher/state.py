"""The matcher's state: the thread index (Message-ID and thread root → case, task and lead links,
across mailboxes) and per-mailbox counters (round-robin position, autoresponses and cases per
sender), with the decision of each (mailbox, email) so a replay repeats it instead of deciding again.

``StateStore.decide_once`` decides one email: under the mailbox's lock it returns the stored
decision of a replayed email, else computes one against a view of the state and records it together
with the writes it implies, atomically. ``StateStore.decide_batch`` does the same for a poll batch
at once (batch.py), as one atomic step. ``MemoryState`` serves the CLI and the unit tests;
``PostgresState`` (pgstate.py) the service.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from ..common.errors import PoisonMessage
from ..common.identity import bounded_key
from ..common.messages import Link
from .batch import BatchView, Compute, Pending, decide_all, decided_anew, stored_is_current
from .decision import CounterKind, Decision, Writes

__all__ = ["Compute", "MemoryState", "Pending", "StateStore", "decided_anew", "stored_is_current"]


class StateStore(Protocol):
    def decide_once(self, mailbox_id: str, email_id: uuid.UUID, at: datetime, compute: Compute,
                    generation: int = 0) -> Decision: ...

    def decide_batch(self, items: Sequence[Pending]) -> list[Decision | PoisonMessage]:
        """Each item's decision in order, as ``decide_once`` one after the other would give them;
        a PoisonMessage for an item whose values the store refuses (the others still decided)."""


class MemoryState:
    """Everything in dicts: for ``mailpipe match`` and tests. Not durable. Keys are stored as the
    database stores them (``bounded_key``), so both stores behave alike for any value."""

    def __init__(self) -> None:
        self.decisions: dict[tuple[str, uuid.UUID], Decision] = {}
        self.threads: dict[str, dict[tuple[str, str], Link]] = {}
        self.cases: dict[tuple[str, str], tuple[str, str, str | None]] = {}  # (mailbox, root) → (id, number, user)
        self.leads: dict[tuple[str, str], str] = {}
        self.round_robin: dict[str, int] = {}
        # (mailbox, kind, email) → (sender, at): one event per email, as the table's primary key
        self.events: dict[tuple[str, CounterKind, uuid.UUID], tuple[str, datetime]] = {}

    # StateView
    def thread_links(self, keys: Sequence[str]) -> list[Link]:
        return [lk for k in dict.fromkeys(map(bounded_key, keys)) for lk in self.threads.get(k, {}).values()]

    def case_of_thread(self, mailbox_id: str, root: str) -> tuple[str, str] | None:
        c = self.cases.get((mailbox_id, bounded_key(root)))
        return (c[0], c[1]) if c else None

    def lead_of_sender(self, mailbox_id: str, sender: str) -> str | None:
        return self.leads.get((mailbox_id, bounded_key(sender)))

    def round_robin_position(self, mailbox_id: str) -> int:
        return self.round_robin.get(mailbox_id, 0)

    def count_since(self, mailbox_id: str, kind: CounterKind, sender: str, since: datetime) -> int:
        sender = bounded_key(sender)
        return sum(1 for (m, k, _), (s, t) in self.events.items()
                   if m == mailbox_id and k == kind and s == sender and t >= since)

    def assigned_cases(self, mailbox_id: str, users: Collection[str]) -> list[tuple[str, str]]:
        return [(cid, user) for (m, _), (cid, _, user) in self.cases.items()
                if m == mailbox_id and user is not None and user in users]

    # StateStore
    def decide_once(self, mailbox_id: str, email_id: uuid.UUID, at: datetime, compute: Compute,
                    generation: int = 0) -> Decision:
        key = (mailbox_id, email_id)
        stored = self.decisions.get(key)
        if stored is not None and stored_is_current(stored, generation):
            return stored
        decision, writes = decided_anew(stored, *compute(self), generation)
        self._apply(mailbox_id, email_id, at, writes)
        self.decisions[key] = decision
        return decision

    def decide_batch(self, items: Sequence[Pending]) -> list[Decision | PoisonMessage]:
        """Through the same batch view as PostgresState (read at once, overlaid with the batch's
        writes), applied only when every item is decided: all or nothing, like its transaction."""
        view = BatchView(_MemoryLoader(self), dict(self.round_robin))
        view.prefetch(items)
        outcome = decide_all(items, dict(self.decisions), view, view.record)
        for entry in outcome.entries:
            item = entry.item
            self._apply(item.mailbox_id, item.email_id, item.at, entry.writes)
            self.decisions[item.key] = entry.decision
        return list(outcome.decisions)

    def _apply(self, mailbox_id: str, email_id: uuid.UUID, at: datetime, writes: Writes) -> None:
        for k, lk in writes.thread:
            self.threads.setdefault(bounded_key(k), {})[(lk.entity_type, lk.entity_id)] = lk
        if writes.case:
            c = writes.case
            self.cases.setdefault((c.mailbox_id, bounded_key(c.root)), (c.case_id, c.number, c.assignee))
        if writes.lead:
            self.leads.setdefault((writes.lead[0], bounded_key(writes.lead[1])), writes.lead[2])
        if writes.advance_round_robin:
            self.round_robin[mailbox_id] = self.round_robin.get(mailbox_id, 0) + 1
        for kind, sender in writes.events:
            self.events.setdefault((mailbox_id, kind, email_id), (bounded_key(sender), at))


class _MemoryLoader:
    """batch.Loader over a MemoryState's dicts."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    def threads(self, keys: Sequence[str]) -> Iterable[tuple[str, str, str]]:
        return [(k, t, i) for k in keys for (t, i) in self.state.threads.get(k, {})]

    def cases(self, pairs: Sequence[tuple[str, str]]) -> Iterable[tuple[str, str, str, str]]:
        return [(m, r, c[0], c[1]) for m, r in pairs if (c := self.state.cases.get((m, r)))]

    def leads(self, pairs: Sequence[tuple[str, str]]) -> Iterable[tuple[str, str, str]]:
        return [(m, s, lead) for m, s in pairs if (lead := self.state.leads.get((m, s)))]

    def events(self, pairs: Sequence[tuple[str, str]], since: datetime
               ) -> Iterable[tuple[str, CounterKind, uuid.UUID, str, datetime]]:
        wanted = set(pairs)
        return [(m, k, e, s, at) for (m, k, e), (s, at) in self.state.events.items()
                if (m, s) in wanted and at >= since]

    def assigned_cases(self, mailbox_id: str, users: Collection[str]) -> list[tuple[str, str]]:
        return self.state.assigned_cases(mailbox_id, users)
