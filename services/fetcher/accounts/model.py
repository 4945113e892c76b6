"""Pure: a mailbox account as the operator configures it, and its secrets.

The account (everything but secrets) is stored as JSON in PostgreSQL and its non-secret options
are published on ``mail.mailboxes``; the secrets live only encrypted (see ``secrets.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ...common.messages import FolderRole, MailboxConfig, MailboxOptions
from ...common.sending import SendingOptions
from ...common.smtp import SmtpConfig
from .presets import Protocol, Security, guess_port

ID_PATTERN = r"^[A-Za-z0-9._@-]{1,100}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OAuth2(_Frozen):
    """The non-secret half of XOAUTH2: where to refresh the access token, and as which client."""

    token_url: str = Field(pattern=r"^https?://")
    client_id: str
    scope: str | None = None


class Folder(_Frozen):
    """A folder of the account: ``sync`` folders are read on every run (subscribed); the role is
    the special-use role found on the server (RFC 6154) or set by the operator."""

    name: str = Field(min_length=1)
    role: FolderRole | None = None
    sync: bool = True


class Account(_Frozen):
    """One mailbox to import from (references 000, 002, 003, 004)."""

    id: str = Field(pattern=ID_PATTERN, description="stable id; part of every sighting key")
    name: str = ""
    server: str = Field(min_length=1)
    username: str = Field(min_length=1)
    email: str | None = Field(None, description="the mailbox's address; default: the username if it is one")
    protocol: Protocol = "imap"
    port: int | None = Field(None, ge=1, le=65535, description="empty: guessed from protocol and security")
    security: Security = "tls"
    verify_certificate: bool = True
    ca_file: str | None = Field(None, description="PEM file of a custom CA to trust")
    auth: Literal["password", "oauth2"] = "password"
    oauth2: OAuth2 | None = None
    folders: list[Folder] = Field(default_factory=lambda: [Folder(name="INBOX", role="inbox")])
    enabled: bool = True
    poll_interval_seconds: int = Field(300, ge=5)
    push: bool = Field(False, description="keep an IMAP IDLE connection instead of polling")
    max_message_bytes: int | None = Field(None, gt=0, description="size gate; default from the fetcher")
    options: MailboxOptions = MailboxOptions()
    smtp: SmtpConfig | None = Field(None, description="the outgoing server; empty: the mailbox does not send "
                                    "unless sending.use_default_account")
    sending: SendingOptions = SendingOptions()

    @model_validator(mode="after")
    def _consistent(self) -> Account:
        if self.smtp is not None and self.smtp.auth == "oauth2" and self.auth != "oauth2":
            raise ValueError("smtp.auth oauth2 uses the mailbox's OAuth2 grant: it needs auth oauth2 (and oauth2)")
        if self.sending.default_account and self.smtp is None:
            raise ValueError("sending.default_account needs smtp (the server every default sender uses)")
        if self.sending.use_default_account and self.smtp is not None:
            raise ValueError("sending.use_default_account and smtp exclude each other: the mailbox sends through "
                             "its own server or the default account's")
        if self.auth == "oauth2" and self.oauth2 is None:
            raise ValueError("auth oauth2 needs oauth2.token_url and oauth2.client_id")
        if self.protocol == "pop3" and self.push:
            raise ValueError("push needs IMAP IDLE; POP3 mailboxes are polled")
        names = [f.name for f in self.folders]
        if len(set(names)) != len(names):
            raise ValueError("a folder is listed twice")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or guess_port(self.protocol, self.security, self.server)

    @property
    def own_addresses(self) -> list[str]:
        address = self.email or (self.username if "@" in self.username else None)
        return [address.lower()] if address else []

    @property
    def sync_folders(self) -> list[str]:
        """The folders read on every run; POP3 has exactly one."""
        return ["INBOX"] if self.protocol == "pop3" else [f.name for f in self.folders if f.sync]

    def mailbox_config(self) -> MailboxConfig:
        """What the later stages may know of this mailbox: no server, no username, no secrets."""
        roles = {"INBOX": "inbox"} if self.protocol == "pop3" else {f.name: f.role for f in self.folders if f.role}
        return MailboxConfig(mailbox_id=self.id, name=self.name or self.id, enabled=self.enabled,
                             protocol=self.protocol, own_addresses=self.own_addresses, folder_roles=roles,
                             options=self.options)


class AccountSecrets(_Frozen):
    """What is encrypted at rest. Never logged (``SecretStr``), never put on a topic."""

    password: SecretStr | None = None
    smtp_password: SecretStr | None = Field(None, description="empty: the mailbox password")
    oauth2_client_secret: SecretStr | None = None
    oauth2_refresh_token: SecretStr | None = None
    oauth2_access_token: SecretStr | None = None
    oauth2_expires_at: float | None = None

    def reveal(self) -> dict[str, object]:
        """The plain values, for encryption only."""
        return {k: (v.get_secret_value() if isinstance(v, SecretStr) else v) for k, v in self}

    def missing_for(self, account: Account) -> list[str]:
        """The secret fields ``account`` needs but that are empty (reading first, then sending)."""
        missing = []
        if account.auth == "password" and not self.password:
            missing.append("password")
        if account.auth == "oauth2" and not (self.oauth2_refresh_token or self.oauth2_access_token):
            missing.append("oauth2_refresh_token")
        if account.smtp and account.smtp.auth == "password" and not (self.smtp_password or self.password):
            missing.append("smtp_password")
        return missing

    def smtp_secret(self) -> str | None:
        """The SMTP password: its own, else the mailbox password (usually the same, reference 003).
        (For smtp auth oauth2 the login takes the mailbox's current access token instead.)"""
        chosen = self.smtp_password or self.password
        return chosen.get_secret_value() if chosen else None
