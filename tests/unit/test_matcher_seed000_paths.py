"""Reference 000's rules on every path a link can take (issue 14): the task guard whether the task
came from the subject's token or from the thread, files to the subject's task and its company only,
Bcc as a receiver, a reply's own token against the thread's task, and ``[Task#01234]``.

Pure: the Matcher with in-memory state; each scenario is decided one email at a time and as one
batch, and both must agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from mailpipe.common.messages import Address, Entity, ParsedEmail
from mailpipe.matcher.decision import Decision
from mailpipe.matcher.directory import EntityIndex
from mailpipe.matcher.matching import Matcher
from mailpipe.matcher.rules.addresses import by_role

from tests.unit.test_matcher_rules import _att, box, directory, email, links, matcher

BOX = {"only_task_mails": True, "copy_files": "both", "files_folder": "Mail"}
SUBJECT_TARGETS = {("task", "t1234"), ("company", "acme")}  # t1234 is acme's task


def index() -> EntityIndex:
    """The rules' directory plus an unrelated company and tasks whose company is missing or blocked."""
    ix = directory()
    for e in [{"type": "company", "id": "other", "name": "Other", "emails": ["info@other.example"]},
              {"type": "task", "id": "t55", "number": 55, "company_id": "acme"},
              {"type": "task", "id": "t77", "number": 77},
              {"type": "task", "id": "t88", "number": 88, "company_id": "shut"}]:
        ix.upsert(Entity.model_validate(e))
    return ix


def addressed(sender: str, cc: tuple[str, ...] = (), bcc: tuple[str, ...] = (), **kw: Any) -> ParsedEmail:
    return email(sender, cc=[Address(address=a) for a in cc], bcc=[Address(address=a) for a in bcc],
                 attachments=[_att("offer.pdf")], **kw)


def decide_both_ways(emails: list[ParsedEmail], **options: Any) -> list[Decision]:
    """Each email's decision one at a time, after checking one batch decides exactly the same."""
    one = matcher(box(**options), index=index())
    singly = [one.match(e) for e in emails]
    batch = Matcher(index(), one.mailboxes)
    assert [d for d in batch.match_batch([(e, 0) for e in emails]) if isinstance(d, Decision)] == singly
    return singly


def targets(d: Decision) -> set[tuple[str, str]]:
    return {(c.target_type, c.target_id) for a in d.actions if a.kind == "files_to_copy" for c in a.copies}


@dataclass(frozen=True)
class Path:
    """Who writes (From, Cc, Bcc) and what reference 000 says the email links to."""

    sender: str
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    guarded: bool = False  # matches a non-blocked company or a person of one: the task may link
    also: set[tuple[str, str, str]] = field(default_factory=set)  # person/company links expected too


PATHS = {
    "blocked_company": Path("info@shut.example"),
    "person_of_a_blocked_company": Path("bob@shut.example"),
    "unknown_free_mail_sender": Path("stranger@gmail.com"),
    "cc_unrelated_company": Path("stranger@gmail.com", cc=("info@other.example",), guarded=True,
                                 also={("company", "other", "company_address:recipient")}),
    "bcc_company": Path("stranger@gmail.com", bcc=("info@acme.example",), guarded=True,
                        also={("company", "acme", "company_address:recipient")}),
    "bcc_person": Path("stranger@gmail.com", bcc=("alice@acme.example",), guarded=True,
                       also={("person", "p1", "recipient"), ("company", "acme", "person_main_address:recipient")}),
}


@pytest.mark.parametrize("name", PATHS)
def test_token_link_and_thread_link_pass_the_same_guard_and_copy_to_the_subjects_task_and_company(
        name: str) -> None:
    p = PATHS[name]
    root = email(subject="Broken [Task#1234]", message_id=f"root-{name}@x")  # alice of acme: linked
    token = addressed(p.sender, p.cc, p.bcc, subject="Offer [Task#1234]")
    reply = addressed(p.sender, p.cc, p.bcc, subject="Re: Broken", reply_to=root.message_id)
    first, by_token, by_thread = decide_both_ways([root, token, reply], **BOX)
    assert links(first, "task") == {("task", "t1234", "subject_token")}
    for d, reason in ((by_token, "subject_token"), (by_thread, "thread")):
        if p.guarded:
            assert d.skipped is None
            assert links(d, "task") == {("task", "t1234", reason)}
            assert p.also <= links(d)
            assert targets(d) == SUBJECT_TARGETS  # never the Cc'd company's folder
            assert d.files_not_copied == []
        else:  # "read only mails with task association" must not import it either
            assert d.skipped == "no_task_association" and d.links == []


@pytest.mark.parametrize(("sender", "cc", "subject"), [
    ("stranger@gmail.com", ("info@other.example",), "Offer [Task#77]"),  # the task has no company
    ("alice@acme.example", (), "Offer [Task#77]"),  # the company alice matched is not the subject's
    ("stranger@gmail.com", ("info@other.example",), "Offer [Task#88]"),  # the task's company is blocked
])
def test_a_company_that_is_not_the_subjects_gets_no_files_and_the_file_a_reason(
        sender: str, cc: tuple[str, ...], subject: str) -> None:
    (d,) = decide_both_ways([addressed(sender, cc, subject=subject)], copy_files="company")
    assert any(lk[0] == "task" for lk in links(d)) and any(lk[0] == "company" for lk in links(d))
    assert targets(d) == set()
    assert [(n.object_key, n.reason) for n in d.files_not_copied] == [
        ("att/sha256/aa/offer.pdf", "not_subject_company")]


def test_bcc_is_a_receiver_and_delivered_to_is_not() -> None:
    e = email("stranger@gmail.com", bcc=[Address(address="Info@Acme.example")],
              delivered_to=[Address(address="alice@acme.example")])
    assert by_role(e) == [("sender", "stranger@gmail.com"), ("recipient", "support@mailpipe.test"),
                          ("recipient", "info@acme.example")]


def test_a_replys_own_token_wins_over_the_task_it_would_inherit() -> None:
    root = email(subject="Broken [Task#1234]", message_id="root-own@x")
    reply = addressed("alice@acme.example", subject="Re: Broken [Task#55]", reply_to=root.message_id)
    unknown = addressed("alice@acme.example", subject="Re: Broken [Task#999]", reply_to=root.message_id)
    _, own, no_such = decide_both_ways([root, reply, unknown], **BOX)
    assert links(own, "task") == {("task", "t55", "subject_token")}
    assert targets(own) == {("task", "t55"), ("company", "acme")}
    # a token naming no task links nothing of its own, so the thread's task stands
    assert links(no_such, "task") >= {("task", "t1234", "thread")}


def test_leading_zeros_name_the_same_task_number_as_the_parsers_token() -> None:
    from mailpipe.parser.classify import task_token

    token = task_token("Offer [Task#01234]")
    assert token is not None and token.number == 1234
    (d,) = decide_both_ways([email(subject="Offer [Task#01234]")])
    assert links(d, "task") == {("task", "t1234", "subject_token")}
