"""Checking an account before it is saved: reach the server, make sure it speaks the configured
protocol, log in, list the folders with their special-use roles. Every failure is a
MailboxUnavailable naming the field to fix and the cause. Blocks on the network."""

from __future__ import annotations

from dataclasses import dataclass

from ...common import smtp
from ...common.messages import FolderRole
from ..connect import probe
from ..errors import FailureKind, MailboxUnavailable
from ..folders import ServerFolder, role_of
from ..oauth import access_token
from ..sources.imap import ImapMailSource
from ..sources.pop3 import Pop3MailSource
from .model import Account, AccountSecrets


@dataclass(frozen=True)
class CheckReport:
    folders: list[ServerFolder]
    messages: int | None  # POP3: messages on the server
    secrets: AccountSecrets  # possibly refreshed (OAuth2): save these

    def roles(self) -> dict[str, FolderRole | None]:
        return {f.name: role_of(f) for f in self.folders}


def check_account(account: Account, secrets: AccountSecrets, timeout: float = 20.0) -> CheckReport:
    """Raise MailboxUnavailable when ``account`` cannot be read; else what the server offers."""
    missing = secrets.missing_for(account)
    if missing:
        raise MailboxUnavailable("auth_failed", missing[0], f"{missing[0]} is required for auth {account.auth}")
    expected = "IMAP" if account.protocol == "imap" else "POP3"
    spoken = probe(account, timeout)
    if spoken != expected:
        raise MailboxUnavailable("wrong_protocol", "protocol",
                                 f"the server on port {account.effective_port} speaks {spoken}, not {expected}")
    if account.auth == "oauth2":
        secret, refreshed = access_token(account, secrets, timeout)
        secrets = refreshed or secrets
    else:
        assert secrets.password is not None
        secret = secrets.password.get_secret_value()
    if account.protocol == "pop3":
        with Pop3MailSource(account, secret, timeout) as pop:
            report = CheckReport([ServerFolder("INBOX")], len(pop.listing()), secrets)
    else:
        with ImapMailSource(account, secret, timeout) as src:
            report = CheckReport([f for f in src.folders() if f.selectable], None, secrets)
    if account.smtp is not None:
        check_smtp(account, secrets, timeout, token=secret if account.auth == "oauth2" else None)
    return report


# SMTP failure reasons (common.smtp) as the kinds an accounts check reports
_SMTP_KINDS: dict[str, FailureKind] = {"auth": "auth_failed", "tls": "tls_handshake", "timeout": "timeout",
                                       "connection": "connection_refused"}


def check_smtp(account: Account, secrets: AccountSecrets, timeout: float, token: str | None = None) -> None:
    """EHLO, STARTTLS and AUTH on the account's outgoing server, as the sender will (``token``:
    the OAuth2 access token the IMAP check just used); raises MailboxUnavailable naming the
    ``smtp.*`` field to fix."""
    assert account.smtp is not None
    secret = token if account.smtp.auth == "oauth2" else secrets.smtp_secret()
    try:
        smtp.check(account.smtp, account.smtp.username or account.username, secret, timeout)
    except smtp.SmtpFailure as exc:
        raise MailboxUnavailable(_SMTP_KINDS.get(exc.reason, "protocol"), exc.field, exc.text) from None
