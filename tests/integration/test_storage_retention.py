"""Retention against the real PostgreSQL and S3: per-mailbox limits, an email kept while one
mailbox keeps it, a shared attachment object removed only when nothing references it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from mailpipe.common.messages import Attachment, MailboxOptions, MatchedEmail
from mailpipe.common.objects import put_content
from mailpipe.storage.repository import Pending, save_batch, save_matched
from mailpipe.storage.retention import months_before, run_retention

from tests.integration.test_storage_store import count, dump, parsed, s3_client

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OLD, RECENT = NOW - timedelta(days=100), NOW - timedelta(days=10)


def exists(client: Any, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
        return True
    except client.exceptions.ClientError:
        return False


@pytest.fixture
def s3() -> tuple[Any, str]:
    return s3_client()


def test_months_before_clamps_to_the_end_of_the_month() -> None:
    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(2024, 12, 15, tzinfo=UTC)


@pytest.mark.postgres
@pytest.mark.s3
def test_retention_per_mailbox_with_a_shared_attachment(pg_dsn: str, s3: tuple[Any, str], unique: str) -> None:
    client, bucket = s3
    shared_key = put_content(client, bucket, "att", f"shared {unique}".encode())
    own_key = put_content(client, bucket, "att", f"own {unique}".encode())
    shared = Attachment(filename="logo.png", content_type="image/png", size_bytes=1,
                        sha256=shared_key.rsplit("/", 1)[-1], object_key=shared_key)
    own = Attachment(filename="a.pdf", content_type="application/pdf", size_bytes=1,
                     sha256=own_key.rsplit("/", 1)[-1], object_key=own_key)

    def store(n: int, box: str, uid: int, when: datetime, atts: list[Attachment]) -> None:
        email = parsed(n, box, uid, atts).model_copy(update={"date": when, "internal_date": when})
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            save_matched(conn, MatchedEmail(email=email), when)

    store(1, "short", 1, OLD, [shared, own])       # old, only in the short mailbox: goes, with its own file
    store(2, "short", 2, RECENT, [shared])         # recent: stays
    store(3, "short", 3, OLD, [shared])            # old in short, but also seen by keep: stays
    store(3, "keep", 9, OLD, [shared])
    store(4, "attach", 4, OLD, [shared])           # old in a mailbox that drops attachments only
    policies = {"short": MailboxOptions(delete_mails_after_months=2),
                "attach": MailboxOptions(delete_attachments_after_months=1), "keep": MailboxOptions()}

    before = dump(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        dry = run_retention(conn, client, bucket, policies, NOW, dry_run=True)
    assert (dry.sightings, dry.emails, dry.attachments, dry.objects) == (2, 1, 1, 1)
    assert dump(pg_dsn) == before and exists(client, bucket, own_key)

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        report = run_retention(conn, client, bucket, policies, NOW, batch=1)  # batch 1: several rounds
    assert (report.sightings, report.emails, report.attachments, report.object_keys) == (2, 1, 1, [own_key])
    assert count(pg_dsn, "SELECT count(*) FROM emails") == 3
    assert count(pg_dsn, "SELECT count(*) FROM email_sightings WHERE mailbox_id = 'short'") == 1
    assert count(pg_dsn, "SELECT count(*) FROM email_attachments") == 2  # emails 2 and 3 keep the shared file
    assert not exists(client, bucket, own_key)
    assert exists(client, bucket, shared_key)
    assert count(pg_dsn, "SELECT count(*) FROM retention_orphans") == 0

    after = dump(pg_dsn)  # a second run finds nothing more
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        again = run_retention(conn, client, bucket, policies, NOW)
    assert (again.sightings, again.emails, again.attachments, again.objects) == (0, 0, 0, 0)
    assert dump(pg_dsn) == after


@pytest.mark.postgres
def test_an_email_seen_again_while_retention_runs_is_kept(pg_dsn: str) -> None:
    """Retention finds an old email without sightings while storage, not committed yet, adds a new
    sighting to it: retention waits for storage and keeps the email (nothing lost)."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        save_matched(conn, MatchedEmail(email=parsed(1, "short", 1).model_copy(
            update={"date": OLD, "internal_date": OLD})), OLD)
    storage = psycopg.connect(pg_dsn, autocommit=True)
    tx = storage.transaction()
    tx.__enter__()
    save_batch(storage, [Pending(MatchedEmail(email=parsed(1, "other", 5)), RECENT, MailboxOptions())])
    reports: list[Any] = []
    runner = threading.Thread(target=lambda: reports.append(_retain(pg_dsn)))
    runner.start()
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        deadline = time.monotonic() + 30
        while not admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                "AND wait_event_type = 'Lock'").fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, "retention never waited for the storage transaction"
            time.sleep(0.05)
    tx.__exit__(None, None, None)  # storage commits
    storage.close()
    runner.join(30)
    assert (reports[0].sightings, reports[0].emails) == (1, 0)
    assert count(pg_dsn, "SELECT count(*) FROM emails") == 1
    assert count(pg_dsn, "SELECT count(*) FROM email_sightings WHERE mailbox_id = 'other'") == 1


def _retain(dsn: str) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return run_retention(conn, None, "", {"short": MailboxOptions(delete_mails_after_months=2)}, NOW)
