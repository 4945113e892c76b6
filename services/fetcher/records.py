"""Pure: how a fetched message becomes a ``mail.raw`` record, and its ledger entry."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from ..common.identity import normalize_message_id
from ..common.messages import Sighting
from ..common.rawrecord import RawRecord
from ..common.runtime import dlq as dlq_headers
from ..common.runtime.ports import Output
from ..common.topics import RAW, dlq

OVER_SIZE_LIMIT = "over_size_limit"
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Fetched:
    """A message as read from the server: the whole message, or only its header block when it was
    over the size limit (``headers_only_reason`` says why)."""

    sighting: Sighting
    raw: bytes
    size: int
    internal_date: datetime | None
    headers_only_reason: str | None = None
    unreadable: str | None = None  # the server could not deliver it: the reason (raw is empty)

    @cached_property
    def sha256(self) -> str:
        """Computed once: the record header, the ledger and the claim-check key all need it."""
        return hashlib.sha256(self.raw).hexdigest()


@dataclass(frozen=True)
class LedgerEntry:
    sighting: Sighting
    message_id: str | None
    size: int
    internal_date: datetime | None
    sha256: str
    outcome: str  # published | claim_checked | headers_only | failed
    reason: str | None = None


def _header_block(raw: bytes) -> bytes:
    """Everything before the first blank line (CRLF or bare LF). Slices only the head: splitting
    would copy the whole body, and bodies are most of the 2 GB a big mailbox's backfill moves."""
    for blank in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(blank)
        if end >= 0:
            raw = raw[:end]
    return raw


def message_id_of(raw: bytes) -> str | None:
    """The normalised Message-ID from the header block of ``raw`` (None when absent)."""
    head = _header_block(raw)
    found = _MESSAGE_ID.search(head)
    if not found:
        return None
    return normalize_message_id(re.sub(rb"\s+", b" ", found.group(1)).decode("utf-8", "replace").strip())


def raw_record(msg: Fetched, claim_check_key: str | None = None, topic: str = RAW,
               reindex_generation: int = 0) -> Output:
    """The record for one message. Keyed per message (not per mailbox) so one mailbox's backfill
    spreads over every partition. With ``claim_check_key`` the body is in S3 and the value empty.
    A header-only record carries ``fetch-outcome: headers_only`` and ``fetch-reason``; one a reindex
    published again its ``reindex-generation``."""
    return RawRecord(msg.sighting, msg.size, msg.sha256, b"" if claim_check_key else msg.raw, msg.internal_date,
                     claim_check_key, msg.headers_only_reason, reindex_generation).to_output(topic)


def dead_letter_record(msg: Fetched, topic: str = RAW) -> Output:
    """The ``<topic>.dlq`` record for a message the server could not deliver: its sighting and
    size, no body, and the ``dlq-*`` provenance the consuming stages' dead letters carry."""
    base = raw_record(msg, topic=topic)
    provenance = [(dlq_headers.SOURCE_TOPIC, topic.encode()), (dlq_headers.STAGE, b"fetcher"),
                  (dlq_headers.REASON, b"fetch_failed"),
                  (dlq_headers.ERROR, (msg.unreadable or "")[:dlq_headers.MAX_ERROR_CHARS].encode())]
    return Output(dlq(topic), base.key, b"", base.headers + provenance)


def ledger_entry(msg: Fetched, claim_checked: bool) -> LedgerEntry:
    """The ledger's account of one published (or dead-lettered) message."""
    if msg.unreadable:
        return LedgerEntry(msg.sighting, None, msg.size, msg.internal_date, msg.sha256, "failed", msg.unreadable[:500])
    outcome = "headers_only" if msg.headers_only_reason else ("claim_checked" if claim_checked else "published")
    return LedgerEntry(msg.sighting, message_id_of(msg.raw), msg.size, msg.internal_date, msg.sha256, outcome,
                       msg.headers_only_reason)
