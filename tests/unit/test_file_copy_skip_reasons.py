"""Why an attachment is not copied (reference 000, "Copy files to"), rule by rule.

The matcher gives the reason on ``mail.matched`` (``files_not_copied``); storage only counts it as
the label of mailpipe_storage_files_skipped, deciding nothing again."""

from __future__ import annotations

from mailpipe.common.messages import (
    Action,
    Attachment,
    FileCopy,
    FileNotCopied,
    Link,
    MailboxOptions,
    MatchedEmail,
    ParsedEmail,
    Sighting,
)
from mailpipe.matcher.rules.filecopy import split_attachments
from mailpipe.storage.files import SKIP_REASONS, skip_reasons

from tests.unit.test_matcher_rules import _att, box, email, matcher

TASK = [Link(entity_type="task", entity_id="7", reason="subject_token")]
COPY = MailboxOptions(copy_files="task", include_filters=["*.pdf", "*.jpg"], exclude_filters=["logo*"])


def att(name: str, disposition: str = "attachment") -> Attachment:
    return Attachment(filename=name, content_type="application/octet-stream", size_bytes=1, sha256="ab" * 32,
                      object_key=f"att/sha256/ab/{name}", disposition=disposition)  # type: ignore[arg-type]


def reasons(atts: list[Attachment], opts: MailboxOptions, links: list[Link] = TASK,
            no_files: bool = False) -> dict[str, str]:
    """The matcher's split: file name -> why it is not copied (copied files absent)."""
    _, not_copied = split_attachments(atts, opts, links, no_files)
    by_key = {a.object_key: a.filename for a in atts}
    return {by_key[n.object_key]: n.reason for n in not_copied}


# --- the matcher gives the reasons ---------------------------------------------------------------
def test_each_rule_names_its_reason() -> None:
    a, inline, doc, logo, sig = att("a.pdf"), att("i.png", "inline"), att("b.doc"), att("logo.jpg"), att("s.jpg")
    assert reasons([a, inline, doc, logo, sig], COPY) == {
        "i.png": "inline_part", "b.doc": "filename_filter_include", "logo.jpg": "filename_filter_exclude"}
    assert reasons([a, inline, sig], COPY, no_files=True) == {
        "a.pdf": "no_files_switch", "i.png": "inline_part", "s.jpg": "no_files_switch"}
    assert reasons([a], MailboxOptions()) == {"a.pdf": "mailbox_option_none"}
    assert reasons([a], COPY, links=[]) == {"a.pdf": "no_task_association"}
    company_copy = MailboxOptions(copy_files="company")  # a task, but no company matched: nowhere to copy
    assert reasons([a], company_copy) == {"a.pdf": "no_target"}
    assert reasons([a], COPY) == {}


def test_the_decision_carries_the_reasons_beside_the_plan() -> None:
    m = matcher(box(copy_files="both", files_folder="Mail", include_filters=["*.jpg"]))
    d = m.match(email(subject="x [Task#1234]", attachments=[_att("photo.jpg"), _att("photo.jpeg")]))
    (act,) = [a for a in d.actions if a.kind == "files_to_copy"]
    assert {k for c in act.copies for k in c.object_keys} == {"att/sha256/aa/photo.jpg"}
    assert d.files_not_copied == [FileNotCopied(object_key="att/sha256/aa/photo.jpeg",
                                                reason="filename_filter_include")]
    no_task = m.match(email(attachments=[_att("p.jpg")]))
    assert [(n.object_key, n.reason) for n in no_task.files_not_copied] == [
        ("att/sha256/aa/p.jpg", "no_task_association")]
    off = matcher(box(copy_files="task"), no_files=True).match(email(subject="x [Task#1234]",
                                                                     attachments=[_att("p.jpg")]))
    assert [n.reason for n in off.files_not_copied] == ["no_files_switch"]


def test_mail_matched_carries_the_reasons() -> None:
    from mailpipe.common.messages import MatchedEnvelope
    from mailpipe.matcher.stage import outputs

    parsed = email(subject="x [Task#1234]", attachments=[_att("p.jpg"), _att("p.doc")])
    decision = matcher(box(copy_files="task", include_filters=["*.jpg"])).match(parsed)
    (out,) = [o for o in outputs(parsed, decision) if o.topic == "mail.matched"]
    payload = MatchedEnvelope.model_validate_json(out.value or b"").payload
    assert [(n.object_key, n.reason) for n in payload.files_not_copied] == [
        ("att/sha256/aa/p.doc", "filename_filter_include")]


# --- storage counts them ---------------------------------------------------------------------------
def matched(atts: list[Attachment], copied: list[Attachment] = (),  # type: ignore[assignment]
            not_copied: list[FileNotCopied] = (), skipped: str | None = None) -> MatchedEmail:  # type: ignore[assignment]
    email_ = ParsedEmail(email_id="00000000-0000-0000-0000-000000000001", message_id=None, size_bytes=1,
                         sha256="0" * 64, sighting=Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1),
                         attachments=atts)
    actions = [Action(kind="files_to_copy", reason="copy_files:task", copies=[FileCopy(
        target_type="task", target_id="7", folder="", object_keys=[a.object_key for a in copied],
        filenames=[a.filename for a in copied])])] if copied else []
    return MatchedEmail(email=email_, links=TASK, actions=actions, skipped=skipped,
                        files_not_copied=list(not_copied))


def test_storage_counts_the_reasons_the_matcher_gave() -> None:
    atts = [att("a.pdf"), att("i.png", "inline"), att("b.doc"), att("logo.jpg"), att("s.jpg")]
    copied, not_copied = split_attachments(atts, COPY, TASK, no_files=True)
    m = matched(atts, copied, not_copied)
    assert skip_reasons(m, COPY) == ["no_files_switch", "inline_part", "filename_filter_include",
                                     "filename_filter_exclude", "no_files_switch"]
    assert skip_reasons(matched(atts, skipped="filter:spam"), COPY) == ["email_skipped"] * 5
    assert set(SKIP_REASONS) >= {r for r in skip_reasons(m, COPY)}


def test_a_record_without_reasons_still_counts_in_the_closed_set() -> None:
    a = att("a.pdf")
    assert skip_reasons(matched([a]), MailboxOptions()) == ["mailbox_option_none"]  # an older matcher
    assert skip_reasons(matched([a]), COPY) == ["unknown"]
    newer = [FileNotCopied(object_key=a.object_key, reason="a_reason_of_a_newer_matcher")]
    assert skip_reasons(matched([a], not_copied=newer), COPY) == ["unknown"]
    assert skip_reasons(matched([a], copied=[a]), COPY) == []
