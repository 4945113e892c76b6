"""Message models: the source of truth for every topic's contract.

The JSON Schema files under ``schemas/jsonschema/`` are exported from these models
(``mailpipe schemas export``) and a test fails when they drift. Consumers ignore unknown fields;
a breaking change is a new ``version``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .patterns import check_pattern

P = TypeVar("P", bound=BaseModel)


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Address(Model):
    """One mailbox of an address header, the address lower-cased."""

    name: str = ""
    address: str


# A folder's special-use role (RFC 6154, or set by the operator): sent mail is outgoing (reference
# 003/004's folder functions).
FolderRole = Literal["inbox", "sent", "drafts", "trash", "junk", "archive"]


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


EntityType = Literal["person", "company", "task", "case", "lead", "opportunity", "user", "team"]


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


class Answered(Model):
    """What the sender re-checks of the email an autoresponse answers, before it sends (RFC 3834 §2):
    the matcher's loop rules are the first line, these facts the second."""

    auto_submitted_reasons: list[str] = Field(default_factory=list)
    bounce: bool = False
    return_path: str | None = Field(None, description="'' for the null path: never answered")


class Autoreply(Model):
    """A rendered autoresponse (``mail.autoreply`` v1 payload, key: the email id it answers)."""

    kind: Literal["autoreply", "out_of_office"] = Field(
        "autoreply", description="a rule's autoresponse (reference 002) or the out-of-office notice (003)")
    answered: Answered | None = Field(None, description="absent from a matcher older than this field")
    language: str | None = Field(None, description="the language of the template variant chosen")
    once_per_seconds: int | None = Field(None, description="out of office: the sender answers the recipient at "
                                         "most once in this period (its send ledger decides)")

    email_id: uuid.UUID
    mailbox_id: str
    rule: str
    to: Address
    from_address: str | None = Field(None, description="the mailbox's own address to send from")
    subject: str
    body: str
    format: Literal["plain", "html"] = "plain"
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    case_id: str | None = None


class Requester(Model):
    """The CRM user on whose behalf mail is sent (checked against the mailbox's sharing)."""

    user_id: str
    team_ids: list[str] = Field(default_factory=list)


class OutboundMail(Model):
    """Mail a CRM backend asks mailpipe to send (``mail.outbound`` v1 payload, key: ``outbound_id``).

    The CRM renders the content (its own templates); mailpipe adds the headers, the signature and
    the Reply-To of a case, sends it once (the id is the idempotency key: a second request with the
    same id is not sent again) and appends a copy to the mailbox's Sent folder."""

    outbound_id: uuid.UUID = Field(description="chosen by the CRM; the Message-ID derives from it")
    mailbox_id: str = Field(description="the mailbox to send from (its server, address and Sent folder)")
    requested_by: Requester | None = Field(None, description="absent: the CRM itself (a workflow)")
    to: list[Address] = Field(min_length=1)
    cc: list[Address] = Field(default_factory=list)
    bcc: list[Address] = Field(default_factory=list)
    subject: str = Field(max_length=998)
    text_body: str = ""
    html_body: str | None = None
    case_id: str | None = Field(None, description="the case the mail answers: its Reply-To is the mailbox's "
                                "address, so the customer's reply reaches the group (reference 001)")
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    signature: bool = Field(True, description="append the mailbox's signature (custom or central)")

    @model_validator(mode="after")
    def _has_body(self) -> OutboundMail:
        if not self.text_body and not self.html_body:
            raise ValueError("text_body or html_body is required")
        return self


