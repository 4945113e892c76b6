"""The stack's Postfix, against the real Postfix and Dovecot: mail submitted through it lands in
the IMAP mailbox of the recipient's local part, and its submission policy (AUTH, own envelope
sender, refuse-/defer- recipients) answers with the codes a sender has to handle."""

from __future__ import annotations

import smtplib
import ssl
import time
from email.message import EmailMessage

import pytest
from mailpipe.devtools.mailboxes import connect

from tests.conftest import stack_env

pytestmark = [pytest.mark.imap, pytest.mark.timeout(60)]


def tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=stack_env("MAILPIPE_STACK_TLS_CA"))


def port(name: str) -> int:
    return int(stack_env(f"MAILPIPE_STACK_{name}_PORT"))


def submission(user: str | None = None, password: str | None = None) -> smtplib.SMTP:
    """A submission connection after STARTTLS (verified against the stack's CA), logged in when
    ``user`` is given."""
    smtp = smtplib.SMTP(stack_env("MAILPIPE_STACK_SMTP_HOST"), port("SUBMISSION"), timeout=10)
    try:
        smtp.starttls(context=tls())
        if user:
            smtp.login(user, password or stack_env("MAILPIPE_STACK_MAIL_PASSWORD"))
    except BaseException:
        smtp.close()
        raise
    return smtp


def message(sender: str, to: str, marker: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, f"stack smtp {marker}"
    msg["Message-ID"] = f"<{marker}@mailpipe.test>"
    msg.set_content("sent through the stack's Postfix\n")
    return msg


def delivered(user: str, marker: str, timeout: float = 30) -> bytes:
    """The message with Message-ID <marker@mailpipe.test> once it is in ``user``'s INBOX (Postfix
    queues, then delivers over LMTP: not instant)."""
    deadline = time.monotonic() + timeout
    while True:
        with connect(user) as client:
            client.select_folder("INBOX", readonly=True)
            uids = client.search(["HEADER", "Message-ID", f"<{marker}@mailpipe.test>"])
            if uids:
                return bytes(client.fetch(uids, ["BODY.PEEK[]"])[uids[0]][b"BODY[]"])
        if time.monotonic() > deadline:
            pytest.fail(f"<{marker}@mailpipe.test> not in the INBOX of {user} after {timeout:.0f}s")
        time.sleep(0.3)


def test_submission_starttls_auth_lands_in_the_recipients_inbox(unique: str) -> None:
    sender, rcpt = f"u1-{unique}", f"u2-{unique}"
    with submission(sender) as smtp:
        smtp.send_message(message(f"{sender}@mailpipe.test", f"{rcpt}@example.org", unique))
    assert b"stack smtp " + unique.encode() in delivered(rcpt, unique)


def test_smtps_implicit_tls_lands_in_the_recipients_inbox(unique: str) -> None:
    sender, rcpt = f"s1-{unique}", f"s2-{unique}"
    host = stack_env("MAILPIPE_STACK_SMTP_HOST")
    with smtplib.SMTP_SSL(host, port("SMTPS"), context=tls(), timeout=10) as smtp:
        smtp.login(sender, stack_env("MAILPIPE_STACK_MAIL_PASSWORD"))
        smtp.send_message(message(sender, f"{rcpt}@elsewhere.example", unique))  # a bare login is its own sender
    delivered(rcpt, unique)


def test_plain_smtp_port_takes_mail_for_delivery_without_auth(unique: str) -> None:
    rcpt = f"p-{unique}"
    with smtplib.SMTP(stack_env("MAILPIPE_STACK_SMTP_HOST"), port("SMTP"), timeout=10) as smtp:
        smtp.send_message(message("someone@outside.example", f"{rcpt}@mailpipe.test", unique))
    delivered(rcpt, unique)


def test_wrong_password_is_535(unique: str) -> None:
    with pytest.raises(smtplib.SMTPAuthenticationError) as err:
        submission(f"w-{unique}", "not-the-password")
    assert err.value.smtp_code == 535


def test_envelope_sender_of_another_user_is_refused_at_mail_with_553(unique: str) -> None:
    with submission(f"bob-{unique}") as smtp, pytest.raises(smtplib.SMTPSenderRefused) as err:
        smtp.sendmail(f"alice-{unique}@mailpipe.test", [f"r-{unique}@mailpipe.test"], b"Subject: x\r\n\r\nx\r\n")
    assert err.value.smtp_code == 553
    assert b"not owned by user" in err.value.smtp_error


def test_own_envelope_senders_are_taken_bare_at_any_domain_and_null(unique: str) -> None:
    user = f"own-{unique}"
    with submission(user) as smtp:
        for sender in (user, f"{user}@any.example", ""):  # null: an RFC 3834 autoreply's Return-Path
            assert smtp.mail(sender)[0] == 250, sender
            smtp.rset()


def test_unauthenticated_mail_on_submission_is_refused(unique: str) -> None:
    with smtplib.SMTP(stack_env("MAILPIPE_STACK_SMTP_HOST"), port("SUBMISSION"), timeout=10) as smtp:
        assert smtp.mail(f"n-{unique}@mailpipe.test")[0] == 530  # STARTTLS first
    with submission() as smtp, pytest.raises(smtplib.SMTPSenderRefused) as err:
        smtp.sendmail(f"n-{unique}@mailpipe.test", [f"r-{unique}@example.org"], b"Subject: x\r\n\r\nx\r\n")
    assert err.value.smtp_code == 554


@pytest.mark.parametrize(("prefix", "code"), [("refuse-", 550), ("defer-", 450)])
def test_refuse_and_defer_recipients(unique: str, prefix: str, code: int) -> None:
    rcpt = f"{prefix}{unique}@example.org"
    with submission(f"u-{unique}") as smtp, pytest.raises(smtplib.SMTPRecipientsRefused) as err:
        smtp.sendmail(f"u-{unique}@mailpipe.test", [rcpt], b"Subject: x\r\n\r\nx\r\n")
    assert err.value.recipients[rcpt][0] == code
    assert f"({prefix} recipient)".encode() in err.value.recipients[rcpt][1]
