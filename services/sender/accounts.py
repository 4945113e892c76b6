"""Where a mailbox sends from: its SMTP server (or the default outbound account's), its login,
its From address, its signature and sharing, read from the accounts table.

The accounts are the fetcher's (``mailpipe accounts`` writes them); the sender reads the part of
the stored JSON that concerns sending through a narrow model, and opens the sealed secrets with
the shared box. Blocks on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..common.secretbox import SealedBox
from ..common.sending import SendingOptions
from ..common.smtp import SmtpConfig
from .tokens import OAuthGrant


class _Options(BaseModel):
    model_config = ConfigDict(extra="ignore")
    owner_user: str | None = None


class _OAuth2(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token_url: str
    client_id: str
    scope: str | None = None


class StoredSending(BaseModel):
    """The sending half of a stored account (the rest of its JSON is ignored)."""

    model_config = ConfigDict(extra="ignore")
    id: str
    name: str = ""
    username: str
    email: str | None = None
    protocol: str = "imap"
    auth: str = "password"
    oauth2: _OAuth2 | None = None
    smtp: SmtpConfig | None = None
    sending: SendingOptions = SendingOptions()
    options: _Options = _Options()

    @property
    def address(self) -> str | None:
        return self.email or (self.username if "@" in self.username else None)


@dataclass(frozen=True)
class SendingAccount:
    """A mailbox ready to send: the server and login to use (its own or the default account's)."""

    mailbox: StoredSending
    smtp: SmtpConfig
    username: str
    password: str | None = field(repr=False)
    from_address: str
    via_default: str | None = None  # the default outbound account's id when its server is used
    # the default account's own address when its server is used: the envelope sender and the
    # Sender header (RFC 5322 §3.6.2: the agent that sends on the From's behalf), so bounces and
    # the server's sender checks go to the account that logged in
    on_behalf_of: str | None = None
    grant: OAuthGrant | None = None  # smtp auth oauth2: the login's grant, whose token is the password

    def secret(self, conn: Any, box: SealedBox, timeout: float) -> str | None:
        """What to log in with: the password, or a current access token (refreshed when needed;
        raises SmtpFailure like a login when that fails)."""
        return self.grant.token(conn, box, timeout) if self.grant is not None else self.password


class CannotSend(Exception):
    """The mailbox cannot send as configured: ``field`` names the setting, ``reason`` says why;
    ``mailbox`` is what is stored of it (its sharing still decides who may ask)."""

    def __init__(self, field: str, reason: str, mailbox: StoredSending) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason, self.mailbox = field, reason, mailbox


class UnknownMailbox(Exception):
    """No account has this id (removed, or never added)."""


_SELECT = "SELECT config, secrets FROM mailbox_accounts "


def load(conn: Any, box: SealedBox, mailbox_id: str) -> SendingAccount:
    """The mailbox's sending setup. Raises UnknownMailbox, or CannotSend naming the field when it
    has no server of its own and no default account to use (or no From address)."""
    row = conn.execute(_SELECT + "WHERE mailbox_id = %s", (mailbox_id,)).fetchone()
    if row is None:
        raise UnknownMailbox(mailbox_id)
    mailbox = StoredSending.model_validate(row[0])
    server, secrets_token, login_of, via, agent = mailbox.smtp, row[1], mailbox, None, None
    if server is None:
        if not mailbox.sending.use_default_account:
            raise CannotSend("smtp", "the mailbox has no outgoing server (set smtp, or sending.use_default_account)",
                             mailbox)
        found = conn.execute(_SELECT + "WHERE config->'sending'->>'default_account' = 'true' LIMIT 1").fetchone()
        if found is None:
            raise CannotSend("sending.use_default_account", "no account is the default outbound account "
                             "(set sending.default_account on one)", mailbox)
        login_of = StoredSending.model_validate(found[0])
        server, secrets_token, via = login_of.smtp, found[1], login_of.id
        assert server is not None  # a default account has smtp (the account model requires it)
        agent = server.from_address or login_of.address
    secrets = box.open_json(bytes(secrets_token))
    password = secrets.get("smtp_password") or secrets.get("password")
    # The mailbox's own address is its From; its own server may name another (a relay login).
    sender = (server.from_address if via is None else None) or mailbox.address
    if not sender:
        raise CannotSend("smtp.from_address", "no From address: set email or smtp.from_address", mailbox)
    grant = None
    if server.auth == "oauth2" and login_of.oauth2 is not None:
        grant = OAuthGrant(login_of.id, login_of.oauth2.token_url, login_of.oauth2.client_id, login_of.oauth2.scope,
                           secrets)
    return SendingAccount(mailbox, server, server.username or login_of.username, password, sender, via,
                          agent if agent != sender else None, grant)


def own_addresses(conn: Any) -> frozenset[str]:
    """Every mailbox's address: an autoresponse to one of them would answer ourselves."""
    rows = conn.execute("SELECT lower(coalesce(config->>'email', config->>'username')) FROM mailbox_accounts")
    return frozenset(r[0] for r in rows if r[0] and "@" in r[0])


def latest_change(conn: Any) -> datetime | None:
    """When any account last changed: a stop records it, and any later change (the mailbox's own,
    or the default outbound account's it sends through) lets the mailbox try again."""
    row = conn.execute("SELECT max(updated_at) FROM mailbox_accounts").fetchone()
    return row[0] if row else None
