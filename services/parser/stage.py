"""ParseStage: a ``mail.raw`` record in, a ``mail.parsed`` record out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..common import metrics
from ..common.errors import PoisonMessage
from ..common.messages import ParsedEnvelope, Sighting, encode, routing_headers
from ..common.runtime.ports import Output, Record
from ..common.topics import PARSED
from .mime import parse_email


class ParseStage:
    """Parses raw mail. ``fetch_claim_check(key)`` reads a claim-checked body from S3 (it may raise
    transient errors, which the runtime retries, or KeyError when the object is gone)."""

    name = "parser"

    def __init__(self, fetch_claim_check: Callable[[str], bytes]) -> None:
        self._fetch = fetch_claim_check

    def handle(self, record: Record) -> list[Output]:
        sighting = _sighting(record)
        claim = _text(record, "claim-check", required=False)
        if claim:
            try:
                raw = self._fetch(claim)
            except KeyError as exc:
                raise PoisonMessage("claim_check_missing", f"no object {claim}") from exc
        else:
            raw = record.value or b""
        internal = _text(record, "internal-date", required=False)
        parsed = parse_email(
            raw, sighting, sha256=_text(record, "sha256"), size=int(_text(record, "size")),
            internal_date=datetime.fromisoformat(internal) if internal else None, raw_ref=claim,
        )
        for defect in parsed.defects:
            metrics.DEFECTS.labels(defect=defect).inc()
        metrics.PARSED.inc()
        envelope = ParsedEnvelope(email_id=parsed.email_id, producer="parser", payload=parsed)
        return [Output(PARSED, sighting.mailbox_id.encode(), encode(envelope), routing_headers(envelope))]


def _text(record: Record, name: str, required: bool = True) -> str:
    value = record.header(name)
    if value is None:
        if required:
            raise PoisonMessage("missing_header", f"mail.raw record without the {name!r} header")
        return ""
    return value.decode("utf-8", "replace")


def _sighting(record: Record) -> Sighting:
    try:
        return Sighting(mailbox_id=_text(record, "mailbox"), folder=_text(record, "folder"),
                        uidvalidity=int(_text(record, "uidvalidity")), uid=int(_text(record, "uid")))
    except ValueError as exc:
        raise PoisonMessage("bad_header", str(exc)) from exc
