"""Deciding a whole poll batch against one read of the state: pure, no I/O of its own.

A store reads what the batch's decisions may ask for at once (``BatchView.prefetch``: thread keys,
cases of the thread roots, leads and recent events of the senders), through a ``Loader`` over its
backend, and ``decide_all`` decides the records in order against that view. Each decision's writes
go into the view before the next record is decided, so a later email of the batch sees what an
earlier one did (the same thread twice, a sender's second email, round-robin) exactly as it would
have seen the committed rows one transaction per email before; the collected ``Entry`` list is what
the store then writes, set-based, in the same transaction. A read the prefetch did not foresee is
loaded on demand, so the prefetch is only an optimisation, never a condition of correctness.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ..common.identity import bounded_key
from ..common.messages import Link, ParsedEmail
from .decision import CounterKind, Decision, StateView, Writes
from .rules import addresses, loops, threads

Compute = Callable[[StateView], tuple[Decision, Writes]]
DecisionKey = tuple[str, uuid.UUID]  # (mailbox, email)


@dataclass(frozen=True)
class Reads:
    """What deciding one email may read or write of the state: the batch reads these at once."""

    thread_keys: tuple[str, ...]
    root: str
    sender: str | None


def reads_of(email: ParsedEmail) -> Reads:
    """The thread keys, root and sender ``decide`` will look up for ``email``. Pure."""
    first = addresses.first_sender(email)
    sender = first.address.strip().lower() if first else None  # as decide() derives it
    # Its own keys too: a later email of the batch may reply to it, and its writes go there.
    keys = dict.fromkeys([*threads.thread_keys(email), *threads.index_keys(email)])
    return Reads(tuple(keys), threads.thread_root(email), sender)


@dataclass(frozen=True)
class Pending:
    """One email of a batch waiting for its decision (``StateStore.decide_once``'s arguments)."""

    mailbox_id: str
    email_id: uuid.UUID
    at: datetime
    compute: Compute
    generation: int = 0
    reads: Reads | None = None

    @property
    def key(self) -> DecisionKey:
        return (self.mailbox_id, self.email_id)


@dataclass
class Entry:
    """A decision made in the batch and the writes it implies, for the store to record."""

    item: Pending
    decision: Decision
    writes: Writes


class Loader(Protocol):
    """The backend's reads, set-based; every key already ``bounded_key``-ed."""

    def threads(self, keys: Sequence[str]) -> Iterable[tuple[str, str, str]]:
        """(key, entity type, entity id) recorded under any of ``keys``."""

    def cases(self, pairs: Sequence[tuple[str, str]]) -> Iterable[tuple[str, str, str, str]]:
        """(mailbox, root, case id, number) for any of the (mailbox, root) pairs."""

    def leads(self, pairs: Sequence[tuple[str, str]]) -> Iterable[tuple[str, str, str]]:
        """(mailbox, sender, lead id) for any of the (mailbox, sender) pairs."""

    def events(self, pairs: Sequence[tuple[str, str]], since: datetime
               ) -> Iterable[tuple[str, CounterKind, uuid.UUID, str, datetime]]:
        """(mailbox, kind, email, sender, at) of the pairs' events at or after ``since``."""

    def assigned_cases(self, mailbox_id: str, users: Collection[str]) -> list[tuple[str, str]]: ...


class BatchView:
    """A StateView: what ``loader`` read, overlaid with the writes of the batch decided so far."""

    def __init__(self, loader: Loader, round_robin: dict[str, int]) -> None:
        self.loader, self.round_robin = loader, round_robin
        self._threads: dict[str, dict[tuple[str, str], None]] = {}
        self._cases: dict[tuple[str, str], tuple[str, str] | None] = {}
        self._leads: dict[tuple[str, str], str | None] = {}
        # (mailbox, sender) → the time events were read from, and the events by (kind, email)
        self._events: dict[tuple[str, str], tuple[datetime, dict[tuple[CounterKind, uuid.UUID], datetime]]] = {}
        self._new_cases: list[tuple[str, str, str]] = []  # (mailbox, case id, assignee) made in the batch
        # The batch holds its mailboxes' locks: no one else adds their cases meanwhile.
        self._assigned: dict[tuple[str, frozenset[str]], dict[str, str]] = {}

    def prefetch(self, items: Sequence[Pending]) -> None:
        """Read every foreseen key of ``items`` in one query per table."""
        reads = [(i.mailbox_id, i.at, i.reads) for i in items if i.reads is not None]
        self._load_threads([bounded_key(k) for _, _, r in reads for k in r.thread_keys])
        self._load_cases([(m, bounded_key(r.root)) for m, _, r in reads])
        senders = [(m, bounded_key(r.sender)) for m, _, r in reads if r.sender]
        self._load_leads(senders)
        if senders:
            self._load_events(senders, min(at for _, at, _ in reads) - loops.WINDOW)

    def _load_threads(self, keys: list[str]) -> None:
        missing = list(dict.fromkeys(k for k in keys if k not in self._threads))
        for k in missing:
            self._threads[k] = {}
        if missing:
            for key, kind, entity in self.loader.threads(missing):
                self._threads[key][(kind, entity)] = None

    def _load_cases(self, pairs: list[tuple[str, str]]) -> None:
        missing = list(dict.fromkeys(p for p in pairs if p not in self._cases))
        for p in missing:
            self._cases[p] = None
        if missing:
            for mailbox, root, case, number in self.loader.cases(missing):
                self._cases[(mailbox, root)] = (case, number)

    def _load_leads(self, pairs: list[tuple[str, str]]) -> None:
        missing = list(dict.fromkeys(p for p in pairs if p not in self._leads))
        for p in missing:
            self._leads[p] = None
        if missing:
            for mailbox, sender, lead in self.loader.leads(missing):
                self._leads[(mailbox, sender)] = lead

    def _load_events(self, pairs: list[tuple[str, str]], since: datetime) -> None:
        missing = list(dict.fromkeys(p for p in pairs if p not in self._events or self._events[p][0] > since))
        if not missing:
            return
        found: dict[tuple[str, str], dict[tuple[CounterKind, uuid.UUID], datetime]] = {p: {} for p in missing}
        for mailbox, kind, email, sender, at in self.loader.events(missing, since):
            found[(mailbox, sender)][(kind, email)] = at
        for p in missing:  # events the batch added are not in the database yet: keep them
            found[p].update(self._events[p][1] if p in self._events else {})
            self._events[p] = (since, found[p])

    # StateView
    def thread_links(self, keys: Sequence[str]) -> list[Link]:
        bounded = list(dict.fromkeys(bounded_key(k) for k in keys))
        self._load_threads(bounded)
        return [Link(entity_type=t, entity_id=i, reason="thread") for t, i in
                sorted({lk for k in bounded for lk in self._threads[k]})]

    def case_of_thread(self, mailbox_id: str, root: str) -> tuple[str, str] | None:
        pair = (mailbox_id, bounded_key(root))
        self._load_cases([pair])
        return self._cases[pair]

    def lead_of_sender(self, mailbox_id: str, sender: str) -> str | None:
        pair = (mailbox_id, bounded_key(sender))
        self._load_leads([pair])
        return self._leads[pair]

    def round_robin_position(self, mailbox_id: str) -> int:
        return self.round_robin.get(mailbox_id, 0)

    def count_since(self, mailbox_id: str, kind: CounterKind, sender: str, since: datetime) -> int:
        pair = (mailbox_id, bounded_key(sender))
        self._load_events([pair], since)
        return sum(1 for (k, _), at in self._events[pair][1].items() if k == kind and at >= since)

    def assigned_cases(self, mailbox_id: str, users: Collection[str]) -> list[tuple[str, str]]:
        users = frozenset(users)
        if (mailbox_id, users) not in self._assigned:
            self._assigned[(mailbox_id, users)] = dict(self.loader.assigned_cases(mailbox_id, users))
        found = dict(self._assigned[(mailbox_id, users)])
        found.update({c: u for m, c, u in self._new_cases if m == mailbox_id and u in users})
        return list(found.items())

    def record(self, item: Pending, writes: Writes) -> None:
        """Apply one decision's writes as the store will (ON CONFLICT DO NOTHING: first one wins)."""
        for key, lk in writes.thread:
            k = bounded_key(key)
            self._load_threads([k])
            self._threads[k][(lk.entity_type, lk.entity_id)] = None
        if writes.case:
            c = writes.case
            pair = (c.mailbox_id, bounded_key(c.root))
            self._load_cases([pair])
            if self._cases[pair] is None:
                self._cases[pair] = (c.case_id, c.number)
                if c.assignee is not None:
                    self._new_cases.append((c.mailbox_id, c.case_id, c.assignee))
        if writes.lead:
            pair = (writes.lead[0], bounded_key(writes.lead[1]))
            self._load_leads([pair])
            self._leads[pair] = self._leads[pair] or writes.lead[2]
        if writes.advance_round_robin:
            self.round_robin[item.mailbox_id] = self.round_robin.get(item.mailbox_id, 0) + 1
        for kind, sender in writes.events:
            pair = (item.mailbox_id, bounded_key(sender))
            self._load_events([pair], item.at)
            self._events[pair][1].setdefault((kind, item.email_id), item.at)


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


@dataclass
class Outcome:
    """``decide_all``'s result: each item's decision in order, which were replayed, what to write."""

    decisions: list[Decision] = field(default_factory=list)
    replayed: list[bool] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)


def decide_all(items: Sequence[Pending], stored: dict[DecisionKey, Decision], view: StateView,
               record: Callable[[Pending, Writes], None]) -> Outcome:
    """Decide ``items`` in order: a stored decision current for the item's generation is repeated
    (``stored_is_current``), else the item is decided against ``view`` (``decided_anew``) and
    ``record`` applies its writes before the next item. ``stored`` gains the new decisions, so an
    email twice in a batch is decided once. Raises what ``compute`` raises."""
    out = Outcome()
    for item in items:
        previous = stored.get(item.key)
        if previous is not None and stored_is_current(previous, item.generation):
            out.decisions.append(previous)
            out.replayed.append(True)
            continue
        decision, writes = decided_anew(previous, *item.compute(view), item.generation)
        record(item, writes)
        stored[item.key] = decision
        out.entries.append(Entry(item, decision, writes))
        out.decisions.append(decision)
        out.replayed.append(False)
    return out
