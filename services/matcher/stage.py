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
from ..common.runtime.loop import Stage
from ..common.runtime.ports import Output, Record
from ..common.topics import AUTOREPLY, MATCHED, REINDEX_GENERATION, reindex_generation
from .decide import Context, Decision, decide, event_time
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

    def match(self, email: ParsedEmail, generation: int = 0) -> Decision:
        """The email's decision: the stored one when it is current for ``generation``
        (state.stored_is_current), else decided now and stored."""
        ctx = Context(self.index, self.mailboxes.configs, self.mailboxes.own_addresses, self.global_filters,
                      self.no_files, self.shared)
        now = self.clock()
        computed = False

        def compute(view):  # type: ignore[no-untyped-def]
            nonlocal computed
            computed = True
            return decide(email, ctx, view, now)

        decision = self.state.decide_once(email.sighting.mailbox_id, email.email_id, event_time(email, now), compute,
                                          generation)
        if not computed:
            metrics.DECISIONS_REPLAYED.inc()
        return decision


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
        try:
            parsed = ParsedEnvelope.model_validate_json(record.value or b"").payload
        except ValidationError as exc:
            raise PoisonMessage("invalid_envelope", str(exc)[:500]) from exc
        decision = self.matcher.match(parsed, reindex_generation(record))
        for link in decision.links:
            metrics.LINKS.labels(entity_type=link.entity_type, reason=link.reason).inc()
        for action in decision.actions:
            metrics.MATCH_ACTIONS.labels(kind=action.kind).inc()
        return outputs(parsed, decision, *self.topics)


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