class Entity(Model):
    """A CRM directory record on the compacted ``crm.entities`` topic (key ``<type>:<id>``).

    One shape for every type; each type reads the fields that concern it. A person's first address
    is its main address (company matching uses only that one)."""

    type: EntityType
    id: str
    name: str = ""
    emails: list[str] = Field(default_factory=list, description="addresses; a person's first is the main one")
    company_ids: list[str] = Field(default_factory=list, description="person: the companies it belongs to")
    hostnames: list[str] = Field(default_factory=list, description="company: host names its addresses use")
    blocked: bool = Field(False, description="company: blocked from mail import")
    number: int | None = Field(None, description="task: the number in [Word#1234]; case: its number")
    company_id: str | None = Field(None, description="task, case, opportunity: the company")
    person_id: str | None = Field(None, description="task, case: the person")
    contact_ids: list[str] = Field(default_factory=list, description="opportunity: its contacts (person ids)")
    status: str | None = Field(None, description="case: open, pending, closed, ...; opportunity: open unless it "
                               "starts with closed (closed won, closed lost)")
    assignee: str | None = Field(None, description="case: the user it is assigned to")
    team_id: str | None = Field(None, description="case: the team")
    active: bool = Field(True, description="user: receives cases when active")
    team_ids: list[str] = Field(default_factory=list, description="user: the teams it belongs to")
    followers: list[str] = Field(default_factory=list, description="any linkable record: the users (ids) who "
                                 "follow it and are notified of its new mail (reference 001)")
    language: str | None = Field(None, description="person: the language tag mail to it is written in")
    filters: list[MailFilter] = Field(default_factory=list, description="user: the user's own filters, applied "
                                      "to every mailbox the user owns after the global ones (reference 001)")

    @property
    def key(self) -> str:
        return f"{self.type}:{self.id}"


ConditionField = Literal["from", "to", "cc", "bcc", "subject", "body"]
ConditionOperator = Literal["contains", "not_contains", "equals", "starts_with", "ends_with", "matches"]


class Condition(Model):
    """One test on an email (reference 001/002): ``matches`` is a wildcard with ``*`` and ``?``."""

    # The docstring is the exported schema's description (schemas/jsonschema). ``matches`` takes any
    # pattern of common/patterns.py (``/regex/`` too); one that cannot run is refused at ``value``.

    field: ConditionField
    op: ConditionOperator
    value: str

    @field_validator("value")
    @classmethod
    def _runnable_pattern(cls, value: str, info: ValidationInfo) -> str:
        return check_pattern(value, "condition", info.context) if info.data.get("op") == "matches" else value


class MailFilter(Model):
    """A filter whose conditions are AND-ed; a match skips the email (reference 001)."""

    name: str = ""
    conditions: list[Condition] = Field(min_length=1)
    action: Literal["skip"] = "skip"


class TemplateVariant(Model):
    """One language's text of a template: placeholders ``{sender_name}``, ``{subject}`` and
    ``{case_number}`` (values HTML-escaped in an HTML body)."""

    subject: str
    body: str
    format: Literal["plain", "html"] = "plain"


class Template(Model):
    """A template of the catalogue (reference 002: response template with translations), one
    variant per language tag (``en``, ``de``, ``pt-br``); the matcher reads the catalogue from
    its templates file."""

    name: str = Field(min_length=1)
    variants: dict[str, TemplateVariant] = Field(min_length=1, description="language tag -> variant")


class _Response(Model):
    """What an automatic response says: a catalogue template by name, or its own subject and body."""

    template: str | None = Field(None, description="a template of the catalogue (chosen by language)")
    subject: str = ""
    body: str = ""
    format: Literal["plain", "html"] = "plain"

    @model_validator(mode="after")
    def _has_text(self) -> _Response:
        if self.template is None and not (self.subject and self.body):
            raise ValueError("a template, or a subject and a body, is required")
        return self


class AutoresponseRule(_Response):
    """An autoresponse rule (reference 002): AND-ed conditions and the response (a template of the
    catalogue, or a subject and body with ``{sender_name}``, ``{subject}`` and ``{case_number}``
    placeholders, plain or HTML)."""

    name: str
    active: bool = True
    conditions: list[Condition] = Field(default_factory=list)


