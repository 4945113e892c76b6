"""The matcher's state: the thread index (Message-ID and thread root → case, task and lead links,
across mailboxes) and per-mailbox counters (round-robin position, autoresponses and cases per
sender), with the decision of each (mailbox, email) so a replay repeats it instead of deciding again.

``StateStore.decide_once`` is the one entry: under the mailbox's lock it returns the stored decision
of a replayed email, else computes one against a view of the state and records it together with the
writes it implies, atomically. ``MemoryState`` serves the CLI and the unit tests; ``PostgresState``
(pgstate.py) the service.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Protocol

from ..common.messages import Link
from .decide import CounterKind, Decision, StateView, Writes

Compute = Callable[[StateView], tuple[Decision, Writes]]


class StateStore(Protocol):
    def decide_once(self, mailbox_id: str, email_id: uuid.UUID, at: datetime, compute: Compute,
                    generation: int = 0) -> Decision: ...


def stored_is_current(stored: Decision | None, generation: int) -> bool:
    """Whether the stored decision answers a record of ``generation``: it does unless a reindex
    newer than it asks for a new one (a crash replay carries the generation it was decided for)."""
    return stored is not None and stored.generation >= generation


def decided_anew(stored: Decision | None, decision: Decision, writes: Writes,
                 generation: int) -> tuple[Decision, Writes]:
    """``compute``'s result for ``generation``. Deciding an email again (a reindex after a directory
    change) re-links it, but what was said to its sender stays said: no second autoresponse."""
    decision = decision.model_copy(update={"generation": generation})
    if stored is None:
        return decision, writes
    decision = decision.model_copy(update={
        "autoreply": None, "actions": [a for a in decision.actions if a.kind != "autoreply_queued"]})
    writes.events = [(kind, sender) for kind, sender in writes.events if kind != "autoreply"]
    return decision, writes


class MemoryState:
    """Everything in dicts: for ``mailpipe match`` and tests. Not durable."""

    def __init__(self) -> None:
        self.decisions: dict[tuple[str, uuid.UUID], Decision] = {}
        self.threads: dict[str, dict[tuple[str, str], Link]] = {}
        self.cases: dict[tuple[str, str], tuple[str, str, str | None]] = {}  # (mailbox, root) → (id, number, user)
        self.leads: dict[tuple[str, str], str] = {}
        self.round_robin: dict[str, int] = {}
        self.events: list[tuple[str, CounterKind, str, datetime]] = []

    # StateView
    def thread_links(self, keys: Sequence[str]) -> list[Link]:
        return [lk for k in keys for lk in self.threads.get(k, {}).values()]

    def case_of_thread(self, mailbox_id: str, root: str) -> tuple[str, str] | None:
        c = self.cases.get((mailbox_id, root))
        return (c[0], c[1]) if c else None

    def lead_of_sender(self, mailbox_id: str, sender: str) -> str | None:
        return self.leads.get((mailbox_id, sender))

    def round_robin_position(self, mailbox_id: str) -> int:
        return self.round_robin.get(mailbox_id, 0)

    def count_since(self, mailbox_id: str, kind: CounterKind, sender: str, since: datetime) -> int:
        return sum(1 for m, k, s, t in self.events if m == mailbox_id and k == kind and s == sender and t >= since)

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
        for k, lk in writes.thread:
            self.threads.setdefault(k, {})[(lk.entity_type, lk.entity_id)] = lk
        if writes.case:
            c = writes.case
            self.cases.setdefault((c.mailbox_id, c.root), (c.case_id, c.number, c.assignee))
        if writes.lead:
            self.leads.setdefault((writes.lead[0], writes.lead[1]), writes.lead[2])
        if writes.advance_round_robin:
            self.round_robin[mailbox_id] = self.round_robin.get(mailbox_id, 0) + 1
        for kind, sender in writes.events:
            self.events.append((mailbox_id, kind, sender, at))
        self.decisions[key] = decision
        return decision
