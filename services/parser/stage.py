"""ParseStage: a ``mail.raw`` record in, a ``mail.parsed`` record out."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from ..common import metrics
from ..common.errors import PoisonMessage
from ..common.messages import ParsedEmail, ParsedEnvelope, Sighting, encode, routing_headers
from ..common.runtime.loop import Stage
from ..common.runtime.ports import Output, Record
from ..common.topics import PARSED, REINDEX_GENERATION
from .attachments import StoreObject
from .bodies import BODY_CAP_CHARS
from .limits import DEFAULT_LIMITS, ParseLimits
from .mime import parse_email

HEADERS_ONLY = "headers_only"


class ParseStage(Stage):
    """Parses raw mail. ``fetch_claim_check(key)`` reads a claim-checked body from S3 (it may raise
    transient errors, which the runtime retries, or KeyError when the object is gone);
    ``store_object(key, data)`` writes an attachment or a long body under its content key (a
    transient error there makes the runtime retry the whole record, which rewrites nothing new)."""

    name = "parser"

    def __init__(self, fetch_claim_check: Callable[[str], bytes], store_object: StoreObject | None = None,
                 limits: ParseLimits = DEFAULT_LIMITS, body_cap_chars: int = BODY_CAP_CHARS) -> None:
        self._fetch = fetch_claim_check
        self._store = store_object or (lambda key, data: None)
        self._limits, self._cap = limits, body_cap_chars

    def handle(self, record: Record) -> list[Output]:
        """Parse the record's message; PoisonMessage for records that can never be parsed."""
        parsed = self.parse(record)
        envelope = ParsedEnvelope(email_id=parsed.email_id, producer="parser", payload=parsed)
        headers = routing_headers(envelope)
        generation = record.header(REINDEX_GENERATION)
        if generation is not None:  # a reindex: the matcher decides anew
            headers.append((REINDEX_GENERATION, generation))
        return [Output(PARSED, parsed.sighting.mailbox_id.encode(), encode(envelope), headers)]

    def parse(self, record: Record) -> ParsedEmail:
        """The ParsedEmail of one ``mail.raw`` record (what ``handle`` wraps in an envelope)."""
        sighting = _sighting(record)
        claim = _text(record, "claim-check", required=False)
        if claim:
            try:
                raw = self._fetch(claim)
            except KeyError as exc:
                raise PoisonMessage("claim_check_missing", f"no object {claim}") from exc
        else:
            raw = record.value or b""
        outcome = _text(record, "fetch-outcome", required=False)
        reason = (_text(record, "fetch-reason", required=False) or "unspecified") if outcome == HEADERS_ONLY else None
        started = time.perf_counter()
        pending: dict[str, bytes] = {}  # stored only once the whole message parsed: poison leaves no orphans
        parsed = parse_email(
            raw, sighting, sha256=_text(record, "sha256"), size=_int(record, "size"),
            internal_date=_date(record), raw_ref=claim or None, store=pending.__setitem__, limits=self._limits,
            headers_only_reason=reason, body_cap_chars=self._cap,
        )
        metrics.PARSE_SECONDS.observe(time.perf_counter() - started)
        for key, data in pending.items():
            self._store(key, data)
        for defect in parsed.defects:
            metrics.DEFECTS.labels(defect=defect).inc()
        for warning in parsed.warnings:
            metrics.PARSE_WARNINGS.labels(warning=warning).inc()
        metrics.ATTACHMENTS.inc(len(parsed.attachments))
        metrics.ATTACHMENT_BYTES.inc(sum(a.size_bytes for a in parsed.attachments))
        metrics.PARSE_OUTCOMES.labels(outcome=parsed.fetch_outcome).inc()
        metrics.PARSED.inc()
        return parsed


def _text(record: Record, name: str, required: bool = True) -> str:
    value = record.header(name)
    if value is None:
        if required:
            raise PoisonMessage("missing_header", f"mail.raw record without the {name!r} header")
        return ""
    return value.decode("utf-8", "replace")


def _int(record: Record, name: str) -> int:
    try:
        return int(_text(record, name))
    except ValueError as exc:
        raise PoisonMessage("bad_header", f"{name}: {exc}") from exc


def _date(record: Record) -> datetime | None:
    value = _text(record, "internal-date", required=False)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise PoisonMessage("bad_header", f"internal-date: {exc}") from exc


def _sighting(record: Record) -> Sighting:
    try:
        return Sighting(mailbox_id=_text(record, "mailbox"), folder=_text(record, "folder"),
                        uidvalidity=int(_text(record, "uidvalidity")), uid=int(_text(record, "uid")))
    except ValueError as exc:
        raise PoisonMessage("bad_header", str(exc)) from exc
