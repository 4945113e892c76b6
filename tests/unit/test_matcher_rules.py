"""The matcher's rules, one test per rule and per exception of issue 5, from the reference texts
(000 Microbizz matching and file options, 001 EspoCRM email-to-case and filters, 002 OroCRM
processing actions and autoresponse rules). Pure: no Kafka, no PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mailpipe.common.admin import read_entities
from mailpipe.common.mailboxes import Mailboxes
from mailpipe.common.messages import (
    Address,
    Attachment,
    AutoresponseRule,
    Bounce,
    Condition,
    Entity,
    MailboxConfig,
    MailboxOptions,
    MailFilter,
    ParsedEmail,
    ProcessingAction,
    Sighting,
)
from mailpipe.matcher.decision import Decision
from mailpipe.matcher.directory import EntityIndex
from mailpipe.matcher.matching import Matcher
from mailpipe.matcher.rules import cases, filters, loops
from mailpipe.matcher.rules.addresses import is_system_sender
from mailpipe.matcher.rules.companies import free_mail_domains

T0 = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)
_n = iter(range(1, 1_000_000))


def directory() -> EntityIndex:
    index = EntityIndex()
    for e in [
        {"type": "company", "id": "acme", "name": "Acme", "emails": ["info@acme.example"],
         "hostnames": ["acme.example"]},
        {"type": "company", "id": "shut", "name": "Shut", "emails": ["info@shut.example"],
         "hostnames": ["shut.example"], "blocked": True},
        {"type": "company", "id": "shut2", "name": "Shut 2", "blocked": True},
        {"type": "company", "id": "sh1", "name": "Shared 1", "hostnames": ["shared.example"]},
        {"type": "company", "id": "sh2", "name": "Shared 2", "hostnames": ["shared.example"]},
        {"type": "company", "id": "gm", "name": "Gmail fan club", "hostnames": ["gmail.com"]},
        {"type": "person", "id": "p1", "emails": ["alice@acme.example", "alice@gmail.com"], "company_ids": ["acme"]},
        {"type": "person", "id": "p2", "emails": ["bob@shut.example"], "company_ids": ["shut", "shut2"]},
        {"type": "person", "id": "p3", "emails": ["carl@else.example"], "company_ids": ["shut", "acme"]},
        {"type": "person", "id": "p4", "emails": ["dora@private.example"]},
        {"type": "task", "id": "t1234", "number": 1234, "company_id": "acme"},
        {"type": "user", "id": "u1", "name": "Una", "team_ids": ["support"]},
        {"type": "user", "id": "u2", "name": "Ulf", "team_ids": ["support"], "active": False},
        {"type": "user", "id": "u3", "name": "Ute", "team_ids": ["support"]},
        {"type": "team", "id": "support", "name": "Support"},
    ]:
        index.upsert(Entity.model_validate(e))
    return index


def email(sender: str = "alice@acme.example", to: tuple[str, ...] = ("support@mailpipe.test",), subject: str = "Hi",
          mailbox: str = "box", message_id: str | None = None, reply_to: str | None = None,
          **extra: Any) -> ParsedEmail:
    mid = message_id or f"m{next(_n)}@x.example"
    refs = [reply_to] if reply_to else []
    return ParsedEmail.model_validate({
        "email_id": uuid.uuid5(uuid.NAMESPACE_URL, mid), "message_id": mid,
        "sighting": Sighting(mailbox_id=mailbox, folder="INBOX", uidvalidity=1, uid=next(_n)),
        "subject": subject, "from": [Address(name="Sender Name", address=sender)],
        "to": [Address(address=a) for a in to], "in_reply_to": reply_to, "references": refs,
        "thread_root": refs[0] if refs else mid, "size_bytes": 10, "sha256": "0" * 64,
        "internal_date": extra.pop("at", T0), **extra})


def box(mailbox_id: str = "box", **options: Any) -> MailboxConfig:
    return MailboxConfig(mailbox_id=mailbox_id, name=mailbox_id, protocol="imap",
                         own_addresses=[f"{mailbox_id}@mailpipe.test"], options=MailboxOptions(**options))


def matcher(*boxes: MailboxConfig, index: EntityIndex | None = None, **kw: Any) -> Matcher:
    return Matcher(index or directory(), Mailboxes({b.mailbox_id: b for b in boxes}), **kw)


def links(d: Decision, kind: str | None = None) -> set[tuple[str, str, str]]:
    return {(lk.entity_type, lk.entity_id, lk.reason) for lk in d.links if kind in (None, lk.entity_type)}


def kinds(d: Decision) -> list[tuple[str, str]]:
    return [(a.kind, a.reason) for a in d.actions]


CASE_BOX = {"processing": ProcessingAction(action="case", case_distribution="round_robin", case_team="support")}
ACK = AutoresponseRule(name="ack", subject="Re: {subject}", body="Hello {sender_name}, case {case_number}")


# --- persons (000) --------------------------------------------------------------------------------
def test_person_matches_sender_or_receiver_address() -> None:
    m = matcher()
    assert links(m.match(email("Alice@Acme.example")), "person") == {("person", "p1", "sender")}
    assert links(m.match(email("x@y.example", to=("dora@private.example",))), "person") == \
        {("person", "p4", "recipient")}


def test_person_whose_companies_are_all_blocked_does_not_match() -> None:
    assert links(matcher().match(email("bob@shut.example")), "person") == set()


def test_person_with_one_unblocked_company_still_matches() -> None:
    assert links(matcher().match(email("carl@else.example")), "person") == {("person", "p3", "sender")}


def test_tombstone_removes_person_and_update_replaces_addresses() -> None:
    index = directory()
    index.upsert(Entity(type="person", id="p4", emails=["dora@new.example"]))
    assert index.persons_with_address("dora@private.example") == ()
    assert index.persons_with_address("DORA@new.example") == ("p4",)
    index.delete("person:p4")
    assert index.persons_with_address("dora@new.example") == ()


# --- companies (000) ------------------------------------------------------------------------------
def test_company_by_its_own_address() -> None:
    d = matcher().match(email("x@y.example", to=("info@acme.example",)))
    assert links(d, "company") == {("company", "acme", "company_address:recipient")}


def test_company_by_main_address_of_its_person_only() -> None:
    m = matcher()
    assert links(m.match(email("alice@acme.example")), "company") == {("company", "acme", "person_main_address:sender")}
    # alice@gmail.com is p1's other address: the person matches, the company does not
    d = m.match(email("alice@gmail.com"))
    assert links(d, "person") == {("person", "p1", "sender")} and links(d, "company") == set()


def test_company_by_host_name() -> None:
    assert links(matcher().match(email("zed@ACME.example")), "company") == {("company", "acme", "hostname:sender")}


def test_free_mail_host_never_matches_by_host() -> None:
    assert "gmail.com" in free_mail_domains()
    assert links(matcher().match(email("someone@gmail.com")), "company") == set()


def test_shared_host_is_ambiguous_unless_configured() -> None:
    assert links(matcher().match(email("a@shared.example")), "company") == set()
    d = matcher(shared_hosts_match_all=True).match(email("a@shared.example"))
    assert {lk[1] for lk in links(d, "company")} == {"sh1", "sh2"}


def test_blocked_company_never_matches() -> None:
    d = matcher().match(email("info@shut.example", to=("x@shut.example",)))
    assert links(d, "company") == set()


# --- tasks (000) ----------------------------------------------------------------------------------
def test_task_token_at_end_with_company_links_task_any_word() -> None:
    m = matcher()
    assert links(m.match(email(subject="Pallets [Task#1234]")), "task") == {("task", "t1234", "subject_token")}
    assert links(m.match(email(subject="Pallets [Sag#1234]  ")), "task") == {("task", "t1234", "subject_token")}


def test_task_token_in_the_middle_of_the_subject_links_nothing() -> None:
    assert links(matcher().match(email(subject="About [Task#1234] again")), "task") == set()


def test_task_token_needs_brackets_and_hash() -> None:
    m = matcher()
    for subject in ("Pallets Task#1234", "Pallets [Task 1234]", "Pallets (Task#1234)"):
        assert links(m.match(email(subject=subject)), "task") == set()


def test_task_token_without_matching_company_links_nothing() -> None:
    # dora has no company: quoting someone else's task number attaches nothing
    assert links(matcher().match(email("dora@private.example", subject="Re [Task#1234]")), "task") == set()


def test_task_token_via_person_of_unblocked_company() -> None:
    # carl's host matches no company, but carl is a person of acme (unblocked)
    assert links(matcher().match(email("carl@else.example", subject="x [Task#1234]")), "task") == \
        {("task", "t1234", "subject_token")}


def test_unknown_task_number_links_nothing() -> None:
    assert links(matcher().match(email(subject="x [Task#999]")), "task") == set()


def test_only_mails_with_task_association_skips_others_with_reason() -> None:
    m = matcher(box(only_task_mails=True))
    d = m.match(email(subject="no token"))
    assert d.skipped == "no_task_association" and kinds(d) == [("skipped", "no_task_association")] and not d.links
    assert m.match(email(subject="x [Task#1234]")).skipped is None


# --- threads --------------------------------------------------------------------------------------
def test_reply_inherits_case_and_task_of_the_thread() -> None:
    m = matcher(box(**CASE_BOX))
    first = m.match(email(subject="Broken [Task#1234]", message_id="root@x"))
    case = next(lk.entity_id for lk in first.links if lk.entity_type == "case")
    reply = m.match(email("carl@else.example", subject="Re: Broken", reply_to="root@x"))
    assert ("case", case, "thread") in links(reply) and ("task", "t1234", "thread") in links(reply)
    # dora has no company: the thread's task passes the token's guard (issue 14), its case needs none
    reply = m.match(email("dora@private.example", subject="Re: Broken", reply_to="root@x"))
    assert ("case", case, "thread") in links(reply) and not links(reply, "task")


def test_reply_arriving_in_another_mailbox_inherits_the_case() -> None:
    m = matcher(box("support", **CASE_BOX), box("sales"))
    first = m.match(email(mailbox="support", message_id="r2@x"))
    case = next(lk.entity_id for lk in first.links if lk.entity_type == "case")
    reply = m.match(email("dora@private.example", mailbox="sales", reply_to="r2@x"))
    assert ("case", case, "thread") in links(reply)


def test_case_id_does_not_depend_on_arrival_order() -> None:
    a, b = matcher(box(**CASE_BOX)), matcher(box(**CASE_BOX))
    root, reply = email(message_id="r3@x"), email(reply_to="r3@x", message_id="r3b@x")
    a1, a2 = a.match(root), a.match(reply)
    b2, b1 = b.match(reply), b.match(root)
    case = {lk.entity_id for d in (a1, a2, b1, b2) for lk in d.links if lk.entity_type == "case"}
    assert len(case) == 1 and case == {cases.case_id("box", "r3@x")}
    assert kinds(a1)[0][0] == "case_created" and kinds(a2)[0][0] == "case_joined"
    assert kinds(b2)[0][0] == "case_created" and kinds(b1)[0][0] == "case_joined"


def test_replayed_email_repeats_its_stored_decision() -> None:
    m = matcher(box(**CASE_BOX, autoresponse_rules=[ACK]))
    e = email()
    first = m.match(e)
    again = m.match(e)
    assert again == first
    assert m.match(email(reply_to=e.message_id)).actions[0].kind == "case_joined"


# --- filters (001, 002) ---------------------------------------------------------------------------
@pytest.mark.parametrize(("field", "op", "value", "holds"), [
    ("from", "contains", "ACME", True), ("from", "contains", "zzz", False),
    ("from", "not_contains", "zzz", True), ("from", "not_contains", "acme", False),
    ("from", "equals", "alice@acme.example", True), ("from", "equals", "alice@acme", False),
    ("subject", "starts_with", "weekly", True), ("subject", "starts_with", "news", False),
    ("subject", "ends_with", "NEWS", True), ("subject", "ends_with", "weekly", False),
    ("subject", "matches", "*news", True), ("subject", "matches", "w?ekly*", True),
    ("subject", "matches", "news*", False),
    ("to", "equals", "support@mailpipe.test", True), ("cc", "contains", "a", False),
    ("body", "contains", "unsubscribe", True), ("from", "matches", "*@acme.example", True),
])
def test_condition_operators(field: str, op: str, value: str, holds: bool) -> None:
    e = email(subject="Weekly news", text_body="Click to unsubscribe")
    assert filters.condition_holds(e, Condition(field=field, op=op, value=value)) is holds  # type: ignore[arg-type]


def test_filter_conditions_are_anded_and_skip_with_reason() -> None:
    f = MailFilter(name="newsletters", conditions=[Condition(field="subject", op="contains", value="news"),
                                                   Condition(field="from", op="ends_with", value="@acme.example")])
    m = matcher(box(filters=[f]))
    assert m.match(email(subject="news")).skipped == "filter:mailbox:newsletters"
    assert m.match(email("x@other.example", subject="news")).skipped is None  # one condition fails
    assert m.match(email(subject="invoice")).skipped is None


def test_global_filter_applies_to_every_mailbox() -> None:
    f = MailFilter(name="jpgs", conditions=[Condition(field="subject", op="matches", value="*.jpg")])
    m = matcher(box("a"), box("b"), global_filters=[f])
    assert m.match(email(subject="photo.jpg", mailbox="b")).skipped == "filter:global:jpgs"
    assert m.match(email(subject="photo.jpeg", mailbox="a")).skipped is None


def test_file_name_filters_wildcard_regex_literal() -> None:
    assert filters.filename_matches("picture.jpg", "*.jpg") and filters.filename_matches("company-logo.jpg", "*.jpg")
    assert not filters.filename_matches("photo.jpeg", "*.jpg")
    assert filters.filename_matches("scan_001.PDF", "/^scan_\\d+\\.pdf$/")
    assert filters.filename_matches("signature.jpg", "signature.jpg") and not filters.filename_matches("x.jpg", "sig")
    assert filters.filename_passes("a.pdf", [], []) and not filters.filename_passes("a.pdf", ["*.jpg"], [])
    assert not filters.filename_passes("signature.jpg", ["*.jpg"], ["signature.jpg"])


# --- files (000) ----------------------------------------------------------------------------------
def _att(name: str) -> Attachment:
    return Attachment(filename=name, content_type="application/octet-stream", size_bytes=1, sha256="a" * 64,
                      object_key=f"att/sha256/aa/{name}")


def test_files_copied_to_task_and_company_folder_only_with_task_association() -> None:
    m = matcher(box(copy_files="both", files_folder="Mail", include_filters=["*.jpg"]))
    d = m.match(email(subject="x [Task#1234]", attachments=[_att("photo.jpg"), _att("photo.jpeg")]))
    (act,) = [a for a in d.actions if a.kind == "files_to_copy"]
    assert {(c.target_type, c.target_id, c.folder, tuple(c.filenames)) for c in act.copies} == \
        {("task", "t1234", "Mail", ("photo.jpg",)), ("company", "acme", "Mail", ("photo.jpg",))}
    assert not [a for a in m.match(email(attachments=[_att("p.jpg")])).actions if a.kind == "files_to_copy"]
    off = matcher(box(copy_files="task"), no_files=True)
    assert not off.match(email(subject="x [Task#1234]", attachments=[_att("p.jpg")])).actions


# --- processing actions (002) and email-to-case (001) ---------------------------------------------
def test_do_nothing_takes_no_action() -> None:
    assert matcher(box()).match(email()).actions == []


def test_case_first_email_creates_later_join_as_note_with_company_and_person() -> None:
    m = matcher(box(**CASE_BOX))
    first = m.match(email(message_id="c1@x"))
    (created,) = first.actions
    assert created.kind == "case_created" and created.company_id == "acme" and created.person_id == "p1"
    later = m.match(email(reply_to="c1@x"))
    assert later.actions[0].kind == "case_joined" and later.actions[0].as_note
    assert later.actions[0].entity_id == created.entity_id


def test_direct_distribution() -> None:
    m = matcher(box(processing=ProcessingAction(action="case", case_distribution="direct", case_assignee="u3")))
    assert m.match(email()).actions[0].assignee == "u3"


def test_round_robin_over_three_users_with_one_inactive() -> None:
    m = matcher(box(**CASE_BOX))
    assert [m.match(email()).actions[0].assignee for _ in range(5)] == ["u1", "u3", "u1", "u3", "u1"]


def test_least_busy_counts_open_cases_and_breaks_ties_by_user_id() -> None:
    index = directory()
    index.upsert(Entity(type="case", id="c9", number=9, status="open", assignee="u1"))
    index.upsert(Entity(type="case", id="c10", number=10, status="closed", assignee="u3"))
    m = matcher(box(processing=ProcessingAction(action="case", case_distribution="least_busy", case_team="support")),
                index=index)
    # u1 has one open case, u3 none (its closed one does not count): u3; then 1:1, the tie goes to u1
    assert [m.match(email()).actions[0].assignee for _ in range(3)] == ["u3", "u1", "u3"]


def test_lead_created_once_per_sender_not_for_persons() -> None:
    m = matcher(box(processing=ProcessingAction(action="lead", owner_user="u1", lead_source="web")))
    first = m.match(email("new@prospect.example"))
    assert kinds(first) == [("lead_created", "source:web")] and first.actions[0].assignee == "u1"
    lead = first.actions[0].entity_id
    second = m.match(email("new@prospect.example"))  # another thread, same sender
    assert kinds(second) == [("lead_linked", "sender_has_lead")] and ("lead", lead, "lead_linked") in links(second)
    assert kinds(m.match(email("alice@acme.example"))) == [("skipped", "no_lead:sender_is_a_person")]


# --- autoresponse rules (002) ---------------------------------------------------------------------
def test_autoresponse_template_plain_and_html() -> None:
    html = AutoresponseRule(name="h", subject="Re: {subject}", body="<p>Hi {sender_name} {case_number}</p>",
                            format="html")
    m = matcher(box(**CASE_BOX, autoresponse_rules=[html]))
    d = m.match(email(subject="A & B"))
    assert d.autoreply is not None and d.autoreply.subject == "Re: A & B"
    number = d.actions[0].number
    assert d.autoreply.body == f"<p>Hi Sender Name {number}</p>" and d.autoreply.to.address == "alice@acme.example"
    plain = matcher(box(autoresponse_rules=[ACK])).match(email(subject="A & B"))
    assert plain.autoreply is not None and plain.autoreply.body == "Hello Sender Name, case "


def test_inactive_rule_never_answers_and_conditions_are_anded() -> None:
    off = ACK.model_copy(update={"active": False})
    assert matcher(box(autoresponse_rules=[off])).match(email()).autoreply is None
    cond = ACK.model_copy(update={"conditions": [Condition(field="subject", op="contains", value="help"),
                                                 Condition(field="bcc", op="not_contains", value="x")]})
    m = matcher(box(autoresponse_rules=[cond]))
    assert m.match(email(subject="help me")).autoreply is not None
    assert m.match(email(subject="thanks")).autoreply is None


# --- loop protection ------------------------------------------------------------------------------
@pytest.mark.parametrize(("extra", "sender", "reason"), [
    ({"auto_submitted": True, "auto_submitted_reasons": ["auto-submitted:auto-replied"]}, "alice@acme.example",
     "auto_submitted"),
    ({"bounce": Bounce(kind="dsn")}, "alice@acme.example", "bounce"),
    ({"auto_submitted": True, "auto_submitted_reasons": ["precedence:bulk"]}, "alice@acme.example", "bulk_or_list"),
    ({"auto_submitted": True, "auto_submitted_reasons": ["list-unsubscribe"]}, "alice@acme.example", "bulk_or_list"),
    ({}, "MAILER-DAEMON@acme.example", "system_sender"),
    ({}, "postmaster@acme.example", "system_sender"),
    ({}, "no-reply@acme.example", "system_sender"),
    ({}, "noreply@acme.example", "system_sender"),
    ({}, "box@mailpipe.test", "own_mailbox"),
])
def test_no_autoresponse_and_no_case_for_loop_mail(extra: dict[str, Any], sender: str, reason: str) -> None:
    d = matcher(box(**CASE_BOX, autoresponse_rules=[ACK])).match(email(sender, **extra))
    assert d.autoreply is None and not links(d, "case")
    assert kinds(d) == [("skipped", f"no_case:{reason}"), ("autoreply_suppressed", reason)]


def test_system_sender_names() -> None:
    assert is_system_sender("do-not-reply@x.example") and is_system_sender("noreply+abc@x.example")
    assert not is_system_sender("norbert@x.example") and not is_system_sender("replies@x.example")


def test_at_most_five_autoresponses_per_sender_per_two_hours() -> None:
    m = matcher(box(autoresponse_rules=[ACK]))
    sent = [m.match(email(at=T0 + timedelta(minutes=i))).autoreply is not None for i in range(7)]
    assert sent == [True] * 5 + [False] * 2
    assert m.match(email("other@acme.example", at=T0)).autoreply is not None  # per sender
    assert m.match(email(at=T0 + loops.WINDOW + timedelta(minutes=5))).autoreply is not None  # window passed


def test_sender_opening_more_than_twenty_cases_in_two_hours_is_held() -> None:
    m = matcher(box(**CASE_BOX, autoresponse_rules=[ACK]))
    got = [m.match(email(at=T0 + timedelta(minutes=i))) for i in range(22)]
    assert [d.actions[0].kind for d in got] == ["case_created"] * 20 + ["case_held"] * 2
    assert got[20].actions[0].reason == "sender_case_flood" and got[20].autoreply is None
    assert m.match(email(at=T0 + loops.WINDOW + timedelta(minutes=30))).actions[0].kind == "case_created"


# --- directory loading ----------------------------------------------------------------------------
def test_directory_csv(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("type,id,name,emails,company_ids,hostnames,blocked,number,active,team_ids\n"
                    "company,acme,Acme,info@acme.example,,acme.example;acme.test,false,,,\n"
                    "person,p1,Alice,alice@acme.example;a@b.example,acme,,,,,\n"
                    "task,t1,Pallets,,,,,1234,,\n"
                    "user,u1,Una,,,,,,no,support\n")
    got = {e.key: e for e in read_entities(path)}
    assert got["company:acme"].hostnames == ["acme.example", "acme.test"] and got["company:acme"].blocked is False
    assert got["person:p1"].emails == ["alice@acme.example", "a@b.example"] and got["task:t1"].number == 1234
    assert got["user:u1"].active is False and got["user:u1"].team_ids == ["support"]
