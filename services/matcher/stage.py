"""MatchStage: a ``mail.parsed`` record in; ``mail.matched`` (and ``mail.autoreply``) records out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from ..common import metrics
from ..common.errors import PoisonMessage
from ..common.messages import (
    AutoreplyEnvelope,
    MailFilter,
    MatchedEmail,
    MatchedEnvelope,
    ParsedEmail,
    ParsedEnvelope,
    encode,
    routing_headers,
)
from ..common.runtime.loop import Outcome, Stage
from ..common.runtime.ports import Output, Record
from ..common.topics import AUTOREPLY, MATCHED, REINDEX_GENERATION, reindex_generation
from .batch import Compute, Pending, reads_of
from .decide import Context, Decision, StateView, Writes, decide, event_time
from .directory import EntityIndex
from .follower import CompactedFollower, Mailboxes, wait_until_loaded
from .state import MemoryState, StateStore


class Matcher:
    """The rules against the directory, the mailboxes and a state store; no Kafka."""

    def __init__(self, index: EntityIndex, mailboxes: Mailboxes | None = None, state: StateStore | None = None,
                 global_filters: Sequence[MailFilter] = (), no_files: bool = False,
                 shared_hosts_match_all: bool = False, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.index, self.mailboxes = index, mailboxes or Mailboxes()
        self.state: StateStore = state if state is not None else MemoryState()
        self.global_filters, self.no_files, self.shared = list(global_filters), no_files, shared_hosts_match_all
        self.clock = clock

    def _context(self) -> Context:
        return Context(self.index, self.mailboxes.configs, self.mailboxes.own_addresses, self.global_filters,
                       self.no_files, self.shared)

    def match(self, email: ParsedEmail, generation: int = 0) -> Decision:
        """The email's decision: the stored one when it is current for ``generation``
        (state.stored_is_current), else decided now and stored."""
        outcome = self._decide([(email, generation)], batched=False)[0]
        if isinstance(outcome, PoisonMessage):
            raise outcome
        return outcome

    def match_batch(self, emails: Sequence[tuple[ParsedEmail, int]]) -> list[Decision | PoisonMessage]:
        """Each (email, generation)'s decision, in order, decided as one step of the state store
        (one PostgreSQL transaction): as ``match`` one after the other would decide them; a
        PoisonMessage for an email whose values the store refuses."""
        return self._decide(emails, batched=True)

    def _decide(self, emails: Sequence[tuple[ParsedEmail, int]], batched: bool) -> list[Decision | PoisonMessage]:
        if not emails:
            return []
        ctx, now = self._context(), self.clock()
        computed = [False] * len(emails)

        def compute_for(n: int, email: ParsedEmail) -> Compute:
            def compute(view: StateView) -> tuple[Decision, Writes]:
                computed[n] = True
                return decide(email, ctx, view, now)
            return compute

        items = [Pending(e.sighting.mailbox_id, e.email_id, event_time(e, now), compute_for(n, e), generation,
                         reads_of(e)) for n, (e, generation) in enumerate(emails)]
        if batched:
            outcomes = self.state.decide_batch(items)
        else:
            i = items[0]
            outcomes = [self.state.decide_once(i.mailbox_id, i.email_id, i.at, i.compute, i.generation)]
        metrics.DECISIONS_REPLAYED.inc(sum(1 for n, o in enumerate(outcomes)
                                           if not computed[n] and not isinstance(o, PoisonMessage)))
        return outcomes


class MatchStage(Stage):
    """Waits for the directory and mailboxes to be loaded, then matches each record."""

    name = "matcher"

    def __init__(self, matcher: Matcher, followers: Sequence[CompactedFollower] = (),
                 ready_timeout_seconds: float = 30, matched_topic: str = MATCHED,
                 autoreply_topic: str = AUTOREPLY) -> None:
        self.matcher, self.followers, self.ready_timeout = matcher, list(followers), ready_timeout_seconds
        self.topics = (matched_topic, autoreply_topic)

    def handle(self, record: Record) -> list[Output]:
        wait_until_loaded(self.followers, self.ready_timeout)
        parsed = _parsed(record)
        return self._outputs(parsed, self.matcher.match(parsed, reindex_generation(record)))

    def handle_batch(self, records: Sequence[Record]) -> list[Outcome]:
        """The whole poll batch decided in one state transaction, committed before this returns (so
        before the runner sends any ``mail.matched``); a record that is not a valid envelope, or
        whose values PostgreSQL refuses, is that record's PoisonMessage only."""
        wait_until_loaded(self.followers, self.ready_timeout)
        outcomes: list[Outcome] = []
        valid: list[tuple[int, ParsedEmail, int]] = []
        for n, record in enumerate(records):
            try:
                valid.append((n, _parsed(record), reindex_generation(record)))
                outcomes.append([])
            except PoisonMessage as exc:
                outcomes.append(exc)
        decisions = self.matcher.match_batch([(parsed, generation) for _, parsed, generation in valid])
        for (n, parsed, _), decision in zip(valid, decisions, strict=True):
            outcomes[n] = decision if isinstance(decision, PoisonMessage) else self._outputs(parsed, decision)
        return outcomes

    def _outputs(self, parsed: ParsedEmail, decision: Decision) -> list[Output]:
        for link in decision.links:
            metrics.LINKS.labels(entity_type=link.entity_type, reason=link.reason).inc()
        for action in decision.actions:
            metrics.MATCH_ACTIONS.labels(kind=action.kind).inc()
        return outputs(parsed, decision, *self.topics)


def _parsed(record: Record) -> ParsedEmail:
    try:
        return ParsedEnvelope.model_validate_json(record.value or b"").payload
    except ValidationError as exc:
        raise PoisonMessage("invalid_envelope", str(exc)[:500]) from exc


def outputs(parsed: ParsedEmail, decision: Decision, matched_topic: str = MATCHED,
            autoreply_topic: str = AUTOREPLY) -> list[Output]:
    key = str(parsed.email_id).encode()
    matched = MatchedEnvelope(email_id=parsed.email_id, producer="matcher",
                              payload=MatchedEmail(email=parsed, links=decision.links, actions=decision.actions,
                                                   skipped=decision.skipped))
    headers = routing_headers(matched)
    if decision.generation:  # storage replaces the email's links with these
        headers.append((REINDEX_GENERATION, str(decision.generation).encode()))
    out = [Output(matched_topic, key, encode(matched), headers)]
    if decision.autoreply is not None:
        reply = AutoreplyEnvelope(email_id=parsed.email_id, producer="matcher", payload=decision.autoreply)
        out.append(Output(autoreply_topic, key, encode(reply), routing_headers(reply)))
    return out

