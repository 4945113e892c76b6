"""S3 (botocore) exceptions → poison, transient or configuration, and the boundary that applies it.

A ``ClientError`` carries the server's error code and HTTP status; S3-compatible servers agree on
the codes AWS documents, so the table is keyed by code, with the status deciding unknown codes.
Everything else botocore raises is a ``BotoCoreError`` subclass, matched by type.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    IncompleteReadError,
    InvalidRegionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from ..errors import DependencyConfigError, PoisonMessage, TransientError
from ..redact import redact

ENDPOINT, KEY_ID, SECRET = "MAILPIPE_S3__ENDPOINT_URL", "MAILPIPE_S3__ACCESS_KEY_ID", "MAILPIPE_S3__SECRET_ACCESS_KEY"
BUCKET, REGION = "MAILPIPE_S3__BUCKET", "MAILPIPE_S3__REGION"

# The server is away, overloaded or slow, or the bytes were damaged on the way: the same request
# later succeeds.
TRANSIENT_CODES = frozenset({
    "500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
    "RequestTimeTooSkewed", "Throttling", "ThrottlingException", "RequestLimitExceeded", "OperationAborted",
    "BadDigest", "InvalidDigest", "IncompleteBody",
})
# The server refuses who we are or where we write: every request would fail the same way.
CONFIG_CODES: dict[str, tuple[str, ...]] = {
    "403": (KEY_ID, SECRET, BUCKET),
    "AccessDenied": (KEY_ID, SECRET, BUCKET),
    "AllAccessDisabled": (KEY_ID, BUCKET),
    "AccountProblem": (KEY_ID,),
    "InvalidAccessKeyId": (KEY_ID,),
    "SignatureDoesNotMatch": (SECRET,),
    "InvalidToken": (KEY_ID, SECRET),
    "ExpiredToken": (KEY_ID, SECRET),
    "NoSuchBucket": (BUCKET,),
    "InvalidBucketName": (BUCKET,),
    "AuthorizationHeaderMalformed": (REGION,),
    "PermanentRedirect": (ENDPOINT, REGION),
    "301": (ENDPOINT, REGION),
    "NotImplemented": (ENDPOINT,),
}
# One object is wrong and others go through. Objects are content-addressed, so little else can be
# one record's fault: any other 4xx (an Object Lock bucket demanding Content-MD5, a KMS key the
# server cannot use, ...) refuses every record alike and stops the stage as configuration.
POISON_CODES: dict[str, str] = {
    "NoSuchKey": "object_missing",
    "404": "object_missing",
    "EntityTooLarge": "object_too_large",
    "KeyTooLongError": "object_key_too_long",
}


def translate(exc: BaseException) -> PoisonMessage | TransientError | DependencyConfigError | None:
    """The kind of a botocore exception, None for any other exception. Pure."""
    if isinstance(exc, ClientError):
        return _client_error(exc)
    if not isinstance(exc, BotoCoreError):
        return None
    text = redact(str(exc))
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return DependencyConfigError("s3", (KEY_ID, SECRET), text)
    if isinstance(exc, InvalidRegionError):
        return DependencyConfigError("s3", (REGION,), text)
    if isinstance(exc, ParamValidationError):  # a request botocore will never send: a bug, not the record
        return DependencyConfigError("s3", (ENDPOINT,), text)
    if isinstance(exc, ConnectionError | HTTPClientError | IncompleteReadError):
        return TransientError(f"S3 unreachable: {text}", dependency="s3")
    # An unknown botocore failure is not the record's fault: retrying and then stopping loses
    # nothing, where dead-lettering would lose good mail.
    return TransientError(f"S3 failed: {type(exc).__name__}: {text}", dependency="s3")


def _client_error(exc: ClientError) -> PoisonMessage | TransientError | DependencyConfigError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    text = redact(f"{code or status}: {error.get('Message') or exc}")
    if code in TRANSIENT_CODES:
        return TransientError(f"S3 unavailable: {text}", dependency="s3")
    if code in CONFIG_CODES:
        return DependencyConfigError("s3", CONFIG_CODES[code], text)
    if code in POISON_CODES:
        return PoisonMessage(POISON_CODES[code], text)
    if status >= 500 or status in (0, 408, 429):
        return TransientError(f"S3 unavailable: {text}", dependency="s3")
    return DependencyConfigError("s3", (KEY_ID, SECRET, BUCKET) if status in (401, 403) else (ENDPOINT, BUCKET), text)


@contextmanager
def s3_boundary() -> Iterator[None]:
    """Run an S3 call, raising what ``translate`` makes of its botocore exception (the original
    chained as ``__cause__``). Raises PoisonMessage, TransientError or DependencyConfigError."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        kind = translate(exc)
        assert kind is not None  # every botocore exception has a row
        raise kind from exc
