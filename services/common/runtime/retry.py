"""Bounded retry with exponential backoff for transient failures."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from ..adapters import translate
from ..errors import ConfigError, DeadLetterRatioExceeded, PoisonMessage, TransientError
from ..metrics import DEPENDENCY_RETRIES, RETRIES

T = TypeVar("T")
log = logging.getLogger(__name__)


def call_with_retry(fn: Callable[[], T], *, attempts: int, backoff_seconds: float, backoff_max_seconds: float,
                    stage: str, sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``fn``; on a transient failure wait and try again, ``attempts`` times in all.

    Library exceptions are translated by the adapters' tables first. Blocks for the backoff
    between attempts. Raises TransientError once the attempts are spent; PoisonMessage (a library
    error that one record caused, translated), ConfigError (a dependency refusing our
    configuration: no retry helps), DeadLetterRatioExceeded and untranslatable exceptions (bugs)
    at once.
    """
    delay = backoff_seconds
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except DeadLetterRatioExceeded:
            raise
        except Exception as exc:
            kind = translate(exc)
            if kind is None:
                raise
            if kind is not exc and isinstance(kind, PoisonMessage | ConfigError):
                raise kind from exc
            if not isinstance(kind, TransientError):
                raise
            if attempt == attempts:
                raise TransientError(f"gave up after {attempts} attempts: {kind}", dependency=kind.dependency) from exc
            RETRIES.labels(stage=stage).inc()
            DEPENDENCY_RETRIES.labels(stage=stage, dependency=kind.dependency or "unknown").inc()
            log.warning("transient failure, retrying", extra={"stage": stage, "attempt": attempt,
                                                             "error": str(kind), "delay_seconds": delay})
            sleep(delay)
            delay = min(delay * 2, backoff_max_seconds)
    raise AssertionError("unreachable")
