"""Reference 000, "Copy files to": which attachments go to the matched task's and company's
folders, and for each one that does not, why. The matcher decides with it (its ``files_to_copy``
action) and storage counts the reasons with it (``mailpipe_storage_files_skipped``), so the two
cannot disagree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ...common.messages import Attachment, Link, MailboxOptions
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


def copy_skip_reason(att: Attachment, opts: MailboxOptions, links: Sequence[Link], no_files: bool) -> str | None:
    """Why ``att`` is not copied (the first rule that keeps it out), or None when it is. The global
    "no files" switch comes last: it does not change what is copied, and storage, which cannot see
    it, attributes to it a file that every other rule lets through."""
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
