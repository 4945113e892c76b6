"""ParseStage: a ``mail.raw`` record in, a ``mail.parsed`` record out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..common import metrics
from ..common.errors import PoisonMessage
from ..common.messages import ParsedEmail, ParsedEnvelope, encode, routing_headers
from ..common.rawrecord import RawRecord
from ..common.runtime.loop import Outcome, Stage
from ..common.runtime.ports import Output, Record
from ..common.topics import PARSED, REINDEX_GENERATION, reindex_generation
from .attachments import StoreObject
from .batch import DEFAULT_IO, IOBounds, OverlappedBatch, Parsed, Plan
from .bodies import BODY_CAP_CHARS
from .limits import DEFAULT_LIMITS, ParseLimits
from .mime import parse_email


class ParseStage(Stage):
    """Parses raw mail. ``fetch_claim_check(key)`` reads a claim-checked body from S3 (it may raise
    transient errors, which the runtime retries, or KeyError when the object is gone);
    ``store_object(key, data)`` writes an attachment or a long body under its content key (a
    transient error there makes the runtime retry the whole record, which rewrites nothing new).

    ``handle_batch`` does a poll batch's GETs and PUTs on a pool of ``io.threads`` threads while
    it parses (see ``batch.py``); both callables must therefore be thread-safe (boto3 clients
    are). ``handle`` does the same work record by record; the runtime falls back to it when the
    batch path fails with a bug."""

    name = "parser"

    def __init__(self, fetch_claim_check: Callable[[str], bytes], store_object: StoreObject | None = None,
                 limits: ParseLimits = DEFAULT_LIMITS, body_cap_chars: int = BODY_CAP_CHARS,
                 io: IOBounds = DEFAULT_IO) -> None:
        self._fetch = fetch_claim_check
        self._store = store_object or (lambda key, data: None)
        self._limits, self._cap, self._io = limits, body_cap_chars, io
        self._pool: ThreadPoolExecutor | None = None  # started by the first batch

    def handle(self, record: Record) -> list[Output]:
        """Parse the record's message; PoisonMessage for records that can never be parsed."""
        return self._outputs(record, self.parse(record))

    def handle_batch(self, records: Sequence[Record]) -> list[Outcome]:
        """Every record's outputs or poison, in order, once every object they reference is in S3.
        Blocks on S3; raises TransientError (nothing else was PUT than content-addressed objects,
        so the runtime's retry of the whole batch is harmless)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._io.threads, thread_name_prefix="parser-io")
        results = OverlappedBatch(self._pool, self._io, _plan, self._fetch_claim, self._parse, self._store).run(records)
        outcomes: list[Outcome] = []
        for record, result in zip(records, results, strict=True):
            if isinstance(result, PoisonMessage):
                outcomes.append(result)
            else:
                _count(result)
                outcomes.append(self._outputs(record, result))
        return outcomes

    def close(self) -> None:
        """Stop the I/O threads (they are idle between batches)."""
        if self._pool is not None:
            self._pool.shutdown()

    def parse(self, record: Record) -> ParsedEmail:
        """The ParsedEmail of one ``mail.raw`` record (what ``handle`` wraps in an envelope)."""
        claim = _plan(record).claim
        parsed = self._parse(record, self._fetch_claim(claim) if claim else None)
        for key, data in parsed.pending.items():
            self._store(key, data)
        _count(parsed.result)
        return parsed.result

    def _fetch_claim(self, key: str) -> bytes:
        try:
            return self._fetch(key)
        except KeyError as exc:
            raise PoisonMessage("claim_check_missing", f"no object {key}") from exc

    def _parse(self, record: Record, claimed: bytes | None) -> Parsed[ParsedEmail]:
        """Parse ``claimed`` (the claim-check's bytes) or the record's value; the objects to store
        come back with it, to be stored only once the whole message parsed: poison leaves no orphans."""
        head = RawRecord.from_record(record)
        raw = claimed if claimed is not None else head.value
        started = time.perf_counter()
        pending: dict[str, bytes] = {}
        parsed = parse_email(
            raw, head.sighting, sha256=head.sha256, size=head.size, internal_date=head.internal_date,
            raw_ref=head.claim_check, store=pending.__setitem__, limits=self._limits,
            headers_only_reason=head.headers_only_reason, body_cap_chars=self._cap,
        )
        metrics.PARSE_SECONDS.observe(time.perf_counter() - started)
        return Parsed(parsed, pending)

    @staticmethod
    def _outputs(record: Record, parsed: ParsedEmail) -> list[Output]:
        envelope = ParsedEnvelope(email_id=parsed.email_id, producer="parser", payload=parsed)
        headers = routing_headers(envelope)
        generation = reindex_generation(record)
        if generation:  # a reindex: the matcher decides anew
            headers.append((REINDEX_GENERATION, str(generation).encode()))
        return [Output(PARSED, parsed.sighting.mailbox_id.encode(), encode(envelope), headers)]


def _plan(record: Record) -> Plan:
    """The record's headers checked before any I/O (PoisonMessage when unusable) and what to GET."""
    head = RawRecord.from_record(record)
    return Plan(head.claim_check, head.size)


def _count(parsed: ParsedEmail) -> None:
    """The metrics of a message whose objects are stored (counted once its outputs are due)."""
    for defect in parsed.defects:
        metrics.DEFECTS.labels(defect=defect).inc()
    for warning in parsed.warnings:
        metrics.PARSE_WARNINGS.labels(warning=warning).inc()
    metrics.ATTACHMENTS.inc(len(parsed.attachments))
    metrics.ATTACHMENT_BYTES.inc(sum(a.size_bytes for a in parsed.attachments))
    metrics.PARSE_OUTCOMES.labels(outcome=parsed.fetch_outcome).inc()
    metrics.PARSED.inc()
