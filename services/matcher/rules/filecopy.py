"""Reference 000, "Copy files to": which attachments go to the matched task's and company's
folders, and for each one that does not, why. The matcher emits both on ``mail.matched`` (the
``files_to_copy`` action and ``files_not_copied``); storage copies the one and counts the other
(``mailpipe_storage_files_skipped``) without deciding anything again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ...common.messages import Attachment, FileNotCopied, Link, MailboxOptions
from .filters import filename_passes

Target = tuple[Literal["task", "company"], str]


def copy_targets(opts: MailboxOptions, links: Sequence[Link]) -> list[Target]:
    """The folders the mailbox copies files to: its task links, its company links, or both."""
    targets: list[Target] = []
    if opts.copy_files in ("task", "both"):
        targets += [("task", lk.entity_id) for lk in links if lk.entity_type == "task"]
    if opts.copy_files in ("company", "both"):
        targets += [("company", lk.entity_id) for lk in links if lk.entity_type == "company"]
    return targets


def split_attachments(attachments: Sequence[Attachment], opts: MailboxOptions, links: Sequence[Link],
                      no_files: bool) -> tuple[list[Attachment], list[FileNotCopied]]:
    """The attachments to copy, and every other one with the reason it is not copied."""
    files: list[Attachment] = []
    not_copied: list[FileNotCopied] = []
    for att in attachments:
        reason = copy_skip_reason(att, opts, links, no_files)
        if reason is None:
            files.append(att)
        else:
            not_copied.append(FileNotCopied(object_key=att.object_key, reason=reason))
    return files, not_copied


def copy_skip_reason(att: Attachment, opts: MailboxOptions, links: Sequence[Link], no_files: bool) -> str | None:
    """Why ``att`` is not copied (the first rule that keeps it out), or None when it is. The global
    "no files" switch comes last, so a file is attributed to it only when every other rule lets it
    through."""
    if opts.copy_files == "none":
        return "mailbox_option_none"
    if not any(lk.entity_type == "task" for lk in links):
        return "no_task_association"
    if att.disposition != "attachment":
        return "inline_part"
    if not filename_passes(att.filename, opts.include_filters, ()):
        return "filename_filter_include"
    if not filename_passes(att.filename, (), opts.exclude_filters):
        return "filename_filter_exclude"
    if not copy_targets(opts, links):
        return "no_target"  # copy to the company, but the email matched none
    if no_files:
        return "no_files_switch"
    return None
