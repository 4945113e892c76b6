"""References 003 and 004: a mailbox's folders have functions; mail in the sent-role folder is
outgoing. It is matched on its recipients (the counterpart; its From is the mailbox's user), opens
no case or lead and gets no autoresponse, joins the case of its thread, and mail.matched names the
folder's role."""

from __future__ import annotations

from mailpipe.common.messages import (
    MailboxConfig,
    MailboxOptions,
    MatchedEnvelope,
    ParsedEmail,
    ProcessingAction,
    Sighting,
)
from mailpipe.matcher.stage import outputs

from tests.unit.test_matcher_rules import ACK, email, kinds, links, matcher


def sales_box(**options: object) -> MailboxConfig:
    return MailboxConfig(mailbox_id="box", name="box", protocol="imap", own_addresses=["box@mailpipe.test"],
                         folder_roles={"INBOX": "inbox", "Sent Items": "sent"},
                         options=MailboxOptions(**options))  # type: ignore[arg-type]


def in_sent(mail: ParsedEmail) -> ParsedEmail:
    return mail.model_copy(update={"sighting": Sighting(mailbox_id="box", folder="Sent Items", uidvalidity=1,
                                                        uid=mail.sighting.uid)})


CASES = {"processing": ProcessingAction(action="case"), "autoresponse_rules": [ACK]}


def test_sent_mail_is_matched_on_its_recipients_and_opens_nothing() -> None:
    m = matcher(sales_box(**CASES))
    # written from acme's own address (as if acme were the mailbox's company) to alice, acme's person
    sent = in_sent(email("info@acme.example", to=("alice@acme.example",), subject="offer"))
    d = m.match(sent)
    assert ("person", "p1", "recipient") in links(d)
    assert not any(lk.reason.endswith(":sender") or lk.reason == "sender" for lk in d.links)
    assert ("skipped", "no_case:sent_folder") in kinds(d) and ("autoreply_suppressed", "sent_folder") in kinds(d)
    assert d.autoreply is None and d.folder_role == "sent"


def test_the_same_mail_in_the_inbox_is_incoming() -> None:
    m = matcher(sales_box(**CASES))
    d = m.match(email("alice@acme.example", to=("box@mailpipe.test",), subject="question"))
    assert ("person", "p1", "sender") in links(d)
    assert any(kind == "case_created" for kind, _ in kinds(d)) and d.autoreply is not None
    assert d.folder_role == "inbox"


def test_a_sent_reply_joins_its_threads_case_and_mail_matched_names_the_role() -> None:
    m = matcher(sales_box(**CASES))
    first = email("alice@acme.example", to=("box@mailpipe.test",), subject="question", message_id="q1@x.example")
    opened = m.match(first)
    (case,) = [lk.entity_id for lk in opened.links if lk.entity_type == "case"]
    reply = in_sent(email("box@mailpipe.test", to=("alice@acme.example",), subject="Re: question",
                          reply_to="q1@x.example"))
    d = m.match(reply)
    assert ("case", case) in {(lk.entity_type, lk.entity_id) for lk in d.links}
    assert not any(kind == "case_created" for kind, _ in kinds(d))
    (out,) = [o for o in outputs(reply, d) if o.topic == "mail.matched"]
    assert MatchedEnvelope.model_validate_json(out.value).payload.folder_role == "sent"
