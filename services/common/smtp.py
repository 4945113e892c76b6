"""SMTP: a mailbox's outgoing server settings, a logged-in connection, and what a failure means.

Shared by the accounts commands (checked when saved: EHLO, STARTTLS, AUTH) and the sender
(sending). Every smtplib, ssl and socket exception is classified where it is raised, by
``classify``, into an SmtpFailure of one of three kinds:

- ``transient``: a 4xx reply, a connection refused, dropped or timed out: the same send later may
  succeed, so the message is deferred and retried with backoff;
- ``permanent``: a 5xx reply to this message (sender, recipients or content refused): no retry
  helps, the message is dead-lettered with the server's text;
- ``configuration``: the server refuses who we are or how we connect (authentication, TLS, a
  server that offers no STARTTLS or AUTH): every message of that mailbox would fail alike, so
  that mailbox's sending stops with the reason and the field to fix, and the others go on.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .redact import redact

SmtpSecurity = Literal["none", "starttls", "tls"]
FailureKind = Literal["transient", "permanent", "configuration"]
# the standard port of each security (RFC 8314: 465 implicit TLS, 587 submission with STARTTLS)
DEFAULT_PORTS: dict[str, int] = {"tls": 465, "starttls": 587, "none": 25}


class SmtpConfig(BaseModel):
    """A mailbox's outgoing server (references 001-004). No secrets: the password is sealed with
    the account's other secrets (``smtp_password``, else the mailbox password)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535, description="empty: 465 for tls, 587 for starttls, 25 for none")
    security: SmtpSecurity = "starttls"
    verify_certificate: bool = True
    ca_file: str | None = Field(None, description="PEM file of a custom CA to trust")
    auth: Literal["password", "oauth2", "none"] = Field(
        "password", description="password (smtp_password, else the mailbox's), oauth2 (XOAUTH2 with the "
        "mailbox's OAuth2 grant, as Gmail and Microsoft 365 want) or none")
    username: str | None = Field(None, description="empty: the mailbox's username")
    from_address: str | None = Field(None, description="empty: the mailbox's address")

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]


class SmtpFailure(Exception):
    """A send or a check that failed. ``kind`` says what to do (see the module); ``reason`` is a
    token of a closed set (a metric label); ``field`` the setting to check (``smtp.password``,
    ``smtp.security``, ...) or ``message`` when this message is at fault; ``code`` the SMTP reply
    code when the server gave one; ``text`` the server's words or the cause, without secrets."""

    def __init__(self, kind: FailureKind, reason: str, field: str, text: str, code: int | None = None) -> None:
        super().__init__(f"{kind} {reason} ({field}): {text}")
        self.kind, self.reason, self.field, self.text, self.code = kind, reason, field, text, code


def tls_context(config: SmtpConfig) -> ssl.SSLContext:
    """Verifying (with the custom CA if any) unless verification is turned off for this server.
    Raises SmtpFailure (configuration, ``smtp.ca_file``) when the CA file cannot be read."""
    try:
        ctx = ssl.create_default_context(cafile=config.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SmtpFailure("configuration", "tls", "smtp.ca_file",
                          f"cannot read the CA file {config.ca_file!r}: {exc.strerror or exc}") from None
    if not config.verify_certificate:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def open_smtp(config: SmtpConfig, username: str, password: str | None, timeout: float) -> smtplib.SMTP:
    """A connection that has said EHLO, switched to TLS as configured and logged in (unless auth is
    none); ``password`` is the access token for auth oauth2. Blocks on the network for at most
    ``timeout`` per step; raises SmtpFailure."""
    try:
        if config.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.effective_port, timeout=timeout,
                                                    context=tls_context(config))
        else:
            client = smtplib.SMTP(config.host, config.effective_port, timeout=timeout)
    except Exception as exc:
        raise classify(exc, config) from None
    try:
        client.ehlo()
        if config.security == "starttls":
            if not client.has_extn("starttls"):
                raise SmtpFailure("configuration", "tls", "smtp.security", "the server does not offer STARTTLS "
                                  "(use security tls on its TLS port, or none)")
            client.starttls(context=tls_context(config))
            client.ehlo()
        if config.auth != "none":
            if not client.has_extn("auth"):
                raise SmtpFailure("configuration", "auth", "smtp.auth", "the server offers no AUTH on this "
                                  "connection (it may want STARTTLS first, or auth none)")
            if config.auth == "oauth2":
                _xoauth2(client, username, password or "")
            else:
                _login(client, username, password or "")
    except Exception as exc:
        close_quietly(client)
        raise classify(exc, config) from None
    return client


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    try:
        client.login(username, password)
    except UnicodeError:  # its message would quote the character and its position in the password
        raise SmtpFailure("configuration", "auth", "smtp.password", "the password or username has characters "
                          "SMTP AUTH cannot carry here (smtplib sends them as ASCII)") from None


def _xoauth2(client: smtplib.SMTP, username: str, token: str) -> None:
    """AUTH XOAUTH2 (Google's and Microsoft's SASL form of an OAuth2 bearer token)."""
    if "xoauth2" not in client.esmtp_features.get("auth", "").lower().split():
        raise SmtpFailure("configuration", "auth", "smtp.auth", "the server does not offer AUTH XOAUTH2")

    def answer(challenge: bytes | None = None) -> str:
        # a challenge carries the server's error (RFC 7628 §3.2.3): an empty answer gets the verdict
        return "" if challenge is not None else f"user={username}\x01auth=Bearer {token}\x01\x01"

    client.auth("XOAUTH2", answer, initial_response_ok=True)


