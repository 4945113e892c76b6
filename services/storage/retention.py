"""Retention (reference 000): "Delete after (months)" and "Delete attachments after (months)", per
mailbox.

An email's age in a mailbox is its sighting's: the server's internal date, else the Date header,
else when the pipeline saw it. One email seen by several mailboxes stays while one of them keeps it:
- mails: the sightings of a mailbox older than its limit are deleted; an email left without a
  sighting is deleted (with its participants, links and attachment rows);
- attachments: an email's attachment rows are deleted when every mailbox that saw it has an
  attachment limit and the email is older than that limit in each.
An S3 object (attachment, raw message, long body) is removed only when no row references it any
more. Work is done in batches, one transaction each; keys whose last reference went are written to
``retention_orphans`` in the same transaction and removed from S3 afterwards, so a run that stops
anywhere resumes where it stopped. Objects of mail never stored (skipped by the matcher,
dead-lettered) are referenced by no row from the start: ``unreferenced.py`` finds and removes them
after a grace period. Copies in CRM folders (``crm/...``) belong to the CRM: kept."""

from __future__ import annotations

import calendar
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..common import metrics
from ..common.messages import MailboxOptions
from .unreferenced import DEFAULT_SWEEP, SweepPolicy, delete_unreferenced, not_referenced, note_unreferenced

log = logging.getLogger(__name__)
AGE = "coalesce(s.internal_date, e.sent_at, s.fetched_at)"


