"""``/healthz`` and ``/readyz`` of ``mailpipe emails serve``, on the API's own port (the consumer
services serve theirs from ``common.health``; the same ``Health`` state decides here).

Liveness never touches PostgreSQL: a database outage must not get the pods restarted. Readiness
is the database answering ``SELECT 1`` within a short bound, and is off for good once the drain
has begun, so Kubernetes stops routing to a pod that is shutting down. No answer carries the DSN,
a host or a password: the reason names the error class, the details go to the log (redacted)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg

from ..common import clients
from ..common.adapters.postgres_errors import TRANSIENT, kind_of, translate
from ..common.health import Health
from ..common.settings import PostgresSettings

log = logging.getLogger(__name__)

_STATUS = {"type": "object", "required": ["status"], "properties": {
    "status": {"type": "string"}, "reason": {"type": "string"}}}
PATHS: dict[str, Any] = {
    "/healthz": {"get": {
        "summary": "Liveness: the process serves requests (PostgreSQL is not asked); no token needed",
        "security": [],
        "responses": {
            "200": {"description": "alive: {\"status\": \"ok\"}",
                    "content": {"application/json": {"schema": _STATUS}}},
            "503": {"description": "the accept loop stalled: {\"status\": \"stalled\"}",
                    "content": {"application/json": {"schema": _STATUS}}}}}},
    "/readyz": {"get": {
        "summary": "Readiness: PostgreSQL answers a trivial query in time and no drain has begun; no token needed",
        "security": [],
        "responses": {
            "200": {"description": "ready: {\"status\": \"ready\"}",
                    "content": {"application/json": {"schema": _STATUS}}},
            "503": {"description": "not ready: {\"status\": \"draining\"} after SIGTERM, or "
                                   "{\"status\": \"not ready\", \"reason\": ...} when PostgreSQL does not answer",
                    "content": {"application/json": {"schema": _STATUS}}}}}},
}


def liveness(health: Health) -> tuple[int, dict[str, str]]:
    """The status code and body of ``/healthz``. Pure, never blocks."""
    return (200, {"status": "ok"}) if health.alive else (503, {"status": "stalled"})


def readiness(health: Health, draining: bool, check: Callable[[], None]) -> tuple[int, dict[str, str]]:
    """The status code and body of ``/readyz``: 503 ``draining`` once the drain has begun, else
    ``check()`` (blocks at most its own bound) decides; a psycopg error is a 503 with a reason
    naming only its class. Other exceptions propagate (a bug: logged, the connection closed)."""
    if draining:
        return 503, {"status": "draining"}
    if not health.alive:
        return 503, {"status": "not ready", "reason": "the accept loop stalled"}
    try:
        check()
    except psycopg.Error as exc:
        kind = "unavailable" if kind_of(exc) == TRANSIENT else "refused the check"
        log.warning("emails API: not ready", extra={"error": type(exc).__name__, "cause": str(translate(exc))})
        return 503, {"status": "not ready", "reason": f"PostgreSQL {kind} ({type(exc).__name__})"}
    return 200, {"status": "ready"}


def postgres_check(settings: PostgresSettings, timeout_seconds: int) -> Callable[[], None]:
    """A readiness check: connect (within ``timeout_seconds``) and run ``SELECT 1`` under a
    statement timeout of the same length. Raises psycopg errors."""
    bounded = settings.model_copy(update={"connect_timeout_seconds": timeout_seconds})

    def check() -> None:
        with clients.connect_postgres(bounded, autocommit=True) as conn:
            conn.execute(f"SET statement_timeout = {int(timeout_seconds * 1000)}")
            conn.execute("SELECT 1")

    return check
