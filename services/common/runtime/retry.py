"""Bounded retry with exponential backoff for transient failures."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import Backpressure, DeadLetterRatioExceeded, PoisonMessage, TransientError
from ..metrics import RETRIES

T = TypeVar("T")
log = logging.getLogger(__name__)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a dependency failure a retry may fix. Library exceptions that adapters
    did not translate are recognised here by type, without importing the libraries eagerly."""
    if isinstance(exc, TransientError | ConnectionError | TimeoutError | socket.timeout):
        return True
    for cls in type(exc).__mro__:
        qual = f"{cls.__module__}.{cls.__name__}"
        if qual in _TRANSIENT_TYPES:
            return True
    return False


_TRANSIENT_TYPES = {
    "psycopg.OperationalError",
    "psycopg.errors.OperationalError",
    "botocore.exceptions.EndpointConnectionError",
    "botocore.exceptions.ConnectionClosedError",
    "botocore.exceptions.ReadTimeoutError",
    "botocore.exceptions.ConnectTimeoutError",
    "kafka.errors.KafkaTimeoutError",
    "kafka.errors.NoBrokersAvailable",
    "kafka.errors.KafkaConnectionError",
}


def call_with_retry(fn: Callable[[], T], *, attempts: int, backoff_seconds: float, backoff_max_seconds: float,
                    stage: str, sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``fn``; on a transient failure wait and try again, ``attempts`` times in all.

    Blocks for the backoff between attempts. Raises TransientError once the attempts are spent;
    PoisonMessage, Backpressure and non-transient exceptions pass through at once.
    """
    delay = backoff_seconds
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (PoisonMessage, Backpressure, DeadLetterRatioExceeded):
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts:
                raise TransientError(f"gave up after {attempts} attempts: {exc!r}") from exc
            RETRIES.labels(stage=stage).inc()
            log.warning("transient failure, retrying", extra={"stage": stage, "attempt": attempt,
                                                             "error": repr(exc), "delay_seconds": delay})
            sleep(delay)
            delay = min(delay * 2, backoff_max_seconds)
    raise AssertionError("unreachable")
