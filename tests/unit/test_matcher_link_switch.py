"""Reference 004's switch "link emails to the CRM" (on by default): off, the mailbox's mail that
passes its filters is stored with no links and no actions; options that need links are refused
when saved, naming the field."""

from __future__ import annotations

import pytest
from mailpipe.common.messages import MailboxOptions, MailFilter, ProcessingAction
from pydantic import ValidationError

from tests.unit.test_matcher_rules import ACK, _att, box, email, links, matcher


def test_on_by_default_and_linking() -> None:
    assert MailboxOptions().link_to_crm is True
    d = matcher(box()).match(email(subject="x [Task#1234]"))
    assert ("task", "t1234", "subject_token") in links(d)


def test_off_stores_the_mail_unlinked_and_the_filters_still_skip() -> None:
    m = matcher(box(link_to_crm=False, filters=[MailFilter.model_validate(
        {"name": "news", "conditions": [{"field": "subject", "op": "contains", "value": "newsletter"}]})]))
    d = m.match(email(subject="offer [Task#1234]", attachments=[_att("a.pdf")]))
    assert (d.skipped, d.links, d.actions, d.autoreply) == (None, [], [], None)
    assert [f.reason for f in d.files_not_copied] == ["mailbox_option_none"]
    assert m.match(email(subject="our newsletter")).skipped == "filter:mailbox:news"


@pytest.mark.parametrize(("option", "value"), [
    ("only_task_mails", True), ("processing", ProcessingAction(action="case")), ("copy_files", "task"),
    ("autoresponse_rules", [ACK])])
def test_off_refuses_the_options_that_need_links(option: str, value: object) -> None:
    with pytest.raises(ValidationError, match=f"link_to_crm is off, so {option.split('.')[0]}"):
        MailboxOptions.model_validate({"link_to_crm": False, option: value})