def send(client: smtplib.SMTP, config: SmtpConfig, envelope_from: str, recipients: list[str],
         message: bytes, data_timeout: float | None = None) -> dict[str, str]:
    """Send ``message`` as is; returns the recipients the server refused while accepting the
    others (address -> reply), empty when all were accepted. ``envelope_from`` '' is the null
    reverse-path. ``data_timeout``: how long to wait for each reply of the transaction, the one to
    the final "." included (RFC 5321 §4.5.3.2 gives servers 5 to 10 minutes: a shorter wait would
    give up on mail the server then accepts, and send it again). Raises SmtpFailure when the
    server took the message for nobody."""
    try:
        if data_timeout is not None and client.sock is not None:
            client.sock.settimeout(data_timeout)
        refused = client.sendmail(envelope_from, recipients, message)
    except Exception as exc:
        raise classify(exc, config) from None
    return {addr: f"{code} {_text(msg)}" for addr, (code, msg) in refused.items()}


def close_quietly(client: smtplib.SMTP) -> None:
    """QUIT, or just close when the connection is already broken."""
    try:
        client.quit()
    except Exception:  # a dead connection cannot be quit; the error that broke it is the one reported
        client.close()


def check(config: SmtpConfig, username: str, password: str | None, timeout: float) -> None:
    """Connect, EHLO, STARTTLS and AUTH as a send would, then QUIT; raises SmtpFailure naming the
    field to fix (``mailpipe accounts add/set`` run it before saving)."""
    close_quietly(open_smtp(config, username, password, timeout))


def classify(exc: BaseException, config: SmtpConfig) -> SmtpFailure:
    """Pure: the SmtpFailure for a library or socket exception (see the module for the kinds)."""
    where = f"{config.host}:{config.effective_port}"
    if isinstance(exc, SmtpFailure):
        return exc
    if isinstance(exc, smtplib.SMTPResponseException) and (400 <= exc.smtp_code < 500 or exc.smtp_code == -1):
        # any 4xx, to AUTH (454: the auth backend is away), MAIL, DATA or the greeting: try later
        return SmtpFailure("transient", "server_busy", "smtp", _reply(exc), exc.smtp_code)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        field = "oauth2" if config.auth == "oauth2" else "smtp.password"
        return SmtpFailure("configuration", "auth", field, f"authentication failed: {_reply(exc)}", exc.smtp_code)
    if isinstance(exc, smtplib.SMTPNotSupportedError) or (
            type(exc) is smtplib.SMTPException and "authentication method" in str(exc).lower()):
        return SmtpFailure("configuration", "auth", "smtp.auth", f"{_text(exc)} (on {where})")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        code = max((c for c, _ in replies), default=550)
        text = "; ".join(f"{addr}: {c} {_text(m)}" for addr, (c, m) in exc.recipients.items())
        kind: FailureKind = "transient" if all(400 <= c < 500 for c, _ in replies) else "permanent"
        return SmtpFailure(kind, "server_busy" if kind == "transient" else "recipient_refused", "message",
                           f"recipients refused: {text}", code)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return SmtpFailure("permanent", "sender_refused", "smtp.from_address",
                           f"sender {exc.sender!r} refused: {_reply(exc)}", exc.smtp_code)
    if isinstance(exc, smtplib.SMTPResponseException):  # a 5xx to DATA, HELO or the greeting
        if isinstance(exc, smtplib.SMTPDataError):
            return SmtpFailure("permanent", "message_refused", "message", _reply(exc), exc.smtp_code)
        return SmtpFailure("configuration", "refused", "smtp.host", f"{where} refused us: {_reply(exc)}",
                           exc.smtp_code)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return SmtpFailure("transient", "connection", "smtp.host", f"connection to {where} lost: {_text(exc)}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
        field = "smtp.host" if "hostname" in why.lower() else "smtp.ca_file"
        return SmtpFailure("configuration", "tls", field, f"certificate not trusted: {why}")
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None)
        hint = (" — the port does not speak TLS: use security starttls or none, or the TLS port"
                if reason == "WRONG_VERSION_NUMBER" else "")
        return SmtpFailure("configuration", "tls", "smtp.security", f"TLS handshake failed: {reason or exc}{hint}")
    if isinstance(exc, socket.gaierror):
        return SmtpFailure("transient", "connection", "smtp.host", f"host unknown: {config.host!r} does not resolve")
    if isinstance(exc, TimeoutError | socket.timeout):
        return SmtpFailure("transient", "timeout", "smtp.host", f"timed out talking to {where}")
    if isinstance(exc, OSError | EOFError):  # refused, reset, unreachable
        return SmtpFailure("transient", "connection", "smtp.port", f"cannot talk to {where}: {_text(exc)}")
    if isinstance(exc, UnicodeError | ValueError):  # an address or header smtplib cannot put on the wire
        return SmtpFailure("permanent", "message_refused", "message", f"{type(exc).__name__}: {_text(exc)}")
    # anything else smtplib raises: retried, and dead-lettered when the message's retries expire
    return SmtpFailure("transient", "protocol", "smtp.host", f"{type(exc).__name__}: {_text(exc)}")


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}"


def _text(value: object) -> str:
    if isinstance(value, BaseException):
        value = value.args[0] if len(value.args) == 1 else (str(value) or type(value).__name__)
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return redact(" ".join(text.split()))[:500]
