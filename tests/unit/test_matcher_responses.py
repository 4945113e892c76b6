"""What the matcher puts on ``mail.autoreply`` (issue 15): the out-of-office notice (reference
003), templates in the reader's language (reference 002, translations), RFC 3834's addressee
(the Return-Path) and the facts the sender re-checks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from mailpipe.common.errors import ConfigError
from mailpipe.common.messages import AutoresponseRule, Entity, MailboxOptions, OutOfOffice, Template
from mailpipe.matcher.configfiles import read_templates
from mailpipe.matcher.rules.autoreply import choose_variant
from pydantic import ValidationError

from tests.unit.test_matcher_rules import ACK, T0, box, directory, email, kinds, matcher

WELCOME = Template.model_validate({"name": "welcome", "variants": {
    "en": {"subject": "Re: {subject}", "body": "Hello {sender_name}"},
    "de": {"subject": "AW: {subject}", "body": "Hallo {sender_name}"},
    "pt-br": {"subject": "RE: {subject}", "body": "Olá {sender_name}"}}})
OOO = OutOfOffice(starts_at=T0 - timedelta(days=1), ends_at=T0 + timedelta(days=1), period_days=3,
                  subject="Away: {subject}", body="Back on Monday.")


def test_an_out_of_office_notice_answers_mail_addressed_to_the_mailbox_while_in_force() -> None:
    m = matcher(box(out_of_office=OOO))
    reply = m.match(email(to=("box@mailpipe.test",))).autoreply
    assert reply is not None and (reply.kind, reply.subject, reply.once_per_seconds) == (
        "out_of_office", "Away: Hi", 3 * 86400)
    assert ("autoreply_queued", "out_of_office") in kinds(m.match(email(to=("box@mailpipe.test",))))


@pytest.mark.parametrize("case", ["before", "after", "only_cc_of_another", "inactive"])
def test_no_notice_outside_its_dates_for_mail_not_addressed_to_the_mailbox_or_when_off(case: str) -> None:
    ooo = OOO.model_copy(update={"active": case != "inactive"})
    at = {"before": T0 - timedelta(days=2), "after": T0 + timedelta(days=1)}.get(case, T0)
    to = ("list@lists.example",) if case == "only_cc_of_another" else ("box@mailpipe.test",)
    d = matcher(box(out_of_office=ooo)).match(email(to=to, at=at))
    assert d.autoreply is None and not any(k == "autoreply_queued" for k, _ in kinds(d))


def test_a_rule_wins_over_the_notice() -> None:
    reply = matcher(box(out_of_office=OOO, autoresponse_rules=[ACK])).match(email(to=("box@mailpipe.test",))).autoreply
    assert reply is not None and (reply.kind, reply.rule) == ("autoreply", "ack")


def test_the_notice_keeps_the_loop_rules() -> None:
    d = matcher(box(out_of_office=OOO)).match(email(to=("box@mailpipe.test",), auto_submitted=True,
                                                    auto_submitted_reasons=["auto-submitted:auto-replied"]))
    assert d.autoreply is None and ("autoreply_suppressed", "auto_submitted") in kinds(d)


def _index_with_language(lang: str | None) -> object:
    index = directory()
    index.upsert(Entity(type="person", id="p1", emails=["alice@acme.example"], company_ids=["acme"], language=lang))
    return index


@pytest.mark.parametrize(("person", "content_language", "mailbox", "expected"), [
    ("de", "pt-BR", "en", "AW: Hi"),  # the person's language first
    (None, "pt-BR", "de", "RE: Hi"),  # then the email's Content-Language
    (None, "de-AT", "en", "AW: Hi"),  # a regional tag takes its language
    (None, None, "de", "AW: Hi"),  # then the mailbox's
    (None, "fi", "sv", "Re: Hi"),  # none of them: the first variant
])
def test_a_template_is_written_in_the_readers_language(person: str | None, content_language: str | None,
                                                       mailbox: str, expected: str) -> None:
    rule = AutoresponseRule(name="welcome", template="welcome")
    m = matcher(box(autoresponse_rules=[rule], language=mailbox), index=_index_with_language(person),
                templates={"welcome": WELCOME})
    reply = m.match(email(content_language=content_language.lower() if content_language else None)).autoreply
    assert reply is not None and reply.subject == expected
    assert reply.body.split()[0] in ("Hello", "Hallo", "Olá") and reply.body.endswith("Sender Name")


def test_a_rule_naming_a_template_the_catalogue_lacks_is_suppressed_with_the_reason() -> None:
    d = matcher(box(autoresponse_rules=[AutoresponseRule(name="x", template="gone")])).match(email())
    assert d.autoreply is None and ("autoreply_suppressed", "template_missing") in kinds(d)


def test_a_response_needs_a_template_or_its_own_text() -> None:
    with pytest.raises(ValidationError, match="a template, or a subject and a body"):
        AutoresponseRule(name="x")
    with pytest.raises(ValidationError, match="link_to_crm is off, so out_of_office"):
        MailboxOptions(link_to_crm=False, out_of_office=OOO)


def test_the_response_goes_to_the_return_path_and_carries_what_the_sender_rechecks() -> None:
    m = matcher(box(autoresponse_rules=[ACK]))
    reply = m.match(email(return_path="bounces+alice@acme.example")).autoreply
    assert reply is not None and reply.to.address == "bounces+alice@acme.example"
    assert reply.answered is not None and reply.answered.return_path == "bounces+alice@acme.example"
    d = m.match(email(return_path=""))  # RFC 3834 §2: a null Return-Path is never answered
    assert d.autoreply is None and ("autoreply_suppressed", "null_return_path") in kinds(d)


def test_variants_by_exact_then_primary_tag() -> None:
    assert choose_variant(WELCOME.variants, ["pt-br"])[0] == "pt-br"
    assert choose_variant(WELCOME.variants, ["pt"])[0] == "pt-br"
    assert choose_variant(WELCOME.variants, [None, "DE"])[0] == "de"


def test_the_catalogue_file_names_a_bad_field(tmp_path: Path) -> None:
    path = tmp_path / "templates.yaml"
    path.write_text("templates:\n  - name: a\n    variants: {en: {subject: s, body: b}}\n"
                    "  - name: b\n    variants: {}\n")
    with pytest.raises(ConfigError, match=r"templates\[1\]\.variants"):
        read_templates(path)
    path.write_text("templates:\n  - {name: a, variants: {en: {subject: s, body: b}}}\n"
                    "  - {name: a, variants: {de: {subject: s, body: b}}}\n")
    with pytest.raises(ConfigError, match="a given twice"):
        read_templates(path)
    path.write_text("- {name: a, variants: {en: {subject: s, body: b, format: html}}}\n")
    assert read_templates(path)["a"].variants["en"].format == "html"


def test_an_arrival_time_without_an_offset_counts_as_utc_in_every_window() -> None:
    """imapclient hands INTERNALDATE over as naive time; rate limits and the notice's dates are
    aware. After an aware arrival, answered twice in one batch and once alone, nothing compares
    the two kinds."""
    m = matcher(box(autoresponse_rules=[ACK], out_of_office=OOO))
    assert m.match(email(at=T0)).autoreply is not None
    naive = T0.replace(tzinfo=None)
    first = m.match_batch([(email(at=naive), 0), (email(at=naive), 0)])
    later = m.match(email(at=naive, to=("box@mailpipe.test",)))
    assert all(not isinstance(d, Exception) and d.autoreply is not None for d in [*first, later])


def test_a_notice_given_without_an_offset_is_read_as_utc() -> None:
    ooo = OutOfOffice.model_validate({"starts_at": "2026-10-04T00:00:00", "subject": "s", "body": "b"})
    assert ooo.starts_at is not None and ooo.starts_at.tzinfo is not None and ooo.in_force(T0)
