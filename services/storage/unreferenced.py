"""Objects of mail never stored (issue 14): the parser writes attachments (``att/``) and long bodies
(``body/``), the fetcher claim-checked raw messages (``raw/``), before anyone knows whether storage
will keep the email. When the matcher skips it (a filter, "only mails with task association") or a
stage dead-letters it, no row ever references those objects, so the row-driven retention
(``retention.py``) never sees them.

Two steps, each in batches and resumable:
- ``note_unreferenced`` lists each prefix a bounded number of pages (ListObjectsV2, where it stopped
  kept in ``retention_sweep``), and notes in ``retention_candidates`` every key no row references,
  with the time it was first seen so (``ON CONFLICT DO NOTHING``: a second listing keeps that time);
- ``delete_unreferenced`` removes from S3 the candidates noted more than the grace period ago that
  still no row references and whose bytes were not written again within the grace period, and
  forgets the candidates that gained a reference.

The grace period covers mail still in flight (parsed, not stored yet) and dead letters that may be
replayed: see ``settings.StorageOptions.unreferenced_grace_seconds``. Copies in CRM folders
(``crm/``) are never listed: they belong to the CRM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..common import metrics
from ..common.adapters.s3_errors import s3_boundary

PREFIXES = ("raw/", "att/", "body/")
DAY_SECONDS = 24 * 3600
# The dead-letter topics keep a record 30 days (common/topics.py) and a replayed record waits in its
# source topic up to that topic's 7 days: a raw object must outlive both. Three days of margin.
DLQ_RETENTION_SECONDS = 30 * DAY_SECONDS
DEFAULT_GRACE_SECONDS = 40 * DAY_SECONDS


def not_referenced(key: str) -> str:
    """SQL: no stored row references the object whose key is the SQL expression ``key``."""
    return (f"NOT EXISTS (SELECT 1 FROM email_attachments a WHERE a.object_key = {key})"
            f" AND NOT EXISTS (SELECT 1 FROM emails e WHERE e.raw_ref = {key})"
            f" AND NOT EXISTS (SELECT 1 FROM emails e WHERE e.text_body_ref = {key})"
            f" AND NOT EXISTS (SELECT 1 FROM emails e WHERE e.html_body_ref = {key})")


@dataclass(frozen=True)
class SweepPolicy:
    """How long an unreferenced object waits, and how much of the bucket one run lists."""

    grace_seconds: float = DEFAULT_GRACE_SECONDS
    pages: int = 100  # listing pages per prefix per run; 0: no listing (noted candidates still go)
    page_size: int = 1000  # keys per page (S3's maximum)

    @classmethod
    def from_options(cls, options: Any) -> SweepPolicy:
        """From ``StorageOptions`` (``unreferenced_grace_seconds``, ``unreferenced_sweep_pages``)."""
        return cls(options.unreferenced_grace_seconds, options.unreferenced_sweep_pages)


DEFAULT_SWEEP = SweepPolicy()  # the defaults of StorageOptions (app.py passes the configured one)


_NOTE = f"""
INSERT INTO retention_candidates (object_key, noted_at)
SELECT k, %(now)s FROM unnest(%(keys)s::text[]) AS k WHERE {not_referenced("k")}
ON CONFLICT (object_key) DO NOTHING"""
_SAVE_CURSOR = """
INSERT INTO retention_sweep (prefix, after_key) VALUES (%s, %s)
ON CONFLICT (prefix) DO UPDATE SET after_key = EXCLUDED.after_key"""
_DUE = "SELECT object_key FROM retention_candidates WHERE noted_at < %(cutoff)s ORDER BY object_key LIMIT %(batch)s" \
       " FOR UPDATE SKIP LOCKED"
_STILL_UNREFERENCED = f"SELECT k FROM unnest(%s::text[]) AS k WHERE {not_referenced('k')}"


def note_unreferenced(conn: Any, s3: Any, bucket: str, now: datetime, policy: SweepPolicy) -> int:
    """List up to ``policy.pages`` pages of each prefix from where the last run stopped and note the
    keys nothing references; returns how many keys were listed. A prefix listed to its end starts
    again at the next run. Blocks on PostgreSQL and S3; raises psycopg errors and the S3 adapter's."""
    listed = 0
    for prefix in PREFIXES:
        row = conn.execute("SELECT after_key FROM retention_sweep WHERE prefix = %s", (prefix,)).fetchone()
        after = row[0] if row else ""
        for _ in range(policy.pages):
            page = _list(s3, bucket, prefix, after, policy.page_size)
            keys = [o["Key"] for o in page.get("Contents", [])]
            after = keys[-1] if keys and page.get("IsTruncated") else ""
            with conn.transaction():  # the noted keys and the cursor past them, together
                conn.execute(_NOTE, {"now": now, "keys": keys})
                conn.execute(_SAVE_CURSOR, (prefix, after))
            listed += len(keys)
            if not after:
                break
    return listed


def _list(s3: Any, bucket: str, prefix: str, after: str, page_size: int) -> dict[str, Any]:
    args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
    if after:
        args["StartAfter"] = after
    with s3_boundary():
        page: dict[str, Any] = s3.list_objects_v2(**args)
    return page


def delete_unreferenced(conn: Any, s3: Any, bucket: str, now: datetime, grace_seconds: float,
                        batch: int = 500) -> list[str]:
    """Remove the due candidates from S3 (see the module's text); returns the keys removed. Each
    batch is one transaction whose candidate rows are locked (``SKIP LOCKED``: two runs share the
    work); a run stopped between S3 and the commit leaves the rows, and deleting a missing key
    succeeds, so the next run finishes it. Blocks on PostgreSQL and S3; raises like above."""
    cutoff = now - timedelta(seconds=grace_seconds)
    removed: list[str] = []
    while True:
        before = len(removed)
        with conn.transaction(), conn.cursor() as cur:
            due = [r[0] for r in cur.execute(_DUE, {"cutoff": cutoff, "batch": batch})]
            orphans = [r[0] for r in cur.execute(_STILL_UNREFERENCED, (due,))] if due else []
            for key in orphans:
                if _written_since(s3, bucket, key, cutoff):
                    continue  # written again for mail in flight: not an orphan now; a later listing notes it anew
                with s3_boundary():
                    s3.delete_object(Bucket=bucket, Key=key)
                removed.append(key)
            cur.execute("DELETE FROM retention_candidates WHERE object_key = ANY(%s::text[])", (due,))
        metrics.STORAGE_RETENTION_DELETIONS.labels(kind="object").inc(len(removed) - before)
        if len(due) < batch:
            return removed


def _written_since(s3: Any, bucket: str, key: str, cutoff: datetime) -> bool:
    """True when the object's bytes were (re)written after ``cutoff``; False when it is gone."""
    with s3_boundary():
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
    modified: datetime = head["LastModified"]
    return modified >= cutoff
