"""Why an attachment was not copied (the label of mailpipe_storage_files_skipped), rule by rule."""

from __future__ import annotations

from mailpipe.common.messages import (
    Action,
    Attachment,
    FileCopy,
    Link,
    MailboxOptions,
    MatchedEmail,
    ParsedEmail,
    Sighting,
)
from mailpipe.storage.files import SKIP_REASONS, skip_reasons

TASK = [Link(entity_type="task", entity_id="7", reason="subject_token")]


def att(name: str, disposition: str = "attachment") -> Attachment:
    return Attachment(filename=name, content_type="application/octet-stream", size_bytes=1, sha256="ab" * 32,
                      object_key=f"att/sha256/ab/{name}", disposition=disposition)  # type: ignore[arg-type]


def matched(atts: list[Attachment], links: list[Link] = TASK, copied: list[Attachment] = (),  # type: ignore[assignment]
            skipped: str | None = None) -> MatchedEmail:
    email = ParsedEmail(email_id="00000000-0000-0000-0000-000000000001", message_id=None, size_bytes=1,
                        sha256="0" * 64, sighting=Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1),
                        attachments=atts)
    actions = [Action(kind="files_to_copy", reason="copy_files:task", copies=[FileCopy(
        target_type="task", target_id="7", folder="", object_keys=[a.object_key for a in copied],
        filenames=[a.filename for a in copied])])] if copied else []
    return MatchedEmail(email=email, links=links, actions=actions, skipped=skipped)


def test_each_rule_names_its_reason() -> None:
    copy = MailboxOptions(copy_files="task", include_filters=["*.pdf", "*.jpg"], exclude_filters=["logo*"])
    a, inline, doc, logo, sig = att("a.pdf"), att("i.png", "inline"), att("b.doc"), att("logo.jpg"), att("s.jpg")
    assert skip_reasons(matched([a, inline, doc, logo, sig], copied=[a]), copy) == [
        "inline_part", "filename_filter_include", "filename_filter_exclude", "no_files_switch"]
    assert skip_reasons(matched([a]), MailboxOptions()) == ["mailbox_option_none"]
    assert skip_reasons(matched([a], links=[]), copy) == ["no_task_association"]
    assert skip_reasons(matched([a], skipped="filter:spam"), copy) == ["email_skipped"]
    company_copy = MailboxOptions(copy_files="company")  # a task, but no company matched: nowhere to copy
    assert skip_reasons(matched([a]), company_copy) == ["no_target"]
    assert skip_reasons(matched([a], copied=[a]), copy) == []
    assert set(SKIP_REASONS) >= {"mailbox_option_none", "no_task_association", "no_files_switch",
                                 "filename_filter_include", "filename_filter_exclude", "no_target"}


def test_storage_counts_what_the_matcher_decided() -> None:
    """Every attachment storage counts as skipped is one the matcher's own rule leaves out, for
    the same reason, and every other is in the matcher's plan (the no-files switch off)."""
    from mailpipe.matcher.decide import _file_copies

    opts = MailboxOptions(copy_files="both", include_filters=["*.pdf", "*.jpg"], exclude_filters=["logo*"])
    atts = [att("a.pdf"), att("i.png", "inline"), att("b.doc"), att("logo.jpg"), att("s.jpg")]
    for links in (TASK, [], [*TASK, Link(entity_type="company", entity_id="c1", reason="host")]):
        plan = _file_copies(matched(atts, links).email, opts, links, no_files=False)
        planned = [a for a in atts if any(a.object_key in fc.object_keys for fc in plan)]
        m = matched(atts, links, copied=planned)
        assert len(skip_reasons(m, opts)) + len(planned) == len(atts)
        assert "no_files_switch" not in skip_reasons(m, opts)
