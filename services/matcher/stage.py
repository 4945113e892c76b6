"""MatchStage: a ``mail.parsed`` record in, a ``mail.matched`` record out."""

from __future__ import annotations

from pydantic import ValidationError

from ..common import metrics
from ..common.errors import PoisonMessage, TransientError
from ..common.messages import MatchedEmail, MatchedEnvelope, ParsedEnvelope, encode, routing_headers
from ..common.runtime.ports import Output, Record
from ..common.topics import MATCHED
from .directory import EntityIndex
from .follower import DirectoryFollower
from .rules import person_links


class MatchStage:
    """Applies the rules against the directory the follower keeps current."""

    name = "matcher"

    def __init__(self, index: EntityIndex, follower: DirectoryFollower | None = None) -> None:
        self.index, self.follower = index, follower

    def handle(self, record: Record) -> list[Output]:
        if self.follower is not None:
            if self.follower.failed is not None:
                raise TransientError(f"directory follower stopped: {self.follower.failed!r}")
            if not self.follower.caught_up.wait(timeout=30):
                raise TransientError("directory not loaded yet")
        try:
            parsed = ParsedEnvelope.model_validate_json(record.value or b"").payload
        except ValidationError as exc:
            raise PoisonMessage("invalid_envelope", str(exc)[:500]) from exc
        links = person_links(parsed, self.index)
        for link in links:
            metrics.LINKS.labels(entity_type=link.entity_type, reason=link.reason).inc()
        envelope = MatchedEnvelope(email_id=parsed.email_id, producer="matcher",
                                   payload=MatchedEmail(email=parsed, links=links))
        return [Output(MATCHED, str(parsed.email_id).encode(), encode(envelope), routing_headers(envelope))]
