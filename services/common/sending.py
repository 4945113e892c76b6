"""Pure: how a mailbox sends (references 001-004), beside its SMTP server (``smtp.SmtpConfig``).

Stored with the account in PostgreSQL (``mailpipe accounts``); the sender reads it there. Nothing
here is secret, but none of it goes on ``mail.mailboxes`` either: only the sender needs it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# mailer-daemon, postmaster, no-reply / noreply / do-not-reply / donotreply (any separator)
_SYSTEM_LOCAL = re.compile(r"^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply)([+\-_.].*)?$")


def is_system_sender(address: str) -> bool:
    """mailer-daemon, postmaster and no-reply style addresses: never answered (the matcher's loop
    rules and the sender's re-check), never a case."""
    return bool(_SYSTEM_LOCAL.match(address.rpartition("@")[0].strip().lower()))


class SendingOptions(BaseModel):
    """Whose server a mailbox sends through, who may send from it, and its signature."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    use_default_account: bool = Field(
        False, description="send through the default outbound account's server instead of an own one (001 "
        "'system default', 003 'Main', 004 'Standard'); the copy still goes to this mailbox's Sent folder")
    default_account: bool = Field(
        False, description="this account is the default outbound account (at most one; it needs smtp)")
    shared: bool = Field(False, description="users other than the owner may send from it (001 'shared', 003 "
                         "'Share sender'): everyone when both lists are empty, else the users and teams listed")
    shared_users: list[str] = Field(default_factory=list, description="users (CRM ids) who may send from it")
    shared_teams: list[str] = Field(default_factory=list, description="teams whose members may send from it")
    signature: Literal["none", "custom", "central"] = Field(
        "none", description="appended to mail from the CRM: the mailbox's own (signature_text) or the central "
        "one of the sender's settings (003 'Centralized signature')")
    signature_text: str = ""
    signature_html: str | None = Field(None, description="the HTML form of a custom signature (default: the text)")

    @model_validator(mode="after")
    def _consistent(self) -> SendingOptions:
        if self.use_default_account and self.default_account:
            raise ValueError("use_default_account and default_account exclude each other")
        if self.signature == "custom" and not (self.signature_text or self.signature_html):
            raise ValueError("signature custom needs signature_text or signature_html")
        return self

    def may_send(self, user_id: str | None, team_ids: list[str], owner_user: str | None) -> bool:
        """Whether ``user_id`` (None: the CRM itself, e.g. a workflow) may send from the mailbox."""
        if user_id is None or user_id == owner_user:
            return True
        if not self.shared:
            return False
        if not self.shared_users and not self.shared_teams:
            return True
        return user_id in self.shared_users or bool(set(team_ids) & set(self.shared_teams))
