"""Reference 001: "Users can create filters for their own Personal Email Account and for their
entire Inbox": a user's own filters (its crm.entities record's ``filters``) apply to every mailbox
the user owns, after the global filters and before the mailbox's own; a pattern that cannot run
in linear time is refused when the record is read, naming the field."""

from __future__ import annotations

import pytest
from mailpipe.common.messages import Entity, MailboxConfig, MailboxOptions, MailFilter
from mailpipe.matcher.decision import Decision
from mailpipe.matcher.directory import EntityIndex
from mailpipe.matcher.matching import Matcher
from pydantic import ValidationError

from tests.unit.test_matcher_rules import directory, email, matcher

NEWSLETTERS = {"name": "no newsletters", "conditions": [{"field": "subject", "op": "contains", "value": "newsletter"}]}


def owned(mailbox_id: str, owner: str | None) -> MailboxConfig:
    return MailboxConfig(mailbox_id=mailbox_id, name=mailbox_id, protocol="imap",
                         options=MailboxOptions(owner_user=owner))


def with_user(*filters: dict[str, object]) -> EntityIndex:
    ix = directory()
    ix.upsert(Entity.model_validate({"type": "user", "id": "u7", "filters": list(filters)}))
    return ix


def test_a_users_filters_apply_to_every_mailbox_the_user_owns_and_no_other() -> None:
    boxes = (owned("mine", "u7"), owned("also-mine", "u7"), owned("theirs", "u8"), owned("nobodys", None))
    m = matcher(*boxes, index=with_user(NEWSLETTERS))
    decided = {b.mailbox_id: m.match(email(subject="Our newsletter", mailbox=b.mailbox_id)) for b in boxes}
    assert {k: d.skipped for k, d in decided.items()} == {
        "mine": "filter:user:no newsletters", "also-mine": "filter:user:no newsletters",
        "theirs": None, "nobodys": None}
    batch = Matcher(with_user(NEWSLETTERS), m.mailboxes)
    mails = [email(subject="Our newsletter", mailbox=b.mailbox_id) for b in boxes]
    assert [d.skipped for d in batch.match_batch([(e, 0) for e in mails]) if isinstance(d, Decision)] == \
        [d.skipped for d in decided.values()]


def test_global_filters_come_first_then_the_users_then_the_mailboxs() -> None:
    glob = {"name": "global", "conditions": [{"field": "subject", "op": "contains", "value": "spam"}]}
    box = MailboxConfig(mailbox_id="mine", name="mine", protocol="imap", options=MailboxOptions.model_validate(
        {"owner_user": "u7", "filters": [{"name": "box", "conditions": [
            {"field": "subject", "op": "contains", "value": "newsletter"}]}]}))
    m = matcher(box, index=with_user(NEWSLETTERS), global_filters=[MailFilter.model_validate(glob)])
    assert m.match(email(subject="spam newsletter", mailbox="mine")).skipped == "filter:global:global"
    assert m.match(email(subject="a newsletter", mailbox="mine")).skipped == "filter:user:no newsletters"


def test_a_user_filter_that_cannot_run_in_linear_time_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"filters\.0\.conditions\.0\.value"):
        Entity.model_validate({"type": "user", "id": "u7", "filters": [
            {"name": "x", "conditions": [{"field": "body", "op": "matches", "value": "/(a)\\1/"}]}]})
