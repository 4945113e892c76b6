"""MatchStage: a ``mail.parsed`` record in; ``mail.matched`` (and ``mail.autoreply``) records out."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from ..common import metrics
from ..common.errors import PoisonMessage
from ..common.follower import CompactedFollower, wait_until_loaded
from ..common.messages import (
    AutoreplyEnvelope,
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
from .decision import Decision
from .matching import Matcher


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
                                                   skipped=decision.skipped,
                                                   files_not_copied=decision.files_not_copied,
                                                   notify=decision.notify, folder_role=decision.folder_role))
    headers = routing_headers(matched)
    if decision.generation:  # storage replaces the email's links with these
        headers.append((REINDEX_GENERATION, str(decision.generation).encode()))
    out = [Output(matched_topic, key, encode(matched), headers)]
    if decision.autoreply is not None:
        reply = AutoreplyEnvelope(email_id=parsed.email_id, producer="matcher", payload=decision.autoreply)
        out.append(Output(autoreply_topic, key, encode(reply), routing_headers(reply)))
    return out

