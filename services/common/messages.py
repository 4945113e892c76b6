"""Message models: the source of truth for every topic's contract.

The JSON Schema files under ``schemas/jsonschema/`` are exported from these models
(``mailpipe schemas export``) and a test fails when they drift. Consumers ignore unknown fields;
a breaking change is a new ``version``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

P = TypeVar("P", bound=BaseModel)


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Address(Model):
    """One mailbox of an address header, the address lower-cased."""

    name: str = ""
    address: str


class Sighting(Model):
    """Where one copy of an email was seen: a message in a folder of a mailbox."""

    mailbox_id: str
    folder: str
    uidvalidity: int
    uid: int

    @property
    def key(self) -> str:
        return f"{self.mailbox_id}:{self.folder}:{self.uidvalidity}:{self.uid}"


class ParsedEmail(Model):
    """The parser's summary of one email (``mail.parsed`` v1 payload)."""

    email_id: uuid.UUID
    message_id: str | None
    sighting: Sighting
    subject: str = ""
    from_: list[Address] = Field(default_factory=list, alias="from")
    to: list[Address] = Field(default_factory=list)
    cc: list[Address] = Field(default_factory=list)
    date: datetime | None = None
    internal_date: datetime | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    size_bytes: int
    sha256: str
    raw_ref: str | None = Field(None, description="S3 key of the raw message when claim-checked")
    text_body: str = Field("", description="text body, truncated to the parser's cap")
    attachment_names: list[str] = Field(default_factory=list)
    defects: list[str] = Field(default_factory=list)


EntityType = Literal["person", "company", "task", "case", "lead", "user", "team"]


class Link(Model):
    """A link from an email to a CRM entity, with the rule that made it."""

    entity_type: EntityType
    entity_id: str
    reason: str


class MatchedEmail(Model):
    """The matcher's output (``mail.matched`` v1 payload): the parsed summary plus its links."""

    email: ParsedEmail
    links: list[Link] = Field(default_factory=list)


class Entity(Model):
    """A CRM directory record on the compacted ``crm.entities`` topic (key ``<type>:<id>``)."""

    type: EntityType
    id: str
    name: str = ""
    emails: list[str] = Field(default_factory=list)
    company_ids: list[str] = Field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.type}:{self.id}"


class Envelope(Model, Generic[P]):
    """The wrapper around every JSON message: routing facts first, the payload last."""

    type: str
    version: int
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    email_id: uuid.UUID | None = None
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str
    payload: P


class ParsedEnvelope(Envelope[ParsedEmail]):
    type: Literal["mail.parsed"] = "mail.parsed"
    version: Literal[1] = 1


class MatchedEnvelope(Envelope[MatchedEmail]):
    type: Literal["mail.matched"] = "mail.matched"
    version: Literal[1] = 1


class EntityEnvelope(Envelope[Entity]):
    type: Literal["crm.entity"] = "crm.entity"
    version: Literal[1] = 1


# Every versioned message with its schema file name; the export and the drift test walk this.
SCHEMAS: dict[str, type[Envelope[Any]]] = {
    "mail.parsed.v1": ParsedEnvelope,
    "mail.matched.v1": MatchedEnvelope,
    "crm.entity.v1": EntityEnvelope,
}


def encode(envelope: Envelope[Any]) -> bytes:
    """Serialise an envelope to JSON bytes (aliases used, e.g. ``from``)."""
    return envelope.model_dump_json(by_alias=True).encode()


def routing_headers(envelope: Envelope[Any]) -> list[tuple[str, bytes]]:
    """The envelope's routing facts as Kafka record headers, so tools route without parsing."""
    headers = [("type", envelope.type.encode()), ("version", str(envelope.version).encode()),
               ("event-id", str(envelope.event_id).encode()), ("producer", envelope.producer.encode())]
    if envelope.email_id:
        headers.append(("email-id", str(envelope.email_id).encode()))
    return headers
