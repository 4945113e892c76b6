"""Reference 001: mail links to leads and opportunities too, and the users following a linked
record are named for notification unless they already have the mail (From, To, Cc)."""

from __future__ import annotations

from mailpipe.common.messages import Address, Entity
from mailpipe.matcher.decision import Decision
from mailpipe.matcher.directory import EntityIndex
from mailpipe.matcher.matching import Matcher

from tests.unit.test_matcher_rules import box, directory, email, links, matcher


def index() -> EntityIndex:
    """The rules' directory (acme with alice, shut blocked with bob) plus leads, deals and users."""
    ix = directory()
    for e in [
        {"type": "lead", "id": "l1", "emails": ["Prospect@Newco.example"], "followers": ["u-sales"]},
        {"type": "opportunity", "id": "o1", "company_id": "acme", "followers": ["u-sales", "u-boss"]},
        {"type": "opportunity", "id": "o2", "contact_ids": ["p1"], "status": "open"},
        {"type": "opportunity", "id": "o3", "company_id": "acme", "status": "Closed Won"},
        {"type": "opportunity", "id": "o4", "company_id": "shut"},
        {"type": "company", "id": "acme", "name": "Acme", "emails": ["info@acme.example"],
         "hostnames": ["acme.example"], "followers": ["u-acct"]},
        {"type": "user", "id": "u-sales", "emails": ["sales.rep@mailpipe.test"]},
        {"type": "user", "id": "u-boss", "emails": ["boss@mailpipe.test"]},
        {"type": "user", "id": "u-acct"},
    ]:
        ix.upsert(Entity.model_validate(e))
    return ix


def decided(*emails_: object) -> list[Decision]:
    """Each email decided alone, after checking one batch decides exactly the same."""
    one = matcher(box(), index=index())
    singly = [one.match(e) for e in emails_]  # type: ignore[arg-type]
    batch = Matcher(index(), one.mailboxes)
    assert [d for d in batch.match_batch([(e, 0) for e in emails_]) if isinstance(d, Decision)] == singly  # type: ignore[misc]
    return singly


def notified(d: Decision) -> set[tuple[str, str, str]]:
    return {(n.user_id, n.entity_type, n.entity_id) for n in d.notify}


def test_a_lead_is_linked_by_its_address_and_its_followers_are_named() -> None:
    (d,) = decided(email("prospect@newco.example"))
    assert ("lead", "l1", "lead_address:sender") in links(d)
    assert notified(d) == {("u-sales", "lead", "l1")}


def test_open_opportunities_of_a_linked_company_or_contact_are_linked_closed_and_blocked_ones_not() -> None:
    (d,) = decided(email("alice@acme.example"))  # alice (p1) is acme's person
    assert links(d, "opportunity") == {("opportunity", "o1", "opportunity_company"),
                                       ("opportunity", "o2", "opportunity_contact")}
    (blocked,) = decided(email("bob@shut.example"))
    assert links(blocked, "opportunity") == set()


def test_followers_who_already_have_the_mail_are_not_named() -> None:
    plain, copied, bcc = decided(
        email("info@acme.example"),
        email("info@acme.example", cc=[Address(address="Sales.Rep@mailpipe.test")]),
        email("info@acme.example", bcc=[Address(address="sales.rep@mailpipe.test")]))
    assert notified(plain) == {("u-acct", "company", "acme"), ("u-boss", "opportunity", "o1"),
                               ("u-sales", "opportunity", "o1")}
    assert notified(copied) == notified(plain) - {("u-sales", "opportunity", "o1")}  # in Cc: has it
    assert notified(bcc) == notified(plain)  # Bcc is not shown to the others: still notified
    assert [n.user_id for n in plain.notify] == sorted(n.user_id for n in plain.notify)


def test_a_skipped_email_notifies_nobody() -> None:
    m = matcher(box(only_task_mails=True), index=index())
    d = m.match(email("info@acme.example"))
    assert d.skipped == "no_task_association" and d.notify == []
