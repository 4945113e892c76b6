"""The ``mail.raw`` record (fetcher → parser): its headers as typed fields, in one place.

The value is the raw RFC 5322 message, or empty when the message was claim-checked to S3 (the
``claim-check`` header names the object). The metadata travels as Kafka record headers, each a
UTF-8 string; ``HEADERS`` lists them with the JSON Schema each value obeys, and the schema file
``schemas/jsonschema/mail.raw.v1.schema.json`` is exported from that list (``json_schema()``).
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import PoisonMessage
from .messages import Sighting
from .runtime.ports import Headers, Output, Record
from .topics import RAW, REINDEX_GENERATION, reindex_generation

NAME = "mail.raw.v1"  # the schema's name, as the other topics' (``<type>.v<version>``)

MAILBOX, FOLDER, UIDVALIDITY, UID = "mailbox", "folder", "uidvalidity", "uid"
SIZE, SHA256, INTERNAL_DATE, CLAIM_CHECK = "size", "sha256", "internal-date", "claim-check"
FETCH_OUTCOME, FETCH_REASON = "fetch-outcome", "fetch-reason"
HEADERS_ONLY = "headers_only"  # the one fetch-outcome a record carries (absent: the whole message)
UNSPECIFIED = "unspecified"  # the reason of a headers-only record that gives none

_COUNT = {"type": "string", "pattern": "^[0-9]+$"}
# Every header: (name, JSON Schema of its value, required, what it means). The export and the
# producer/consumer below share these names; the order is the order the fetcher writes them in.
HEADERS: tuple[tuple[str, dict[str, Any], bool, str], ...] = (
    (MAILBOX, {"type": "string", "minLength": 1}, True, "The mailbox id the message was fetched from."),
    (FOLDER, {"type": "string"}, True, "The folder (IMAP mailbox name; INBOX for POP3)."),
    (UIDVALIDITY, _COUNT, True, "The folder's UIDVALIDITY when the message was fetched (0 for POP3)."),
    (UID, _COUNT, True, "The message's UID in the folder."),
    (SIZE, _COUNT, True, "The message's size in bytes as the server reported it (RFC822.SIZE): the "
                         "whole message's, also when the value holds only its header block."),
    (SHA256, {"type": "string", "pattern": "^[0-9a-f]{64}$"}, True,
     "SHA-256 (lower-case hex) of the bytes fetched: the value, or the claim-checked object."),
    (INTERNAL_DATE, {"type": "string", "format": "date-time"}, False,
     "The server's INTERNALDATE, ISO 8601 with offset."),
    (CLAIM_CHECK, {"type": "string", "pattern": "^raw/sha256/[0-9a-f]{2}/[0-9a-f]{64}$"}, False,
     "The S3 key of the message when it was over the claim-check threshold; the value is then empty."),
    (FETCH_OUTCOME, {"type": "string", "enum": [HEADERS_ONLY]}, False,
     "headers_only: the value is the message's header block alone (the message was not downloaded)."),
    (FETCH_REASON, {"type": "string"}, False, "Why a headers_only record holds no body (e.g. over_size_limit)."),
    (REINDEX_GENERATION, _COUNT, False, "Set when `accounts reindex` published the message again: its "
                                        "generation (ms since the epoch); the parser passes it on."),
)


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One ``mail.raw`` record. ``value`` is the raw message (its header block alone when
    ``headers_only_reason`` is set), or ``b""`` when ``claim_check`` names the S3 object holding it.
    ``reindex_generation`` 0 is an ordinary fetch."""

    sighting: Sighting
    size: int
    sha256: str
    value: bytes = b""
    internal_date: datetime | None = None
    claim_check: str | None = None
    headers_only_reason: str | None = None
    reindex_generation: int = 0

    def to_headers(self) -> Headers:
        """The Kafka record headers, in ``HEADERS`` order; optional ones only when set."""
        s = self.sighting
        headers = [(MAILBOX, s.mailbox_id.encode()), (FOLDER, s.folder.encode()),
                   (UIDVALIDITY, str(s.uidvalidity).encode()), (UID, str(s.uid).encode()),
                   (SIZE, str(self.size).encode()), (SHA256, self.sha256.encode())]
        if self.internal_date is not None:
            headers.append((INTERNAL_DATE, self.internal_date.isoformat().encode()))
        if self.claim_check:
            headers.append((CLAIM_CHECK, self.claim_check.encode()))
        if self.headers_only_reason:
            headers += [(FETCH_OUTCOME, HEADERS_ONLY.encode()), (FETCH_REASON, self.headers_only_reason.encode())]
        if self.reindex_generation:
            headers.append((REINDEX_GENERATION, str(self.reindex_generation).encode()))
        return headers

    def to_output(self, topic: str = RAW) -> Output:
        """The record to produce: keyed by the sighting (per message, so one mailbox's backfill
        spreads over every partition)."""
        return Output(topic, self.sighting.key.encode(), self.value, self.to_headers())

    @classmethod
    def from_record(cls, record: Record) -> RawRecord:
        """Read a consumed record. Raises PoisonMessage ``missing_header`` when a required header
        is absent and ``bad_header`` when one cannot be read (checked in the order mailbox, folder,
        uidvalidity, uid, sha256, internal-date, size). An unknown ``fetch-outcome`` is read as a
        whole message, and a malformed ``reindex-generation`` as 0 (an ordinary fetch)."""
        sighting = _sighting(record)
        sha256 = _text(record, SHA256)
        internal_date = _date(record)
        claim = _text(record, CLAIM_CHECK, required=False) or None
        size = _int(record, SIZE)
        reason = None
        if _text(record, FETCH_OUTCOME, required=False) == HEADERS_ONLY:
            reason = _text(record, FETCH_REASON, required=False) or UNSPECIFIED
        return cls(sighting, size, sha256, record.value or b"", internal_date, claim, reason,
                   reindex_generation(record))


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``mail.raw`` v1 in the JSON form its examples take (see ``schemas/README``
    or docs): ``key``, ``headers`` (the Kafka record headers, the contract proper) and ``value_eml``."""
    headers = {
        "type": "object",
        "title": "MailRawHeaders",
        "description": "The Kafka record headers of a mail.raw record, each a UTF-8 string. Consumers "
                       "ignore headers they do not know.",
        "properties": {name: {**schema, "description": text} for name, schema, _, text in HEADERS},
        "required": [name for name, _, required, _ in HEADERS if required],
    }
    return {
        "type": "object",
        "title": "mail.raw v1",
        "description": "A mail.raw record (fetcher to parser) in JSON form. The record's key is the sighting "
                       "id and its value the raw RFC 5322 message (empty when claim-checked).",
        "properties": {
            "key": {"type": "string", "description": "The record key: mailbox:folder:uidvalidity:uid."},
            "headers": {"$ref": "#/$defs/MailRawHeaders"},
            "value_eml": {"type": "string", "description": "Examples only: the .eml file beside the example "
                          "whose bytes are the record's value; absent for an empty value."},
        },
        "required": ["key", "headers"],
        "$defs": {"MailRawHeaders": headers},
    }


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
    value = _text(record, INTERNAL_DATE, required=False)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PoisonMessage("bad_header", f"{INTERNAL_DATE}: {exc}") from exc
    # A time without an offset (fetchers before this one wrote imapclient's naive UTC) is UTC:
    # the matcher compares it with the aware times of its rate-limit windows.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _sighting(record: Record) -> Sighting:
    try:
        return Sighting(mailbox_id=_text(record, MAILBOX), folder=_text(record, FOLDER),
                        uidvalidity=int(_text(record, UIDVALIDITY)), uid=int(_text(record, UID)))
    except ValueError as exc:  # pydantic's ValidationError is one too
        raise PoisonMessage("bad_header", str(exc)) from exc
