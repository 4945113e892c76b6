"""Content-addressed objects in S3: the key is the SHA-256 of the bytes, so writes are idempotent."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from .adapters.s3_errors import s3_boundary
from .identity import object_key


def put_content(s3: Any, bucket: str, kind: str, data: bytes, sha256_hex: str | None = None,
                check_exists: bool = True) -> str:
    """Store ``data`` under its content key (``sha256_hex`` when the caller already hashed it);
    return the key. With ``check_exists`` an existing object is not written again (saves the upload
    when the same bytes are common, like attachments); without, the PUT is unconditional (saves a
    round trip when they are unique, like whole messages): either way the result is the same object.
    Blocks on the network; raises TransientError, DependencyConfigError or PoisonMessage
    (``adapters.s3_errors``)."""
    key = object_key(kind, sha256_hex or hashlib.sha256(data).hexdigest())
    if check_exists:
        put_at(s3, bucket, key, data)
    else:
        with s3_boundary():
            s3.put_object(Bucket=bucket, Key=key, Body=data)
    return key


REFRESH_AFTER = timedelta(days=1)


def put_at(s3: Any, bucket: str, key: str, data: bytes, refresh_after: timedelta = REFRESH_AFTER) -> bool:
    """Store ``data`` under ``key`` (already its content key) unless an object is there; True when
    written. A retry or a second email with the same bytes writes nothing, unless the object there
    was written more than ``refresh_after`` ago: then it is written again, so storage's sweep of
    unreferenced objects (which spares objects written after its cutoff) cannot delete bytes a new
    email is about to reference. Blocks on the network; raises like ``put_content``."""
    with s3_boundary():
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
            written = head.get("LastModified")
            if written is None or datetime.now(UTC) - written < refresh_after:
                return False
        except s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    return True


def get_content(s3: Any, bucket: str, key: str) -> bytes:
    """Read an object; raises KeyError when it does not exist, else like ``put_content``."""
    with s3_boundary():
        try:
            return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey as exc:
            raise KeyError(key) from exc


def check_bucket(s3: Any, bucket: str) -> None:
    """Fail at start, naming the variable, when the bucket is missing or the credentials are
    refused. S3 being away is only logged: the stage's own retries deal with it, and a storage
    stage can write its rows meanwhile. Blocks on the network; raises DependencyConfigError (a
    HEAD has no error body, so a 404 here means the bucket, not an object)."""
    import logging

    from botocore.exceptions import ClientError

    from .adapters.s3_errors import BUCKET
    from .errors import DependencyConfigError, TransientError

    try:
        with s3_boundary():
            try:
                s3.head_bucket(Bucket=bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
                    raise DependencyConfigError("s3", (BUCKET,), f"no bucket named {bucket!r}") from exc
                raise
    except TransientError as exc:
        logging.getLogger(__name__).warning("S3 did not answer at start; carrying on",
                                            extra={"error": str(exc)})
