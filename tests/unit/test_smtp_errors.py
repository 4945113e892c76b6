"""The SMTP adapter's table (issue 15): every smtplib, ssl and socket exception a send or a check
can raise is transient (deferred, retried), permanent (dead-lettered with the server's text) or
configuration (that mailbox's sending stops, naming the field). Built from the real exception
types; ``tests/integration/test_sender_smtp.py`` provokes the main ones on the real Postfix."""

from __future__ import annotations

import smtplib
import socket
import ssl

import pytest
from mailpipe.common.smtp import SmtpConfig, classify

CONFIG = SmtpConfig(host="smtp.example.test", security="starttls")

CASES: list[tuple[BaseException, str, str, str]] = [
    # exception, kind, reason, field
    (smtplib.SMTPAuthenticationError(535, b"5.7.8 Error: authentication failed"), "configuration", "auth",
     "smtp.password"),
    (smtplib.SMTPAuthenticationError(454, b"4.7.0 Temporary authentication failure"), "transient", "server_busy",
     "smtp"),
    (smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."), "configuration", "auth",
     "smtp.auth"),
    (smtplib.SMTPRecipientsRefused({"a@x.test": (550, b"5.1.1 unknown user")}), "permanent",
     "recipient_refused", "message"),
    (smtplib.SMTPRecipientsRefused({"a@x.test": (450, b"4.2.0 busy"), "b@x.test": (451, b"4.3.0 later")}),
     "transient", "server_busy", "message"),
    (smtplib.SMTPRecipientsRefused({"a@x.test": (450, b"4.2.0 busy"), "b@x.test": (550, b"5.1.1 no")}),
     "permanent", "recipient_refused", "message"),
    (smtplib.SMTPSenderRefused(553, b"5.7.1 Sender address rejected: not owned by user", "x@y.test"),
     "permanent", "sender_refused", "smtp.from_address"),
    (smtplib.SMTPSenderRefused(451, b"4.3.0 try again", "x@y.test"), "transient", "server_busy", "smtp"),
    (smtplib.SMTPDataError(554, b"5.7.1 message content rejected"), "permanent", "message_refused", "message"),
    (smtplib.SMTPDataError(452, b"4.3.1 insufficient system storage"), "transient", "server_busy", "smtp"),
    (smtplib.SMTPConnectError(421, b"4.3.2 service not available"), "transient", "server_busy", "smtp"),
    (smtplib.SMTPConnectError(554, b"5.7.1 no SMTP service here"), "configuration", "refused", "smtp.host"),
    (smtplib.SMTPHeloError(501, b"5.5.2 syntax error"), "configuration", "refused", "smtp.host"),
    (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "transient", "connection", "smtp.host"),
    (ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate"), "configuration", "tls",
     "smtp.ca_file"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "configuration", "tls", "smtp.security"),
    (socket.gaierror(-2, "Name or service not known"), "transient", "connection", "smtp.host"),
    (ConnectionRefusedError(111, "Connection refused"), "transient", "connection", "smtp.port"),
    (TimeoutError("timed out"), "transient", "timeout", "smtp.host"),
    (ConnectionResetError(104, "Connection reset by peer"), "transient", "connection", "smtp.port"),
    (UnicodeEncodeError("ascii", "é", 0, 1, "ordinal not in range"), "permanent", "message_refused", "message"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{type(c[0]).__name__}-{c[1]}")
def test_every_smtp_failure_has_its_kind_reason_and_field(case: tuple[BaseException, str, str, str]) -> None:
    exc, kind, reason, field = case
    failure = classify(exc, CONFIG)
    assert (failure.kind, failure.reason, failure.field) == (kind, reason, field)


def test_the_servers_words_reach_the_operator() -> None:
    failure = classify(smtplib.SMTPRecipientsRefused({"a@x.test": (550, b"5.1.1 refused by rule")}), CONFIG)
    assert failure.code == 550 and "a@x.test: 550 5.1.1 refused by rule" in failure.text


def test_a_password_echoed_by_a_server_is_masked() -> None:
    from mailpipe.common import redact

    redact.register("s3cret-pass")
    failure = classify(smtplib.SMTPAuthenticationError(535, b"auth failed for s3cret-pass"), CONFIG)
    assert "s3cret-pass" not in failure.text and "s3cret-pass" not in str(failure)


def test_ports_follow_the_security() -> None:
    assert [SmtpConfig(host="h", security=s).effective_port for s in ("tls", "starttls", "none")] == [465, 587, 25]
    assert SmtpConfig(host="h", port=2525).effective_port == 2525


def test_no_common_authentication_method_is_configuration() -> None:
    failure = classify(smtplib.SMTPException("No suitable authentication method found."), CONFIG)
    assert (failure.kind, failure.field) == ("configuration", "smtp.auth")


def test_an_unreadable_ca_file_names_the_field(tmp_path: object) -> None:
    from mailpipe.common.smtp import SmtpFailure, tls_context

    with pytest.raises(SmtpFailure) as caught:
        tls_context(SmtpConfig(host="h", ca_file="/nonexistent/ca.pem"))
    assert (caught.value.kind, caught.value.field) == ("configuration", "smtp.ca_file")


def test_a_password_smtp_auth_cannot_carry_is_configuration_and_its_characters_stay_secret() -> None:
    from mailpipe.common.smtp import SmtpFailure, _login

    class Client:
        def login(self, user: str, password: str) -> None:
            password.encode("ascii")  # what smtplib does with it

    with pytest.raises(SmtpFailure) as caught:
        _login(Client(), "u", "geheimß1")  # type: ignore[arg-type]
    assert (caught.value.kind, caught.value.field) == ("configuration", "smtp.password")
    assert "ß" not in str(caught.value) and "position" not in str(caught.value)


def test_a_refused_xoauth2_login_names_the_oauth2_grant() -> None:
    failure = classify(smtplib.SMTPAuthenticationError(535, b"5.7.8 Error: authentication failed"),
                       SmtpConfig(host="h", auth="oauth2"))
    assert (failure.kind, failure.field) == ("configuration", "oauth2")


def test_smtp_oauth2_needs_the_mailboxs_oauth2_grant() -> None:
    from mailpipe.fetcher.accounts.model import Account
    from pydantic import ValidationError

    base = {"id": "m", "server": "imap.example.test", "username": "u", "smtp": {"host": "h", "auth": "oauth2"}}
    with pytest.raises(ValidationError, match="smtp.auth oauth2 uses the mailbox's OAuth2 grant"):
        Account.model_validate(base)
    ok = Account.model_validate({**base, "auth": "oauth2", "oauth2": {"token_url": "https://t.test/token",
                                                                      "client_id": "c"}})
    assert ok.smtp is not None and ok.smtp.auth == "oauth2"