class OutOfOffice(_Response):
    """The mailbox's out-of-office notice (reference 003): sent between ``starts_at`` and
    ``ends_at`` (either open) to mail that names the mailbox in To or Cc (RFC 3834 §2), at most
    once per sender per ``period_days``, with the loop protection of every autoresponse."""

    active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    period_days: int = Field(4, ge=1, le=365, description="answer a sender at most once in this many days")

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc_unless_given(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    def in_force(self, at: datetime) -> bool:
        return self.active and (self.starts_at is None or self.starts_at <= at) and (
            self.ends_at is None or at < self.ends_at)


class ProcessingAction(Model):
    """What the matcher does with each email of the mailbox (reference 002)."""

    action: Literal["none", "lead", "case"] = "none"
    owner_user: str | None = Field(None, description="owner of created leads and cases")
    lead_source: str | None = None
    case_distribution: Literal["direct", "round_robin", "least_busy"] = "direct"
    case_team: str | None = Field(None, description="team whose active users receive cases")
    case_assignee: str | None = Field(None, description="the user for direct distribution")


def _runnable_filename_filter(value: str, info: ValidationInfo) -> str:
    return check_pattern(value, "filename", info.context)


# A file name filter (reference 000, common/patterns.py); one that cannot run is refused, at its index.
FilenameFilter = Annotated[str, AfterValidator(_runnable_filename_filter)]


class MailboxOptions(Model):
    """The per-mailbox options the later stages read (references 000, 001, 002). No secrets."""

    owner_user: str | None = None
    team: str | None = None
    access_users: list[str] = Field(
        default_factory=list, description="users (CRM user ids) who may read this mailbox's mail besides its "
        "owner (reference 002, access management); the reads apply it to users at access level own or team")
    access_teams: list[str] = Field(
        default_factory=list, description="teams (or roles) whose members may read this mailbox's mail, "
        "like access_users")
    copy_files: Literal["none", "task", "company", "both"] = "none"
    files_folder: str = ""
    include_filters: list[FilenameFilter] = Field(default_factory=list, description="only save files that match")
    exclude_filters: list[FilenameFilter] = Field(default_factory=list, description="never save files that match")
    delete_mails_after_months: int | None = Field(None, ge=1)
    delete_attachments_after_months: int | None = Field(None, ge=1)
    only_task_mails: bool = Field(False, description="read only mails with a task association")
    link_to_crm: bool = Field(True, description="link the mailbox's mail to CRM records (reference 004, on by "
                              "default); off, mail passing the filters is stored with no links and no actions, "
                              "and `accounts reindex` after turning it on links what was stored meanwhile")
    processing: ProcessingAction = ProcessingAction()
    filters: list[MailFilter] = Field(default_factory=list)
    autoresponse_rules: list[AutoresponseRule] = Field(default_factory=list)
    out_of_office: OutOfOffice | None = None
    language: str = Field("en", description="the language of templates when neither the person's nor the "
                          "email's is known (reference 002, translations)")

    @model_validator(mode="after")
    def _linking_consistent(self) -> MailboxOptions:
        # Each of these needs the links that link_to_crm off never makes: refused when saved, not
        # left to drop every email (only_task_mails) or to do nothing silently (the rest).
        if not self.link_to_crm:
            needs = [name for name, on in (("only_task_mails", self.only_task_mails),
                                           ("processing.action", self.processing.action != "none"),
                                           ("copy_files", self.copy_files != "none"),
                                           ("autoresponse_rules", bool(self.autoresponse_rules)),
                                           ("out_of_office", self.out_of_office is not None)) if on]
            if needs:
                raise ValueError(f"link_to_crm is off, so {', '.join(needs)} cannot apply: turn link_to_crm on "
                                 "or leave them unset")
        return self


class MailboxConfig(Model):
    """A mailbox as the later stages see it, on the compacted ``mail.mailboxes`` topic (key: the
    mailbox id; a null value deletes it). Published by the fetcher's accounts commands."""

    mailbox_id: str
    name: str
    enabled: bool = True
    protocol: Literal["imap", "pop3"]
    own_addresses: list[str] = Field(default_factory=list,
                                     description="the mailbox's own addresses (loop protection)")
    folder_roles: dict[str, FolderRole] = Field(
        default_factory=dict, description="the role of each read folder that has one (name -> role); mail in "
        "a sent-role folder is outgoing")
    options: MailboxOptions = MailboxOptions()


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
