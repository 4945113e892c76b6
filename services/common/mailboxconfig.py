"""The directory and the mailbox options: ``crm.entities`` (CRM records the matcher links to) and
``mail.mailboxes`` (what later stages know of each mailbox). Re-exported by ``messages``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from .modelbase import EntityType, FolderRole, Model
from .patterns import check_pattern


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
