"""The sender's inputs: ``mail.autoreply`` (responses the matcher renders) and ``mail.outbound``
(mail CRM backends ask mailpipe to send). Re-exported by ``messages``."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field, model_validator

from .modelbase import Address, Model


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
