"""The sending stage: one request at a time, recorded in the ledger before anything is sent.

A new request is checked (loop protection and rate limits for autoresponses, the mailbox's
sharing for CRM mail), composed, written to the ledger under a lease and sent. A request the
ledger already knows is a replay: sent, suppressed, deferred and held ones are left alone (the
retry loop owns the last two); one whose lease expired while being sent is sent again with the
same bytes (a crash between the server's acceptance and the ledger's record of it: the only
window for a second copy, which then has the same Message-ID); a refused one is dead-lettered
again, or composed and sent anew when it comes back from ``mailpipe dlq replay``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import errors
from typing import Any

from ..common import metrics
from ..common.errors import PoisonMessage
from ..common.messages import Autoreply, OutboundMail
from ..common.runtime.dlq import REPLAYED_FROM
from ..common.runtime.loop import Stage
from ..common.runtime.ports import Output, Record
from ..common.secretbox import SealedBox
from . import accounts, ledger, requests
from .compose import Composed, Signature, compose_autoreply, compose_outbound
from .delivery import Deliverer, Result, refused
from .settings import SenderOptions


class Composer:
    """Composes a request for its mailbox as configured now (From, signature, Reply-To)."""

    def __init__(self, opts: SenderOptions, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.opts, self.clock = opts, clock

    def compose(self, request: requests.Request, account: accounts.SendingAccount) -> Composed:
        """The message for the mailbox as configured now; PoisonMessage("message_unsendable") for
        content no SMTP message can carry (an address or header the email package refuses)."""
        try:
            return self._compose(request, account)
        except (ValueError, TypeError, IndexError, errors.MessageError) as exc:
            raise PoisonMessage("message_unsendable", f"{type(exc).__name__}: {exc}", expected=True) from None

    def _compose(self, request: requests.Request, account: accounts.SendingAccount) -> Composed:
        name = account.mailbox.name
        payload = request.payload
        if isinstance(payload, Autoreply):
            return compose_autoreply(payload, request.outbound_id, account.from_address, name, self.clock())
        reply_to = account.mailbox.address if payload.case_id else None  # reference 001: the group address
        return compose_outbound(payload, account.from_address, name, reply_to,
                                self._signature(account) if payload.signature else None, self.clock(),
                                account.on_behalf_of)

    def _signature(self, account: accounts.SendingAccount) -> Signature | None:
        options = account.mailbox.sending
        if options.signature == "custom":
            return Signature(options.signature_text, options.signature_html)
        if options.signature == "central" and (self.opts.central_signature_text or self.opts.central_signature_html):
            return Signature(self.opts.central_signature_text, self.opts.central_signature_html)
        return None


class SendStage(Stage):
    """Consumes ``mail.autoreply`` and ``mail.outbound``; produces nothing but dead letters."""

    name = "sender"

    def __init__(self, connect: Callable[[], Any], box: SealedBox, opts: SenderOptions,
                 composer: Composer | None = None) -> None:
        self._connect, self.box, self.opts = connect, box, opts
        self.composer = composer or Composer(opts)
        self.deliverer = Deliverer(box, opts)
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def handle(self, record: Record) -> list[Output]:
        request = requests.decode(record.value)
        replayed = record.header(REPLAYED_FROM)
        source = ledger.Source(record.topic, record.partition, record.offset, record.key, record.value or b"",
                               replayed.decode() if replayed else None)
        row = ledger.get(self.conn, request.outbound_id)
        if row is None:
            return self._first(request, source)
        if row.status == "sending" and row.lease_expired:
            if ledger.lease(self.conn, row.outbound_id, self.opts.lease_for(len(row.recipients))):
                self._finish(ledger.get(self.conn, row.outbound_id))
        elif row.status == "refused":
            if source.replayed_from is None or source.replayed_from == row.source.replayed_from:
                # the same record again (a crash before its commit): its dead letter may not have been kept
                reason, _, detail = (row.reason or "smtp_refused: refused").partition(": ")
                raise PoisonMessage(reason, detail, expected=True)
            try:
                account = self._account(request)
            except accounts.UnknownMailbox:
                raise PoisonMessage("unknown_mailbox", f"no account {request.mailbox_id!r}") from None
            except accounts.CannotSend as exc:
                raise PoisonMessage("mailbox_cannot_send", f"{exc.field}: {exc.reason}") from None
            composed = self.composer.compose(request, account)
            if ledger.lease(self.conn, row.outbound_id, self.opts.lease_for(len(composed.recipients)), composed,
                            source):
                self._finish(ledger.get(self.conn, row.outbound_id), account)
        return []

    def _first(self, request: requests.Request, source: ledger.Source) -> list[Output]:
        suppressed = self._suppressed(request)
        if suppressed is not None:  # recorded whatever the mailbox's state, so a replay stays quiet
            if self._insert(request, _unsent(request), source, "suppressed", suppressed):
                metrics.SENDER_SUPPRESSED.labels(reason=suppressed).inc()
            return []
        try:
            account = self._account(request)
        except accounts.UnknownMailbox:  # removed, or not added yet: held until it is, or it expires
            self._hold_uncomposed(request, source, "mailbox_id", "no account has this id", stop=False)
            return []
        except accounts.CannotSend as exc:
            permitted(request, exc.mailbox)  # held mail is sent later: who asked is checked now
            self._hold_uncomposed(request, source, exc.field, exc.reason, stop=True)
            return []
        composed = self.composer.compose(request, account)
        stop = ledger.stopped(self.conn, request.mailbox_id)
        if stop is not None:  # the mailbox's sending is stopped: nothing is tried until an account changes
            if self._insert(request, composed, source, "held", f"{stop[0]}: {stop[1]}"):
                metrics.SENDER_HELD.labels(reason=stop[0]).inc()
            return []
        retry_at = ledger.backing_off(self.conn, request.mailbox_id)
        if retry_at is not None:  # not tried now: it would wait out the timeouts the last send just did
            if self._insert(request, composed, source, "deferred", "connection: the mailbox's server is "
                            "unreachable; tried again with its other mail", not_before=retry_at):
                metrics.SENDER_DEFERRED.labels(reason="server_backing_off").inc()
            return []
        if self._insert(request, composed, source, "sending", None,
                        lease_seconds=self.opts.lease_for(len(composed.recipients))):
            self._finish(ledger.get(self.conn, request.outbound_id), account)
        return []

    def _insert(self, request: requests.Request, composed: Composed, source: ledger.Source, status: str,
                reason: str | None, lease_seconds: float = 0, not_before: datetime | None = None) -> bool:
        return ledger.insert(self.conn, request.outbound_id, request.mailbox_id, request.kind, composed, source,
                             status, reason, lease_seconds, not_before)

    def _hold_uncomposed(self, request: requests.Request, source: ledger.Source, field: str, why: str,
                         stop: bool) -> None:
        """Keep a request its mailbox cannot send now (composed when it can); ``stop``: stop the
        mailbox's sending too, naming the field (a mailbox without an account is only retried)."""
        # a stopped mailbox's mail waits for the stop to lift; the rest is looked at again after a while
        not_before = None if stop else datetime.now(UTC) + timedelta(seconds=self.opts.backoff_base_seconds)
        if self._insert(request, _unsent(request), source, "held", f"{field}: {why}", not_before=not_before):
            if stop:
                ledger.stop_mailbox(self.conn, request.mailbox_id, field, why, accounts.latest_change(self.conn))
            metrics.SENDER_HELD.labels(reason=field).inc()

    def _account(self, request: requests.Request) -> accounts.SendingAccount:
        """The mailbox's setup; PoisonMessage for a sender the mailbox does not share with
        (replayable once it does); UnknownMailbox and CannotSend propagate."""
        account = accounts.load(self.conn, self.box, request.mailbox_id)
        permitted(request, account.mailbox)
        return account

    def _suppressed(self, request: requests.Request) -> str | None:
        payload = request.payload
        if not isinstance(payload, Autoreply):
            return None
        reason = requests.loop_reason(payload, accounts.own_addresses(self.conn))
        if reason is not None:
            return reason
        to = payload.to.address
        window = ledger.asked_since(self.conn, payload.mailbox_id, to, requests.AUTOMATIC,
                                   self.opts.autoreply_window_seconds)
        period = ledger.asked_since(self.conn, payload.mailbox_id, to, ("out_of_office",),
                                   payload.once_per_seconds) if payload.once_per_seconds else 0
        return requests.limit_reason(payload, window, self.opts.autoreply_max_per_window, period)

    def _finish(self, row: ledger.Row | None, account: accounts.SendingAccount | None = None) -> None:
        """Send the leased row (with the account just loaded to compose it, if any); a refusal is
        recorded and raised as poison (dead-lettered)."""
        if row is None:
            return
        result: Result = self.deliverer.attempt(self.conn, row, account)
        if result.status == "refused":
            refused(self.conn, row, result)
            # a server's answer to this message: many of them (a mailbox's From refused) must not
            # stop the sender for every mailbox on the dead-letter ratio
            raise PoisonMessage(result.reason, result.detail, expected=True)


def permitted(request: requests.Request, mailbox: accounts.StoredSending) -> None:
    """PoisonMessage("not_permitted") unless the CRM user behind ``request`` may send from the
    mailbox: its owner, or a user or team it is shared with (references 001, 003)."""
    payload = request.payload
    if isinstance(payload, OutboundMail) and payload.requested_by is not None:
        who = payload.requested_by
        if not mailbox.sending.may_send(who.user_id, who.team_ids, mailbox.options.owner_user):
            raise PoisonMessage("not_permitted", f"user {who.user_id} may not send from {request.mailbox_id} "
                                "(not its owner, and it is not shared with the user or the user's teams)",
                                expected=True)


def _unsent(request: requests.Request) -> Composed:
    """The ledger's stand-in for a message not composed (held before it could be, or suppressed):
    no bytes, and the first recipient the rate limits count by."""
    payload = request.payload
    return Composed(b"", "", "", [payload.to.address if isinstance(payload, Autoreply) else payload.to[0].address])
