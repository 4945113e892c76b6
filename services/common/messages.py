"""Message models: the source of truth for every topic's contract.

The JSON Schema files under ``schemas/jsonschema/`` are exported from these models
(``mailpipe schemas export``) and a test fails when they drift. Consumers ignore unknown fields;
a breaking change is a new ``version``. The payloads live in three modules by what they carry:
this one (``mail.parsed``, ``mail.matched`` and the envelope), ``mailboxconfig`` (``crm.entities``,
``mail.mailboxes``: the directory and the mailbox options) and ``outbound`` (``mail.autoreply``,
``mail.outbound``); every name is importable from here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from .mailboxconfig import (
    AutoresponseRule,
    Condition,
    ConditionField,
    ConditionOperator,
    Entity,
    FilenameFilter,
    MailboxConfig,
    MailboxOptions,
    MailFilter,
    OutOfOffice,
    ProcessingAction,
    Template,
    TemplateVariant,
)
from .modelbase import Address, EntityType, FolderRole, Model
from .outbound import Answered, Autoreply, OutboundMail, Requester

__all__ = [  # the names other modules import from here, defined in the three payload modules
    "Address", "Answered", "Autoreply", "AutoresponseRule", "Condition", "ConditionField", "ConditionOperator",
    "Entity", "EntityType", "FilenameFilter", "FolderRole", "MailboxConfig", "MailboxOptions", "MailFilter", "Model",
    "OutboundMail", "OutOfOffice", "ProcessingAction", "Requester", "Template", "TemplateVariant",
]

P = TypeVar("P", bound=BaseModel)


class Sighting(Model):
    """Where one copy of an email was seen: a message in a folder of a mailbox."""

    mailbox_id: str
    folder: str
    uidvalidity: int
    uid: int

    @property
    def key(self) -> str:
        return f"{self.mailbox_id}:{self.folder}:{self.uidvalidity}:{self.uid}"


class Attachment(Model):
    """One attachment or inline part, stored in S3 by content hash. The filename is metadata only:
    sanitised (no path separators or control characters, bounded length, never empty)."""

    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    object_key: str = Field(description="content-addressed S3 key, att/sha256/<2 hex>/<sha256>")
    disposition: Literal["attachment", "inline"] = "attachment"
    content_id: str | None = Field(None, description="Content-ID without angle brackets (inline images)")
    origin: Literal["mime", "tnef"] = Field("mime", description="a MIME part, or a file unpacked from winmail.dat")
    depth: int = Field(0, description="how many message/rfc822 levels enclose the part (0: the email itself)")


class EmbeddedEmail(Model):
    """A ``message/rfc822`` part: the attached email's summary (its bytes are also an attachment)."""

    message_id: str | None = None
    subject: str = ""
    from_: list[Address] = Field(default_factory=list, alias="from")
    date: datetime | None = None
    depth: int = Field(1, description="1 for an email attached to this one, 2 for one attached to that, ...")


class BounceRecipient(Model):
    """A recipient a delivery status notification reports as failed."""

    address: str
    status: str | None = Field(None, description="RFC 3463 status code, e.g. 5.1.1")
    action: str | None = Field(None, description="failed, delayed, ...")
    diagnostic: str | None = None


class Bounce(Model):
    """Why the parser thinks the email is a bounce, and what failed."""

    kind: Literal["dsn", "mailer_daemon"] = Field(
        description="dsn: multipart/report delivery-status; mailer_daemon: a mailer-daemon/postmaster sender")
    recipients: list[BounceRecipient] = Field(default_factory=list)


class TaskToken(Model):
    """The ``[Word#1234]`` token at the end of the subject (the matcher checks the task exists)."""

    word: str
    number: int
    text: str = Field(description="the token as written, brackets included")


class ParsedEmail(Model):
    """The parser's summary of one email (``mail.parsed`` v1 payload)."""

    email_id: uuid.UUID
    message_id: str | None
    sighting: Sighting
    subject: str = ""
    from_: list[Address] = Field(default_factory=list, alias="from")
    sender: list[Address] = Field(default_factory=list, description="the Sender header")
    reply_to: list[Address] = Field(default_factory=list)
    to: list[Address] = Field(default_factory=list)
    cc: list[Address] = Field(default_factory=list)
    bcc: list[Address] = Field(default_factory=list)
    delivered_to: list[Address] = Field(default_factory=list)
    date: datetime | None = None
    date_source: Literal["header", "internal_date", "none"] = Field(
        "none", description="where ``date`` comes from: the Date header or, when missing or unreadable, the "
                            "server's internal date")
    internal_date: datetime | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list, description="the last 32 References, oldest first")
    thread_root: str | None = Field(None, description="first of References, else In-Reply-To, else Message-ID")
    size_bytes: int
    sha256: str
    raw_ref: str | None = Field(None, description="S3 key of the raw message when claim-checked")
    text_body: str = Field("", description="text body, truncated to the parser's cap")
    text_body_truncated: bool = False
    text_body_ref: str | None = Field(None, description="S3 key of the whole text body when truncated")
    html_body: str = Field("", description="HTML body, truncated to the parser's cap")
    html_body_truncated: bool = False
    html_body_ref: str | None = Field(None, description="S3 key of the whole HTML body when truncated")
    attachments: list[Attachment] = Field(default_factory=list)
    attachment_names: list[str] = Field(default_factory=list, description="the attachments' filenames")
    embedded_emails: list[EmbeddedEmail] = Field(default_factory=list)
    auto_submitted: bool = Field(False, description="automatic mail: never answer it (see auto_submitted_reasons)")
    auto_submitted_reasons: list[str] = Field(
        default_factory=list, description="the headers that make it automatic, e.g. auto-submitted:auto-replied, "
                                          "precedence:bulk, list-unsubscribe, x-autoreply, x-loop")
    return_path: str | None = Field(None, description="the Return-Path address ('' for the null path <>), absent "
                                    "when the header is (and from a parser older than this field)")
    content_language: str | None = Field(None, description="the first Content-Language tag, lower-cased")
    bounce: Bounce | None = None
    task_token: TaskToken | None = None
    fetch_outcome: Literal["full", "headers_only"] = Field(
        "full", description="headers_only: the fetcher sent only the header block (no body, no attachments)")
    truncated_reason: str | None = Field(None, description="why the body was not fetched, e.g. over_size_limit")
    defects: list[str] = Field(default_factory=list, description="stdlib email.errors defect class names")
    warnings: list[str] = Field(default_factory=list,
                                description="what the parser worked around, e.g. charset_detected, tnef_unreadable")


