"""Retention of objects of mail never stored (issue 14), against the real PostgreSQL and S3: the
attachment of an email the matcher skipped and the claim-checked raw message of a dead-lettered one
are removed once the grace period is over and not before; an object a stored email references stays.

Each test lists a bucket of its own: the sweep lists whole prefixes, and the stack's bucket holds
other tests' objects, which this test's database does not reference."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from mailpipe.common.messages import Attachment, MatchedEmail
from mailpipe.common.objects import put_content
from mailpipe.storage.repository import save_matched
from mailpipe.storage.retention import run_retention
from mailpipe.storage.settings import StorageOptions
from mailpipe.storage.stage import StoreStage
from mailpipe.storage.unreferenced import SweepPolicy
from pydantic import ValidationError

from tests.conftest import stack_s3
from tests.integration.test_storage_retention import exists
from tests.integration.test_storage_store import count, parsed, record

GRACE = timedelta(days=40)
SWEEP = SweepPolicy(grace_seconds=GRACE.total_seconds())


@pytest.fixture
def s3(unique: str) -> Iterator[tuple[Any, str]]:
    client, _ = stack_s3()
    bucket = f"unref-{unique}"
    client.create_bucket(Bucket=bucket)
    yield client, bucket
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    client.delete_bucket(Bucket=bucket)


def attachment(key: str) -> Attachment:
    return Attachment(filename="offer.pdf", content_type="application/pdf", size_bytes=1,
                      sha256=key.rsplit("/", 1)[-1], object_key=key)


def retention(dsn: str, s3: tuple[Any, str], now: datetime, sweep: SweepPolicy = SWEEP) -> list[str]:
    client, bucket = s3
    with psycopg.connect(dsn, autocommit=True) as conn:
        return run_retention(conn, client, bucket, {}, now, sweep=sweep).object_keys


def skip_through_storage(dsn: str, matched: MatchedEmail, at: datetime) -> None:
    """What storage does with a skipped email: nothing stored (the stage's real path)."""
    stage = StoreStage(lambda: psycopg.connect(dsn, autocommit=True))
    try:
        stage.handle(record(matched, 0, at))
        stage.durable()
    finally:
        stage.close()


@pytest.mark.postgres
@pytest.mark.s3
def test_skipped_and_dead_lettered_objects_go_after_the_grace_period(
        pg_dsn: str, s3: tuple[Any, str], unique: str) -> None:
    client, bucket = s3
    now = datetime.now(UTC)
    att_key = put_content(client, bucket, "att", f"skipped attachment {unique}".encode())  # the parser's write
    raw_key = put_content(client, bucket, "raw", f"dead letter {unique}".encode(), check_exists=False)  # fetcher's
    skipped = MatchedEmail(email=parsed(1, "box", 1, [attachment(att_key)]), skipped="filter:newsletters")
    skip_through_storage(pg_dsn, skipped, now)
    assert count(pg_dsn, "SELECT count(*) FROM emails") == 0  # referenced by no row: retention never saw it

    assert retention(pg_dsn, s3, now) == []  # noted, not deleted
    assert retention(pg_dsn, s3, now + GRACE - timedelta(hours=1)) == []  # a replay may still need them
    assert exists(client, bucket, att_key) and exists(client, bucket, raw_key)
    assert sorted(retention(pg_dsn, s3, now + GRACE + timedelta(hours=1))) == sorted([att_key, raw_key])
    assert not exists(client, bucket, att_key) and not exists(client, bucket, raw_key)
    assert count(pg_dsn, "SELECT count(*) FROM retention_candidates") == 0


@pytest.mark.postgres
@pytest.mark.s3
def test_an_object_a_stored_email_references_is_kept(pg_dsn: str, s3: tuple[Any, str], unique: str) -> None:
    client, bucket = s3
    now = datetime.now(UTC)
    shared = put_content(client, bucket, "att", f"shared {unique}".encode())
    late = put_content(client, bucket, "att", f"late {unique}".encode())
    skip_through_storage(pg_dsn, MatchedEmail(email=parsed(1, "box", 1, [attachment(shared), attachment(late)]),
                                              skipped="task_only"), now)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # the same attachment in an email that is stored
        save_matched(conn, MatchedEmail(email=parsed(2, "box", 2, [attachment(shared)])), now)

    assert retention(pg_dsn, s3, now) == []
    assert count(pg_dsn, "SELECT count(*) FROM retention_candidates") == 1  # only `late` is unreferenced
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # referenced by a new email within the grace period
        save_matched(conn, MatchedEmail(email=parsed(3, "box", 3, [attachment(late)])), now)
    assert retention(pg_dsn, s3, now + GRACE + timedelta(hours=1)) == []
    assert exists(client, bucket, shared) and exists(client, bucket, late)
    assert count(pg_dsn, "SELECT count(*) FROM retention_candidates") == 0


@pytest.mark.postgres
@pytest.mark.s3
def test_an_object_written_again_after_it_was_noted_is_kept(pg_dsn: str, s3: tuple[Any, str],
                                                            unique: str) -> None:
    """The fetcher writes a claim-checked raw message unconditionally: bytes written after the
    candidate was noted belong to mail in flight."""
    client, bucket = s3
    now = datetime.now(UTC)
    key = put_content(client, bucket, "raw", f"fetched again {unique}".encode(), check_exists=False)
    assert retention(pg_dsn, s3, now - timedelta(hours=2)) == []  # noted two hours before its last write
    assert retention(pg_dsn, s3, now - timedelta(hours=1) + GRACE) == []  # due, but written since the cutoff
    assert exists(client, bucket, key)
    assert count(pg_dsn, "SELECT count(*) FROM retention_candidates") == 0  # forgotten; a later listing notes it


@pytest.mark.postgres
@pytest.mark.s3
def test_the_listing_is_paged_and_resumes(pg_dsn: str, s3: tuple[Any, str], unique: str) -> None:
    client, bucket = s3
    now = datetime.now(UTC)
    keys = sorted(put_content(client, bucket, "raw", f"{unique} {n}".encode()) for n in range(3))
    one_page = SweepPolicy(grace_seconds=GRACE.total_seconds(), pages=1, page_size=2)
    retention(pg_dsn, s3, now, one_page)
    assert count(pg_dsn, "SELECT count(*) FROM retention_candidates") == 2
    assert count(pg_dsn, "SELECT count(*) FROM retention_sweep WHERE prefix = 'raw/' AND after_key = %s",
                 keys[1]) == 1
    retention(pg_dsn, s3, now + timedelta(minutes=1), one_page)  # goes on after keys[1], then starts over
    assert count(pg_dsn, "SELECT count(*) FROM retention_candidates") == 3
    assert count(pg_dsn, "SELECT count(*) FROM retention_sweep WHERE after_key = ''") == 3
    assert sorted(retention(pg_dsn, s3, now + GRACE + timedelta(hours=1), one_page)) == keys


def test_the_grace_period_must_outlive_dead_letters() -> None:
    with pytest.raises(ValidationError, match="unreferenced_grace_seconds"):
        StorageOptions(unreferenced_grace_seconds=7 * 24 * 3600)
    assert StorageOptions().unreferenced_grace_seconds == GRACE.total_seconds()
