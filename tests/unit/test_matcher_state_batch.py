"""The matcher's batch path without PostgreSQL: MemoryState.decide_batch runs the same BatchView
and decide_all as PostgresState, so these pin the pure rules of deciding a poll batch at once."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta

from mailpipe.common.mailboxes import Mailboxes
from mailpipe.matcher.batch import BatchView, Pending, reads_of
from mailpipe.matcher.decision import CounterKind, Decision
from mailpipe.matcher.directory import EntityIndex
from mailpipe.matcher.matching import Matcher
from mailpipe.matcher.rules.cases import case_id
from mailpipe.matcher.state import MemoryState, StateStore

from tests.support.matcher_crash import T0, crash_directory, crash_emails, crash_mailbox, crash_users

BOX = "box-batch"


def crash_matcher(state: StateStore, unique: str = "u") -> Matcher:
    """A convert-to-case, round-robin, autoresponding mailbox (issue 5's crash workload)."""
    index = EntityIndex()
    for e in crash_directory("team", crash_users(unique)):
        index.upsert(e)
    return Matcher(index, Mailboxes({BOX: crash_mailbox(BOX, "team")}), state, clock=lambda: T0)


def one_by_one(m: Matcher, emails: Sequence[object], generation: int = 0) -> list[Decision]:
    return [m.match(e, generation) for e in emails]  # type: ignore[arg-type]


def batched(m: Matcher, emails: Sequence[object], size: int, generation: int = 0) -> list[Decision]:
    out: list[Decision] = []
    for n in range(0, len(emails), size):
        got = m.match_batch([(e, generation) for e in emails[n:n + size]])  # type: ignore[misc]
        assert all(isinstance(d, Decision) for d in got)
        out += got  # type: ignore[arg-type]
    return out


def kinds(d: Decision) -> list[str]:
    return [a.kind for a in d.actions]


def test_batches_decide_exactly_as_one_email_at_a_time() -> None:
    # 2,000 shuffled emails: threads met twice in a batch, senders over the autoresponse limit
    # inside a batch, round-robin advancing within it; every decision must equal the sequential one.
    emails = crash_emails(BOX, "u")
    expected = one_by_one(crash_matcher(MemoryState()), emails)
    assert batched(crash_matcher(MemoryState()), emails, 100) == expected


def test_second_email_of_a_thread_in_the_same_batch_joins_the_first_ones_case() -> None:
    thread = [e for e in crash_emails(BOX, "u") if e.thread_root == "t7-u@customer.example"][:2]
    first, second = batched(crash_matcher(MemoryState()), thread, 100)
    assert kinds(first)[0] == "case_created" and kinds(second)[0] == "case_joined"
    assert first.actions[0].entity_id == second.actions[0].entity_id == case_id(BOX, "t7-u@customer.example")


def test_a_sender_over_the_autoresponse_limit_inside_one_batch_is_not_answered_again() -> None:
    thread = sorted((e for e in crash_emails(BOX, "u") if e.thread_root == "t3-u@customer.example"),
                    key=lambda e: e.internal_date or T0)
    decisions = batched(crash_matcher(MemoryState()), thread, 100)
    answered = [d for d in decisions if d.autoreply is not None]
    assert len(answered) == 5  # loops.MAX_AUTOREPLIES within the two-hour window
    assert [a.reason for d in decisions[5:] for a in d.actions if a.kind == "autoreply_suppressed"] == \
        ["sender_autoreply_limit"] * 5


def test_a_replayed_batch_repeats_its_decisions_and_writes_nothing() -> None:
    state = MemoryState()
    m = crash_matcher(state)
    emails = crash_emails(BOX, "u")[:300]
    first = batched(m, emails, 100)
    before = (dict(state.decisions), dict(state.cases), dict(state.round_robin), dict(state.events))
    assert batched(m, emails, 37) == first
    assert (state.decisions, state.cases, state.round_robin, state.events) == before


def test_an_email_twice_in_a_batch_is_decided_once() -> None:
    e = crash_emails(BOX, "u")[0]
    d1, d2 = batched(crash_matcher(MemoryState()), [e, e], 100)
    assert d1 == d2 and kinds(d1)[0] == "case_created"


def test_a_reindex_in_a_batch_relinks_without_a_second_autoresponse() -> None:
    state = MemoryState()
    m = crash_matcher(state)
    e = crash_emails(BOX, "u")[0]
    (old,) = batched(m, [e], 100)
    (new,) = batched(m, [e], 100, generation=3)
    assert old.autoreply is not None and new.autoreply is None and new.generation == 3
    assert "autoreply_queued" not in kinds(new)


class CountingLoader:
    """A batch.Loader with nothing stored that counts its calls."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> list:  # type: ignore[type-arg]
        self.calls[name] = self.calls.get(name, 0) + 1
        return []

    def threads(self, keys: Sequence[str]) -> Iterable[tuple[str, str, str]]:
        return self._count("threads")

    def cases(self, pairs: Sequence[tuple[str, str]]) -> Iterable[tuple[str, str, str, str]]:
        return self._count("cases")

    def leads(self, pairs: Sequence[tuple[str, str]]) -> Iterable[tuple[str, str, str]]:
        return self._count("leads")

    def events(self, pairs: Sequence[tuple[str, str]], since: datetime
               ) -> Iterable[tuple[str, CounterKind, uuid.UUID, str, datetime]]:
        return self._count("events")

    def assigned_cases(self, mailbox_id: str, users: Collection[str]) -> list[tuple[str, str]]:
        return self._count("assigned")


def pending(emails: Sequence[object], m: Matcher) -> list[Pending]:
    return [Pending(e.sighting.mailbox_id, e.email_id, e.internal_date, lambda v: (Decision(), None),  # type: ignore
                    0, reads_of(e)) for e in emails]  # type: ignore[attr-defined]


def test_prefetch_reads_a_whole_batch_with_one_query_per_table_and_then_serves_from_memory() -> None:
    emails = crash_emails(BOX, "u")[:100]
    loader = CountingLoader()
    view = BatchView(loader, {})
    view.prefetch(pending(emails, crash_matcher(MemoryState())))
    assert loader.calls == {"threads": 1, "cases": 1, "leads": 1, "events": 1}
    for e in emails:
        r = reads_of(e)
        view.thread_links(list(r.thread_keys))
        view.case_of_thread(BOX, r.root)
        assert r.sender is not None
        view.count_since(BOX, "autoreply", r.sender, (e.internal_date or T0) - timedelta(hours=2))
    assert loader.calls == {"threads": 1, "cases": 1, "leads": 1, "events": 1}


def test_a_read_the_prefetch_did_not_foresee_is_loaded_on_demand() -> None:
    loader = CountingLoader()
    view = BatchView(loader, {})
    assert view.case_of_thread(BOX, "never-prefetched@x") is None
    assert view.count_since(BOX, "case", "someone@x", T0) == 0
    assert view.count_since(BOX, "case", "someone@x", T0 - timedelta(days=1)) == 0  # earlier: read again
    assert loader.calls == {"cases": 1, "events": 2}


def test_handle_batch_poisons_an_invalid_envelope_only_and_decides_the_rest_in_one_step() -> None:
    from mailpipe.common.errors import PoisonMessage
    from mailpipe.common.messages import ParsedEnvelope, encode
    from mailpipe.common.runtime.ports import Record
    from mailpipe.matcher.stage import MatchStage

    class CountingState(MemoryState):
        batches = 0

        def decide_batch(self, items: Sequence[Pending]) -> list[Decision | PoisonMessage]:
            CountingState.batches += 1
            return super().decide_batch(items)

    emails = crash_emails(BOX, "u")[:3]
    records = [Record("mail.parsed", 0, n, None, encode(ParsedEnvelope(producer="t", payload=e)))
               for n, e in enumerate(emails)]
    records.insert(1, Record("mail.parsed", 0, 9, None, b"{not json"))
    outcomes = MatchStage(crash_matcher(CountingState())).handle_batch(records)
    assert [type(o).__name__ for o in outcomes] == ["list", "PoisonMessage", "list", "list"]
    assert CountingState.batches == 1