class Link(Model):
    """A link from an email to a CRM entity, with the rule that made it."""

    entity_type: EntityType
    entity_id: str
    reason: str


ActionKind = Literal["case_created", "case_joined", "case_held", "lead_created", "lead_linked",
                     "autoreply_queued", "autoreply_suppressed", "files_to_copy", "skipped"]


class FileCopy(Model):
    """Attachments to copy to a task or company folder (reference 000, "Copy files to")."""

    target_type: Literal["task", "company"]
    target_id: str
    folder: str = ""
    object_keys: list[str] = Field(default_factory=list, description="att/sha256/.. keys of the files to copy")
    filenames: list[str] = Field(default_factory=list, description="their names, in the same order")


class Action(Model):
    """One thing the matcher decided for an email, with the rule that made it (or why it did not)."""

    kind: ActionKind
    reason: str
    entity_id: str | None = Field(None, description="the case or lead id")
    number: str | None = Field(None, description="the case number")
    assignee: str | None = Field(None, description="the user a created case is assigned to")
    team: str | None = None
    company_id: str | None = Field(None, description="case_created, lead_created: the matched company")
    person_id: str | None = Field(None, description="case_created: the matched person")
    as_note: bool = Field(False, description="case_joined: the email is added to the case's stream as a note")
    copies: list[FileCopy] = Field(default_factory=list, description="files_to_copy: what goes where")


class FileNotCopied(Model):
    """An attachment the matcher does not copy to a CRM folder, and why (reference 000)."""

    object_key: str = Field(description="att/sha256/.. key of the attachment")
    reason: str = Field(description="the first rule that kept it out: mailbox_option_none, no_task_association, "
                        "inline_part, filename_filter_include, filename_filter_exclude, no_target, "
                        "not_subject_company, no_files_switch")


class Notification(Model):
    """A user to notify of the email because the user follows a record it is linked to (reference
    001: "even if they are not listed in To or CC")."""

    user_id: str
    entity_type: EntityType
    entity_id: str


class MatchedEmail(Model):
    """The matcher's output (``mail.matched`` v1 payload): the parsed summary plus its links and
    the actions taken. An email with ``skipped`` set is not to be imported (the reason says why)."""

    email: ParsedEmail
    links: list[Link] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    skipped: str | None = Field(None, description="why the email is not imported, e.g. filter:<name>")
    files_not_copied: list[FileNotCopied] = Field(
        default_factory=list, description="each attachment of an imported email left out of files_to_copy, with "
        "its reason (absent from a matcher older than this field)")
    notify: list[Notification] = Field(
        default_factory=list, description="the followers of each linked record to notify, except users whose "
        "address is already in From, To or Cc (absent from a matcher older than this field)")
    folder_role: FolderRole | None = Field(
        None, description="the role of the folder the email was seen in, as its mailbox says (sent: outgoing "
        "mail, matched on its recipients; absent when the folder has none or from an older matcher)")


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


class AutoreplyEnvelope(Envelope[Autoreply]):
    type: Literal["mail.autoreply"] = "mail.autoreply"
    version: Literal[1] = 1


class OutboundEnvelope(Envelope[OutboundMail]):
    type: Literal["mail.outbound"] = "mail.outbound"
    version: Literal[1] = 1


class EntityEnvelope(Envelope[Entity]):
    type: Literal["crm.entity"] = "crm.entity"
    version: Literal[1] = 1


class MailboxEnvelope(Envelope[MailboxConfig]):
    type: Literal["mail.mailbox"] = "mail.mailbox"
    version: Literal[1] = 1


# Every versioned message with its schema file name; the export and the drift test walk this.
SCHEMAS: dict[str, type[Envelope[Any]]] = {
    "mail.parsed.v1": ParsedEnvelope,
    "mail.matched.v1": MatchedEnvelope,
    "crm.entity.v1": EntityEnvelope,
    "mail.mailbox.v1": MailboxEnvelope,
    "mail.autoreply.v1": AutoreplyEnvelope,
    "mail.outbound.v1": OutboundEnvelope,
}


def encode(envelope: Envelope[Any]) -> bytes:
    """Serialise an envelope to JSON bytes (aliases used, e.g. ``from``): ``model_dump_json``'s
    bytes, from the serializer it wraps, without its str round trip (half the CPU: bench/records.py)."""
    return envelope.__pydantic_serializer__.to_json(envelope, by_alias=True)


def routing_headers(envelope: Envelope[Any]) -> list[tuple[str, bytes]]:
    """The envelope's routing facts as Kafka record headers, so tools route without parsing."""
    headers = [("type", envelope.type.encode()), ("version", str(envelope.version).encode()),
               ("event-id", str(envelope.event_id).encode()), ("producer", envelope.producer.encode())]
    if envelope.email_id:
        headers.append(("email-id", str(envelope.email_id).encode()))
    return headers
