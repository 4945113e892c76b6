"""The matcher's state in faust tables: a StateView and StateStore for ``mailpipe.matcher.stage.Matcher``.

The same state as ``pgstate.PostgresState``, table by table, so ``decide`` (the pure rule code) runs
unchanged: the decision of each (mailbox, email), so a replay repeats it; the thread index; the cases
per (mailbox, thread root); leads per sender; the round-robin position per mailbox; autoresponses and
cases per sender with their times (idempotent per email, like ``matcher_sender_events``). Every
assignment to a table is one record on its changelog topic; nothing makes those records, the outputs
and the source offset one atomic step except faust's ``exactly_once`` transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from mailpipe.common.messages import Link
from mailpipe.matcher.decision import CounterKind, Decision
from mailpipe.matcher.state import Compute

TABLES = ("decisions", "threads", "cases", "leads", "round_robin", "sender_events")


class TableState:
    """StateView and StateStore over faust tables (``app.Table``), one table per kind of state."""

    def __init__(self, app: Any, partitions: int) -> None:
        self.t = {name: app.Table(name, default=None, partitions=partitions, key_type=str) for name in TABLES}

    # StateView
    def thread_links(self, keys: Sequence[str]) -> list[Link]:
        """Case, task and lead links recorded under any of ``keys``."""
        found = {(t, i) for k in keys for t, i in (self.t["threads"].get(k) or [])}
        return [Link(entity_type=t, entity_id=i, reason="thread") for t, i in sorted(found)]

    def case_of_thread(self, mailbox_id: str, root: str) -> tuple[str, str] | None:
        """(case id, number) of the case the mailbox created for the thread."""
        c = self.t["cases"].get(f"{mailbox_id}|{root}")
        return (c[0], c[1]) if c else None

    def lead_of_sender(self, mailbox_id: str, sender: str) -> str | None:
        """The lead the mailbox created for the sender."""
        value = self.t["leads"].get(f"{mailbox_id}|{sender}")
        return str(value) if value else None

    def round_robin_position(self, mailbox_id: str) -> int:
        """The mailbox's round-robin position."""
        return int(self.t["round_robin"].get(mailbox_id) or 0)

    def count_since(self, mailbox_id: str, kind: CounterKind, sender: str, since: datetime) -> int:
        """Events of ``kind`` for the sender at or after ``since``."""
        events = self.t["sender_events"].get(f"{mailbox_id}|{kind}|{sender}") or []
        return sum(1 for _, at in events if datetime.fromisoformat(at) >= since)

    def assigned_cases(self, mailbox_id: str, users: Collection[str]) -> list[tuple[str, str]]:
        """(case id, assignee) of the mailbox's cases assigned to ``users``."""
        prefix = f"{mailbox_id}|"
        return [(c[0], c[2]) for k, c in self.t["cases"].items() if k.startswith(prefix) and c[2] in users]

    # StateStore
    def decide_once(self, mailbox_id: str, email_id: uuid.UUID, at: datetime, compute: Compute) -> Decision:
        """The stored decision of a replayed email, else a new one with its writes applied to the tables."""
        key = f"{mailbox_id}|{email_id}"
        stored = self.t["decisions"].get(key)
        if stored is not None:
            return Decision.model_validate(stored)
        decision, writes = compute(self)
        threads = self.t["threads"]
        for k, lk in writes.thread:
            links = threads.get(k) or []
            if [lk.entity_type, lk.entity_id] not in links:
                threads[k] = [*links, [lk.entity_type, lk.entity_id]]
        if writes.case:
            c, cases = writes.case, self.t["cases"]
            if cases.get(f"{c.mailbox_id}|{c.root}") is None:
                cases[f"{c.mailbox_id}|{c.root}"] = [c.case_id, c.number, c.assignee]
        if writes.lead and self.t["leads"].get(f"{writes.lead[0]}|{writes.lead[1]}") is None:
            self.t["leads"][f"{writes.lead[0]}|{writes.lead[1]}"] = writes.lead[2]
        if writes.advance_round_robin:
            self.t["round_robin"][mailbox_id] = self.round_robin_position(mailbox_id) + 1
        for kind, sender in writes.events:
            events = self.t["sender_events"].get(f"{mailbox_id}|{kind}|{sender}") or []
            if all(e != str(email_id) for e, _ in events):
                self.t["sender_events"][f"{mailbox_id}|{kind}|{sender}"] = [*events, [str(email_id), at.isoformat()]]
        self.t["decisions"][key] = decision.model_dump(mode="json", by_alias=True)
        return decision