def months_before(now: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (clamped to the month's last day)."""
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day)


@dataclass
class RetentionReport:
    sightings: int = 0
    emails: int = 0
    attachments: int = 0
    objects: int = 0
    object_keys: list[str] = field(default_factory=list)


def _cutoffs(policies: dict[str, MailboxOptions], now: datetime, attr: str) -> tuple[list[str], list[datetime]]:
    boxes, cutoffs = [], []
    for mailbox_id, opts in sorted(policies.items()):
        months = getattr(opts, attr)
        if months:
            boxes.append(mailbox_id)
            cutoffs.append(months_before(now, months))
    return boxes, cutoffs


_DELETE_SIGHTINGS = f"""
WITH p(mailbox_id, cutoff) AS (SELECT * FROM unnest(%(boxes)s::text[], %(cutoffs)s::timestamptz[])),
doomed AS (
    SELECT s.mailbox_id, s.folder, s.uidvalidity, s.uid FROM email_sightings s
    JOIN p USING (mailbox_id) JOIN emails e ON e.email_id = s.email_id
    WHERE {AGE} < p.cutoff LIMIT %(batch)s)
DELETE FROM email_sightings s USING doomed d
WHERE (s.mailbox_id, s.folder, s.uidvalidity, s.uid) = (d.mailbox_id, d.folder, d.uidvalidity, d.uid)
RETURNING s.email_id"""

_LOCK_EMAILS = "SELECT 1 FROM emails WHERE email_id = ANY(%(ids)s::uuid[]) ORDER BY email_id FOR UPDATE"
_DELETE_UNSEEN_EMAILS = """
DELETE FROM emails e WHERE e.email_id = ANY(%(ids)s::uuid[])
    AND NOT EXISTS (SELECT 1 FROM email_sightings s WHERE s.email_id = e.email_id)
RETURNING e.email_id, e.raw_ref, e.text_body_ref, e.html_body_ref,
    ARRAY(SELECT a.object_key FROM email_attachments a WHERE a.email_id = e.email_id)"""

_DELETE_ATTACHMENTS = f"""
WITH p(mailbox_id, cutoff) AS (SELECT * FROM unnest(%(boxes)s::text[], %(cutoffs)s::timestamptz[])),
doomed AS (
    SELECT a.email_id, a.position FROM email_attachments a
    WHERE NOT EXISTS (
        SELECT 1 FROM email_sightings s JOIN emails e ON e.email_id = s.email_id LEFT JOIN p USING (mailbox_id)
        WHERE s.email_id = a.email_id AND (p.cutoff IS NULL OR {AGE} >= p.cutoff))
    LIMIT %(batch)s)
DELETE FROM email_attachments a USING doomed d WHERE (a.email_id, a.position) = (d.email_id, d.position)
RETURNING a.object_key"""

_UNREFERENCED = f"""
SELECT o.object_key FROM retention_orphans o WHERE {not_referenced("o.object_key")}
ORDER BY o.object_key LIMIT %(batch)s"""


def _orphan(cur: Any, keys: list[str | None]) -> None:
    wanted = sorted({k for k in keys if k})
    if wanted:
        cur.execute("INSERT INTO retention_orphans (object_key) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                    (wanted,))


def run_retention(conn: Any, s3: Any, bucket: str, policies: dict[str, MailboxOptions], now: datetime,
                  dry_run: bool = False, batch: int = 500, sweep: SweepPolicy | None = None) -> RetentionReport:
    """Apply every mailbox's limits; with ``sweep``, then also remove the objects no stored email
    references (mail skipped or dead-lettered: ``unreferenced.py``) once past its grace period. With
    ``dry_run`` each batch's transaction is rolled back and nothing is removed from S3 (the report
    says what would be; the sweep is left out). Blocks on PostgreSQL and S3."""
    report = RetentionReport()
    mail_boxes, mail_cutoffs = _cutoffs(policies, now, "delete_mails_after_months")
    att_boxes, att_cutoffs = _cutoffs(policies, now, "delete_attachments_after_months")
    if dry_run:
        with conn.transaction(force_rollback=True), conn.cursor() as cur:
            _delete_rows(cur, report, mail_boxes, mail_cutoffs, att_boxes, att_cutoffs, batch=None)
            report.object_keys = [r[0] for r in cur.execute(_UNREFERENCED, {"batch": None}).fetchall()]
            report.objects = len(report.object_keys)
        return report
    while True:
        with conn.transaction(), conn.cursor() as cur:
            done = _delete_rows(cur, report, mail_boxes, mail_cutoffs, att_boxes, att_cutoffs, batch)
        if done:
            break
    while True:  # the orphans: this run's and any a stopped run left
        with conn.transaction(), conn.cursor() as cur:
            keys = [r[0] for r in cur.execute(_UNREFERENCED + " FOR UPDATE OF o SKIP LOCKED", {"batch": batch})]
            for key in keys:
                s3.delete_object(Bucket=bucket, Key=key)  # deleting a missing key succeeds: resumable
            cur.execute("DELETE FROM retention_orphans WHERE object_key = ANY(%s::text[])", (keys,))
        report.objects += len(keys)
        report.object_keys += keys
        metrics.STORAGE_RETENTION_DELETIONS.labels(kind="object").inc(len(keys))
        if len(keys) < batch:
            break
    # keys still referenced again (a new email with the same attachment) are no longer orphans
    conn.execute("DELETE FROM retention_orphans o WHERE EXISTS "
                 "(SELECT 1 FROM email_attachments a WHERE a.object_key = o.object_key)")
    if sweep is not None:
        note_unreferenced(conn, s3, bucket, now, sweep)
        keys = delete_unreferenced(conn, s3, bucket, now, sweep.grace_seconds, batch)
        report.objects += len(keys)
        report.object_keys += keys
    return report


def _delete_rows(cur: Any, report: RetentionReport, mail_boxes: list[str], mail_cutoffs: list[datetime],
                 att_boxes: list[str], att_cutoffs: list[datetime], batch: int | None) -> bool:
    """One batch of each kind; True when nothing was left to delete."""
    limit = {"batch": batch}
    ids = [r[0] for r in cur.execute(_DELETE_SIGHTINGS, {"boxes": mail_boxes, "cutoffs": mail_cutoffs, **limit})]
    emails = []
    if ids:
        # Lock the candidates first: a storage transaction adding a sighting to one of them holds
        # it (the foreign key's share lock) until it commits, and the DELETE's own snapshot, taken
        # after the lock, then sees that sighting; without this the DELETE would wait, then
        # delete the email and cascade the sighting just stored.
        cur.execute(_LOCK_EMAILS, {"ids": sorted(set(ids))})
        emails = cur.execute(_DELETE_UNSEEN_EMAILS, {"ids": sorted(set(ids))}).fetchall()
    for _, raw, text_ref, html_ref, att_keys in emails:
        _orphan(cur, [raw, text_ref, html_ref, *att_keys])
    att_keys = [r[0] for r in cur.execute(_DELETE_ATTACHMENTS, {"boxes": att_boxes, "cutoffs": att_cutoffs,
                                                                **limit})] if att_boxes else []
    _orphan(cur, list(att_keys))
    report.sightings += len(ids)
    report.emails += len(emails)
    report.attachments += len(att_keys)
    for kind, n in (("sighting", len(ids)), ("email", len(emails)), ("attachment", len(att_keys))):
        if n and batch is not None:  # batch None: the dry run, rolled back
            metrics.STORAGE_RETENTION_DELETIONS.labels(kind=kind).inc(n)
    return batch is None or (len(ids) < batch and len(att_keys) < batch)


def retention_loop(connect: Any, s3: Any, bucket: str, mailboxes: Any, ready: threading.Event,
                   interval_seconds: float, stop: threading.Event, sweep: SweepPolicy = DEFAULT_SWEEP) -> None:
    """The storage service's schedule: a run every ``interval_seconds`` once ``mail.mailboxes`` is
    loaded, the sweep of unreferenced objects included. A failed run is logged and tried again at
    the next interval (it resumes: see above)."""
    while not stop.wait(interval_seconds):
        if not ready.is_set():
            continue
        try:
            with connect() as conn:
                policies = {m: c.options for m, c in mailboxes.configs.items()}
                r = run_retention(conn, s3, bucket, policies, datetime.now(UTC), sweep=sweep)
            log.info("retention run", extra={"sightings": r.sightings, "emails": r.emails,
                                             "attachments": r.attachments, "objects": r.objects})
        except Exception:
            log.exception("retention run failed")
