"""One send attempt of a leased ledger row, and its outcome recorded.

The outcome follows the SMTP failure's kind (``common/smtp.py``): accepted → sent (never again);
transient → deferred with backoff, refused once it has waited ``give_up_after_hours``;
permanent → refused (the caller dead-letters it, then records it); configuration → the
mailbox's sending stops with the reason and the field, and its mail is held: other mailboxes go
on. Blocks on PostgreSQL and the SMTP server.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..common import metrics, smtp
from ..common.secretbox import SealedBox
from . import accounts, ledger
from .settings import SenderOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """``status``: sent, deferred, held or refused; ``reason`` a closed-set token; ``detail`` the
    server's words or the cause (never a secret)."""

    status: str
    reason: str = ""
    detail: str = ""


class Deliverer:
    """Sends leased rows through their mailbox's server and records every outcome but refused
    (which the caller records after dead-lettering the request: a crash between the two then
    repeats the dead letter instead of losing it)."""

    def __init__(self, box: SealedBox, opts: SenderOptions) -> None:
        self.box, self.opts = box, opts

    def attempt(self, conn: Any, row: ledger.Row, account: accounts.SendingAccount | None = None) -> Result:
        """Send the leased ``row``; ``account``: the mailbox's setup when the caller just loaded it
        to compose the message (else it is loaded here). Blocks on PostgreSQL and SMTP."""
        stop = ledger.stopped(conn, row.mailbox_id)
        if stop is not None:
            return self._held(conn, row, stop[0], stop[1], None)
        try:
            account = account or accounts.load(conn, self.box, row.mailbox_id)
        except accounts.UnknownMailbox:  # retried (the account may come back) until the row expires
            return self._held(conn, row, "mailbox_id", "no account has this id", None, self.opts.backoff_base_seconds)
        except accounts.CannotSend as exc:
            return self._held(conn, row, exc.field, exc.reason, accounts.latest_change(conn))
        started = time.monotonic()
        try:
            refused = self._send(conn, account, row)
        except smtp.SmtpFailure as failure:
            return self._failed(conn, row, account, failure)
        metrics.SENDER_SEND_SECONDS.observe(time.monotonic() - started)
        ledger.mark_sent(conn, row, refused)
        metrics.SENDER_SENT.labels(kind=row.kind).inc()
        log.info("sent", extra={"mailbox_id": row.mailbox_id, "outbound_id": str(row.outbound_id),
                                "kind": row.kind, "attempt": row.attempts, "recipients": len(row.recipients),
                                "refused_recipients": len(refused),
                                "via_default": account.via_default})
        return Result("sent")

    def _send(self, conn: Any, account: accounts.SendingAccount, row: ledger.Row) -> dict[str, str]:
        secret = account.secret(conn, self.box, self.opts.timeout_seconds)
        client = smtp.open_smtp(account.smtp, account.username, secret, self.opts.timeout_seconds)
        try:
            return smtp.send(client, account.smtp, row.envelope_from, row.recipients, row.message,
                             self.opts.data_timeout_seconds)
        finally:
            smtp.close_quietly(client)

    def _failed(self, conn: Any, row: ledger.Row, account: accounts.SendingAccount,
                failure: smtp.SmtpFailure) -> Result:
        where = {"mailbox_id": row.mailbox_id, "outbound_id": str(row.outbound_id), "reason": failure.reason,
                 "field": failure.field, "code": failure.code, "error": failure.text}
        if failure.kind == "configuration":
            log.warning("mailbox sending stopped", extra=where)
            return self._held(conn, row, failure.field, failure.text, accounts.latest_change(conn))
        if failure.kind == "permanent":
            return Result("refused", "smtp_refused", failure.text)
        if (expired := self.expired(row, failure.text)) is not None:
            return expired
        delay = min(self.opts.backoff_base_seconds * 2 ** max(row.attempts - 1, 0), self.opts.backoff_max_seconds)
        ledger.settle(conn, row.outbound_id, "deferred", f"{failure.reason}: {failure.text}", delay, row.attempts)
        metrics.SENDER_DEFERRED.labels(reason=failure.reason).inc()
        log.info("send deferred", extra={**where, "retry_in_seconds": delay})
        return Result("deferred", failure.reason, failure.text)

    def expired(self, row: ledger.Row, last_error: str) -> Result | None:
        """A refusal when the row has waited longer than ``give_up_after_hours``, else None."""
        age_hours = (datetime.now(UTC) - row.created_at).total_seconds() / 3600
        if age_hours < self.opts.give_up_after_hours:
            return None
        return Result("refused", "expired", f"still not sent after {age_hours:.0f} h: {last_error}")

    def _held(self, conn: Any, row: ledger.Row, field: str, reason: str, account_updated: datetime | None,
              retry_in_seconds: float = 0) -> Result:
        if account_updated is not None:  # a new stop (not one found standing)
            ledger.stop_mailbox(conn, row.mailbox_id, field, reason, account_updated)
        ledger.settle(conn, row.outbound_id, "held", f"{field}: {reason}", retry_in_seconds, row.attempts)
        metrics.SENDER_HELD.labels(reason=field).inc()
        return Result("held", field, reason)


def refused(conn: Any, row: ledger.Row, result: Result) -> None:
    """Record a refusal and count it. The retry loop calls it once its dead letter is acknowledged;
    the stage before the runner dead-letters the record, and a replay of that record finds the row
    refused and dead-letters it again (stage.py), so the dead letter is never lost."""
    ledger.settle(conn, row.outbound_id, "refused", f"{result.reason}: {result.detail}", attempt=row.attempts)
    metrics.SENDER_REFUSED.labels(reason=result.reason).inc()
