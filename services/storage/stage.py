"""StoreStage: a ``mail.matched`` record in, rows in PostgreSQL, nothing produced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from ..common import metrics
from ..common.errors import PoisonMessage
from ..common.messages import MatchedEnvelope
from ..common.runtime.ports import Output, Record
from .repository import save_matched


class StoreStage:
    """Writes each matched email; the runtime commits the offset only after the transaction."""

    name = "storage"

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._conn: Any = None

    def handle(self, record: Record) -> list[Output]:
        try:
            matched = MatchedEnvelope.model_validate_json(record.value or b"").payload
        except ValidationError as exc:
            raise PoisonMessage("invalid_envelope", str(exc)[:500]) from exc
        if matched.skipped:
            return []  # the matcher skipped it (a filter, "only mails with task association"): not imported
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        try:
            save_matched(self._conn, matched)
        except Exception:
            # A broken connection cannot be reused; the retry reconnects.
            self._conn.close()
            self._conn = None
            raise
        metrics.EMAILS_STORED.inc()
        return []
