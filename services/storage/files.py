"""Copies of attachments into CRM folders (reference 000, "Copy files to").

The matcher decides *what* to copy (its ``files_to_copy`` action: the mailbox asks for it, the email
has a task association, the global "no files" switch is off, the name passes the mailbox's include
and exclude filters); storage makes the copies, server-side, from the content-addressed object to

    crm/<task|company>/<id>/<folder>/<name>

so a CRM backend lists a task's or company's files with one prefix. A second, different file with
the same name in the same folder gets ``<stem>.<sha256 first 12><ext>`` instead of overwriting the
first (which one is first is recorded in ``file_copies``)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Any

from ..common.messages import MailboxOptions, MatchedEmail

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")
MAX_NAME_CHARS = 200


def safe_segment(text: str) -> str:
    """A path segment that cannot climb out of its folder: no separators or control characters,
    never ``.``/``..``, bounded length."""
    cleaned = _UNSAFE.sub("_", text).strip()[:MAX_NAME_CHARS]
    return "_" if cleaned in ("", ".", "..") else cleaned


def safe_folder(folder: str) -> str:
    """The mailbox's "save files in the folder", as ``a/b`` (empty segments dropped)."""
    return "/".join(safe_segment(part) for part in re.split(r"[/\\]+", folder) if part.strip())


def destination_key(target_type: str, target_id: str, folder: str, filename: str) -> str:
    parts = ["crm", target_type, safe_segment(target_id), *filter(None, [safe_folder(folder)]), safe_segment(filename)]
    return "/".join(parts)


def hashed_name(filename: str, sha256: str) -> str:
    stem, dot, ext = filename.rpartition(".")
    return f"{stem}.{sha256[:12]}.{ext}" if dot and stem else f"{filename}.{sha256[:12]}"


@dataclass(frozen=True)
class PlannedCopy:
    """One file to copy to one task or company folder."""

    target_type: str
    target_id: str
    folder: str
    filename: str
    sha256: str
    source_key: str
    dest_key: str
    hashed_dest_key: str

    def at(self, dest_key: str) -> PlannedCopy:
        return replace(self, dest_key=dest_key)


def planned_copies(matched: MatchedEmail) -> list[PlannedCopy]:
    """The matcher's ``files_to_copy`` plan as copies, each (target, file) once."""
    by_key = {a.object_key: a for a in matched.email.attachments}
    out: dict[tuple[str, str, str, str, str], PlannedCopy] = {}
    for action in matched.actions:
        if action.kind != "files_to_copy":
            continue
        for fc in action.copies:
            folder = safe_folder(fc.folder)
            for key, name in zip(fc.object_keys, fc.filenames, strict=False):
                att = by_key.get(key)
                sha = att.sha256 if att else key.rsplit("/", 1)[-1]
                name = safe_segment(name)
                ident = (fc.target_type, fc.target_id, folder, name, sha)
                out.setdefault(ident, PlannedCopy(
                    fc.target_type, fc.target_id, folder, name, sha, key,
                    destination_key(fc.target_type, fc.target_id, folder, name),
                    destination_key(fc.target_type, fc.target_id, folder, hashed_name(name, sha))))
    return list(out.values())


# Why an attachment was not copied (a closed set: the label values of mailpipe_storage_files_skipped).
# The matcher's reasons (matcher/rules/filecopy.py), storage's own, and "unknown" for a reason this
# version does not know or a record from a matcher older than ``files_not_copied``.
MATCHER_REASONS = ("mailbox_option_none", "no_task_association", "inline_part", "filename_filter_include",
                   "filename_filter_exclude", "no_target", "not_subject_company", "no_files_switch")
SKIP_REASONS = ("email_skipped", *MATCHER_REASONS, "source_missing", "copy_refused", "unknown")


def skip_reasons(matched: MatchedEmail, options: MailboxOptions) -> list[str]:
    """For each attachment the matcher's plan leaves out, the reason the matcher gave with it
    (``files_not_copied``); storage decides nothing again. An email the matcher skipped counts
    every attachment as ``email_skipped``. A record from a matcher older than that field gives no
    reason: a mailbox that copies nothing says it all (``mailbox_option_none``), else ``unknown``."""
    planned = {key for action in matched.actions if action.kind == "files_to_copy"
               for fc in action.copies for key in fc.object_keys}
    given = {n.object_key: n.reason for n in matched.files_not_copied}
    fallback = "mailbox_option_none" if options.copy_files == "none" else "unknown"
    reasons = [given.get(a.object_key, fallback) for a in matched.email.attachments if a.object_key not in planned]
    if matched.skipped:
        return ["email_skipped"] * len(reasons)
    return [r if r in MATCHER_REASONS else "unknown" for r in reasons]  # the label set stays closed


def copy_files(s3: Any, bucket: str, copies: list[PlannedCopy]) -> tuple[int, dict[str, int]]:
    """Server-side copies (no bytes through this process); returns how many were copied and how
    many were skipped, by reason. Copying again to the same key writes the same bytes, so a retry
    or replay is harmless. A copy S3 refuses for that one object (its source gone because retention
    removed it before a replay got here: ``source_missing``; a destination key too long:
    ``copy_refused``) can never succeed: it is logged and counted, not retried. Blocks on the
    network; raises TransientError or DependencyConfigError (``adapters.s3_errors``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from ..common.adapters.s3_errors import translate
    from ..common.errors import PoisonMessage

    copied, skipped = 0, dict[str, int]()
    for c in copies:
        try:
            s3.copy_object(Bucket=bucket, Key=c.dest_key, CopySource={"Bucket": bucket, "Key": c.source_key},
                           MetadataDirective="COPY")
        except (BotoCoreError, ClientError) as exc:
            kind = translate(exc)
            if not isinstance(kind, PoisonMessage):
                raise kind or exc from exc
            reason = "source_missing" if kind.reason == "object_missing" else "copy_refused"
            log.warning("file copy skipped", extra={"reason": reason, "error": kind.detail,
                                                    "source_key": c.source_key, "target_type": c.target_type})
            skipped[reason] = skipped.get(reason, 0) + 1
        else:
            copied += 1
    return copied, skipped
