"""The sender's pure parts (issue 15): what goes on the wire (RFC 3834 headers, the Message-ID that
derives from the outbound id, signature, Reply-To, Bcc), the second look before an autoresponse,
and who may send from a shared mailbox. The real sending is in tests/integration/test_sender_*."""

from __future__ import annotations

import email
import uuid
from datetime import UTC, datetime
from email import policy

import pytest
from mailpipe.common.errors import PoisonMessage
from mailpipe.common.messages import Address, Answered, Autoreply, OutboundMail
from mailpipe.common.sending import SendingOptions
from mailpipe.sender import compose, requests

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
EMAIL_ID = uuid.UUID("603fe842-86e6-5b06-9e15-537c525dcc1f")


def _reply(**fields: object) -> Autoreply:
    base: dict[str, object] = dict(email_id=EMAIL_ID, mailbox_id="support", rule="ack",
                                   to=Address(name="Alice", address="alice@acme.example"),
                                   subject="Re: Broken pallet", body="We got it.", in_reply_to="a1@acme.example",
                                   references=["r0@acme.example", "a1@acme.example"])
    return Autoreply.model_validate({**base, **fields})


def _parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def test_an_autoresponse_carries_rfc3834_headers_and_the_thread() -> None:
    out = compose.compose_autoreply(_reply(), compose.autoreply_id(EMAIL_ID), "support@mailpipe.test", "Support",
                                    NOW)
    msg = _parsed(out.message)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<a1@acme.example>"
    assert msg["References"] == "<r0@acme.example> <a1@acme.example>"
    assert msg["To"] == "Alice <alice@acme.example>" and msg["From"] == "Support <support@mailpipe.test>"
    assert out.envelope_from == "" and out.recipients == ["alice@acme.example"]  # null reverse-path
    assert b"\r\n" in out.message and b"\n" not in out.message.replace(b"\r\n", b"")  # CRLF only


def test_the_message_id_derives_from_the_outbound_id_so_a_resend_is_the_same_message() -> None:
    first = compose.compose_autoreply(_reply(), compose.autoreply_id(EMAIL_ID), "support@mailpipe.test", "", NOW)
    again = compose.compose_autoreply(_reply(), compose.autoreply_id(EMAIL_ID), "support@mailpipe.test", "",
                                      datetime(2026, 12, 1, tzinfo=UTC))
    other = compose.compose_autoreply(_reply(email_id=uuid.uuid4()),
                                      compose.autoreply_id(uuid.uuid4()), "support@mailpipe.test", "", NOW)
    assert first.message_id == again.message_id != other.message_id
    assert first.message_id.endswith("@mailpipe.test>") and _parsed(first.message)["Message-ID"] == first.message_id


def test_an_html_response_has_a_plain_alternative() -> None:
    out = compose.compose_autoreply(_reply(body="<p>Hello &amp; welcome</p>", format="html"),
                                    compose.autoreply_id(EMAIL_ID), "s@mailpipe.test", "", NOW)
    msg = _parsed(out.message)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)).get_content().strip() == "Hello & welcome"  # type: ignore[union-attr]


def _outbound(**fields: object) -> OutboundMail:
    base: dict[str, object] = dict(outbound_id=uuid.uuid4(), mailbox_id="support",
                                   to=[Address(address="alice@acme.example")],
                                   bcc=[Address(address="audit@mailpipe.test")], subject="Your pallet",
                                   text_body="It ships today.")
    return OutboundMail.model_validate({**base, **fields})


def test_crm_mail_answering_a_case_has_the_group_address_as_reply_to_and_the_signature() -> None:
    mail = _outbound(case_id="case-1", html_body="<p>It ships today.</p>")
    out = compose.compose_outbound(mail, "kim@mailpipe.test", "Kim", "support@mailpipe.test",
                                   compose.Signature("Kim\nAcme Support"), NOW)
    msg = _parsed(out.message)
    assert msg["Reply-To"] == "support@mailpipe.test"
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert text == "It ships today.\n\n-- \nKim\nAcme Support\n"  # RFC 3676's separator
    assert "Acme Support" in msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Bcc" not in msg and "audit@mailpipe.test" in out.recipients  # Bcc: the envelope only
    assert out.envelope_from == "kim@mailpipe.test" and "Auto-Submitted" not in msg


def test_an_outbound_request_needs_a_body() -> None:
    with pytest.raises(ValueError, match="text_body or html_body"):
        _outbound(text_body="")


