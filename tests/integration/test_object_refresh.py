"""``put_at`` writes content-addressed bytes once, but writes them again when the object there is
old, so storage's sweep of unreferenced objects (which spares objects written after its cutoff)
cannot delete bytes a new email is about to reference. Against the real S3."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from mailpipe.common.objects import put_at

from tests.conftest import stack_s3


@pytest.mark.s3
def test_existing_bytes_are_written_again_only_when_the_object_is_old(unique: str) -> None:
    s3, bucket = stack_s3()
    data = f"refresh {unique}".encode()
    key = f"att/sha256/{hashlib.sha256(data).hexdigest()[:2]}/{hashlib.sha256(data).hexdigest()}"
    assert put_at(s3, bucket, key, data) is True  # new
    assert put_at(s3, bucket, key, data) is False  # there, and fresh: not written again
    assert put_at(s3, bucket, key, data, refresh_after=timedelta(0)) is True  # there, but "old": refreshed
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data  # type: ignore[attr-defined]
