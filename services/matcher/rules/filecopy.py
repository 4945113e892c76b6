"""Reference 000, "Copy files to": files "may be copied to the task or company that matches the
email subject", so to the email's task and that task's company, never to a company the addresses
matched for another reason (a stranger's mail that Cc's an unrelated company with another
company's ``[Task#N]`` puts nothing in the unrelated company's folder). Which attachments go, and
for each one that does not, why. The matcher emits both on ``mail.matched`` (the ``files_to_copy``
action and ``files_not_copied``); storage copies the one and counts the other
(``mailpipe_storage_files_skipped``) without deciding anything again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ...common.messages import Attachment, FileNotCopied, Link, MailboxOptions
from ..directory import EntityIndex
from .filters import filename_passes
from .tasks import subject_companies

Target = tuple[Literal["task", "company"], str]


def copy_targets(opts: MailboxOptions, links: Sequence[Link], index: EntityIndex | None = None) -> list[Target]:
    """The folders the mailbox copies files to: the email's tasks, their companies (as ``index``
    says; none without it), or both."""
    tasks = [lk for lk in links if lk.entity_type == "task"]
    targets: list[Target] = []
    if opts.copy_files in ("task", "both"):
        targets += [("task", lk.entity_id) for lk in tasks]
    if opts.copy_files in ("company", "both") and index is not None:
        targets += [("company", cid) for cid in subject_companies(tasks, index)]
    return targets


def split_attachments(attachments: Sequence[Attachment], opts: MailboxOptions, links: Sequence[Link],
                      no_files: bool, index: EntityIndex | None = None
                      ) -> tuple[list[Attachment], list[FileNotCopied]]:
    """The attachments to copy, and every other one with the reason it is not copied."""
    files: list[Attachment] = []
    not_copied: list[FileNotCopied] = []
    for att in attachments:
        reason = copy_skip_reason(att, opts, links, no_files, index)
        if reason is None:
            files.append(att)
        else:
            not_copied.append(FileNotCopied(object_key=att.object_key, reason=reason))
    return files, not_copied


def copy_skip_reason(att: Attachment, opts: MailboxOptions, links: Sequence[Link], no_files: bool,
                     index: EntityIndex | None = None) -> str | None:
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
    if not copy_targets(opts, links, index):
        # Copy to the company only, and the subject's task has none (or a blocked one): the
        # companies the addresses matched are not the subject's, so they get nothing either.
        return "not_subject_company" if any(lk.entity_type == "company" for lk in links) else "no_target"
    if no_files:
        return "no_files_switch"
    return None