@pytest.mark.parametrize(("answered", "to", "reason"), [
    (Answered(auto_submitted_reasons=["auto-submitted:auto-replied"]), "a@x.test", "auto_submitted"),
    (Answered(bounce=True), "a@x.test", "bounce"),
    (Answered(return_path=""), "a@x.test", "null_return_path"),
    (None, "no-reply@x.test", "system_sender"),
    (None, "MAILER-DAEMON@x.test", "system_sender"),
    (None, "support@mailpipe.test", "own_mailbox"),
    (Answered(return_path="a@x.test"), "a@x.test", None),
])
def test_the_second_look_before_an_autoresponse(answered: Answered | None, to: str, reason: str | None) -> None:
    reply = _reply(answered=answered, to=Address(address=to))
    assert requests.loop_reason(reply, {"support@mailpipe.test"}) == reason


def test_rate_limits_count_what_was_sent() -> None:
    reply, ooo = _reply(), _reply(kind="out_of_office", once_per_seconds=86400)
    assert requests.limit_reason(reply, 4, 5, 0) is None
    assert requests.limit_reason(reply, 5, 5, 0) == "sender_autoreply_limit"
    assert requests.limit_reason(ooo, 0, 5, 1) == "out_of_office_already_sent"
    assert requests.limit_reason(ooo, 0, 5, 0) is None


def test_decode_tells_the_two_topics_apart_and_refuses_anything_else() -> None:
    from mailpipe.common.messages import AutoreplyEnvelope, OutboundEnvelope, encode

    mail = _outbound()
    got = requests.decode(encode(OutboundEnvelope(producer="crm", payload=mail)))
    assert (got.kind, got.outbound_id, got.mailbox_id) == ("crm", mail.outbound_id, "support")
    got = requests.decode(encode(AutoreplyEnvelope(producer="matcher", payload=_reply(kind="out_of_office"))))
    assert (got.kind, got.outbound_id) == ("out_of_office", compose.autoreply_id(EMAIL_ID))
    for bad in (None, b"{}", b"not json", b'{"type": "mail.outbound", "version": 1, "producer": "x", "payload": {}}'):
        with pytest.raises(PoisonMessage) as caught:
            requests.decode(bad)
        assert caught.value.reason == "invalid_request"


@pytest.mark.parametrize(("options", "user", "teams", "allowed"), [
    (SendingOptions(), None, [], True),  # the CRM itself
    (SendingOptions(), "owner", [], True),
    (SendingOptions(), "kim", [], False),  # not shared
    (SendingOptions(shared=True), "kim", [], True),  # shared with everyone
    (SendingOptions(shared=True, shared_users=["lee"]), "kim", [], False),
    (SendingOptions(shared=True, shared_users=["lee"]), "lee", [], True),
    (SendingOptions(shared=True, shared_teams=["t-support"]), "kim", ["t-sales", "t-support"], True),
    (SendingOptions(shared=True, shared_teams=["t-support"]), "kim", ["t-sales"], False),
])
def test_who_may_send_from_a_mailbox(options: SendingOptions, user: str | None, teams: list[str],
                                     allowed: bool) -> None:
    assert options.may_send(user, teams, "owner") is allowed


def test_every_example_of_the_senders_topics_is_read() -> None:
    """The contract: what the matcher and CRM backends are told to produce, the sender reads."""
    from mailpipe.common.topics import SCHEMAS_DIR

    examples = sorted((SCHEMAS_DIR / "examples").glob("mail.autoreply.v1/*.json")) + sorted(
        (SCHEMAS_DIR / "examples").glob("mail.outbound.v1/*.json"))
    kinds = {requests.decode(p.read_bytes()).kind for p in examples}
    assert len(examples) >= 3 and kinds == {"autoreply", "out_of_office", "crm"}


@pytest.mark.parametrize("address", ["jörg@exämple.org", "a@b.test\r\nBcc: victim@x.test"])
def test_an_address_no_smtp_message_can_carry_is_poison_not_a_crash(address: str) -> None:
    """A non-ASCII local part (the stack's Postfix offers no SMTPUTF8) or a header injection: the
    request is dead-lettered with the reason, nothing is sent."""
    from mailpipe.common.smtp import SmtpConfig
    from mailpipe.sender.accounts import SendingAccount, StoredSending
    from mailpipe.sender.settings import SenderOptions
    from mailpipe.sender.stage import Composer

    account = SendingAccount(StoredSending(id="m", username="m@x.test"), SmtpConfig(host="h"), "m@x.test", None,
                             "m@x.test")
    request = requests.Request(_reply(to=Address(address=address)), uuid.uuid4(), "autoreply")
    with pytest.raises(PoisonMessage) as caught:
        Composer(SenderOptions()).compose(request, account)
    assert caught.value.reason == "message_unsendable"


def test_non_ascii_bodies_go_out_as_7bit() -> None:
    """smtplib.sendmail announces no BODY=8BITMIME: bodies are quoted-printable or base64."""
    out = compose.compose_autoreply(_reply(body="Grüße aus Köln, 山田"), compose.autoreply_id(EMAIL_ID),
                                    "s@mailpipe.test", "Sü", NOW)
    assert max(out.message) < 128
    assert "Grüße aus Köln, 山田" in _parsed(out.message).get_content()
