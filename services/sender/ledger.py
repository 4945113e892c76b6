"""The send ledger in PostgreSQL (``schemas/postgres/030_sender.sql``): one row per message, so
nothing is sent twice; each mailbox's sending state; the copies waiting for the Sent folder.

Every function takes an autocommit psycopg connection and blocks on it; psycopg errors propagate
(the runtime's table calls them transient or configuration).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .compose import Composed


@dataclass(frozen=True)
class Source:
    """The request a row came from (kept so a retry can dead-letter it as the stage would)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    replayed_from: str | None = None


@dataclass(frozen=True)
class Row:
    """A ledger row as the sender acts on it."""

    outbound_id: uuid.UUID
    mailbox_id: str
    kind: str
    status: str
    reason: str | None
    attempts: int
    lease_expired: bool
    envelope_from: str
    recipients: list[str]
    message: bytes
    source: Source
    created_at: datetime


_COLUMNS = ("outbound_id, mailbox_id, kind, status, reason, attempts, coalesce(lease_until < now(), true), "
            "envelope_from, recipients, message, source_topic, source_partition, source_offset, source_key, "
            "source_value, replayed_from, created_at")


def _row(r: Any) -> Row:
    source = Source(r[10], r[11], r[12], bytes(r[13]) if r[13] is not None else None, bytes(r[14]), r[15])
    return Row(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], list(r[8]), bytes(r[9]), source, r[16])


def get(conn: Any, outbound_id: uuid.UUID) -> Row | None:
    found = conn.execute(f"SELECT {_COLUMNS} FROM outbound_sends WHERE outbound_id = %s", (outbound_id,)).fetchone()
    return _row(found) if found else None


def insert(conn: Any, outbound_id: uuid.UUID, mailbox_id: str, kind: str, composed: Composed, source: Source,
           status: str, reason: str | None, lease_seconds: float = 0, not_before: datetime | None = None) -> bool:
    """Record a new message: leased for ``lease_seconds`` (``status`` sending) or settled at once
    (held, deferred, suppressed), looked at again from ``not_before`` (default now). False when
    the id was there already (a replay): nothing changes then."""
    sending = status == "sending"
    cur = conn.execute(
        "INSERT INTO outbound_sends (outbound_id, mailbox_id, kind, recipient, message_id, status, reason, "
        "attempts, lease_until, next_attempt_at, envelope_from, recipients, message, source_topic, source_partition, "
        "source_offset, source_key, source_value, replayed_from) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
        "CASE WHEN %s THEN now() + make_interval(secs => %s) END, coalesce(%s, now()), %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s) ON CONFLICT (outbound_id) DO NOTHING",
        (outbound_id, mailbox_id, kind, composed.recipient, composed.message_id, status, reason,
         1 if sending else 0, sending, lease_seconds, not_before, composed.envelope_from, composed.recipients,
         composed.message, source.topic, source.partition, source.offset, source.key, source.value,
         source.replayed_from))
    return bool(cur.rowcount)


def lease(conn: Any, outbound_id: uuid.UUID, lease_seconds: float, composed: Composed | None = None,
          replay: Source | None = None) -> bool:
    """Take the row for one send attempt unless it is sent, or being sent under a live lease by
    someone else; ``composed`` replaces the bytes (a message never accepted, composed anew) and
    ``replay`` the request it came from (``mailpipe dlq replay`` sent it back)."""
    cur = conn.execute(
        "UPDATE outbound_sends SET status = 'sending', attempts = attempts + 1, "
        "lease_until = now() + make_interval(secs => %s), message = coalesce(%s, message), "
        "envelope_from = coalesce(%s, envelope_from), recipients = coalesce(%s, recipients), "
        "message_id = coalesce(%s, message_id), created_at = CASE WHEN %s THEN now() ELSE created_at END, "
        "replayed_from = coalesce(%s, replayed_from), source_partition = coalesce(%s, source_partition), "
        "source_offset = coalesce(%s, source_offset) "
        "WHERE outbound_id = %s AND status <> 'sent' AND (status <> 'sending' OR lease_until < now())",
        (lease_seconds, composed.message if composed else None, composed.envelope_from if composed else None,
         composed.recipients if composed else None, composed.message_id if composed else None, replay is not None,
         replay.replayed_from if replay else None,
         replay.partition if replay else None, replay.offset if replay else None, outbound_id))
    return bool(cur.rowcount)


def store_message(conn: Any, outbound_id: uuid.UUID, composed: Composed) -> None:
    """The bytes and envelope of a row composed only now (it was held before it could be); the
    row is leased to the caller."""
    conn.execute("UPDATE outbound_sends SET message = %s, envelope_from = %s, recipients = %s, message_id = %s "
                 "WHERE outbound_id = %s AND status = 'sending'",
                 (composed.message, composed.envelope_from, composed.recipients, composed.message_id, outbound_id))


def mark_sent(conn: Any, row: Row, refused_recipients: dict[str, str]) -> None:
    """The server accepted it: never sent again. In the same transaction: its Sent-folder copy is
    queued, the mailbox's counters move, and the fetcher is asked to run the mailbox soon (it
    appends the copy on its next run)."""
    note = "; ".join(f"{a}: {r}" for a, r in refused_recipients.items()) or None
    with conn.transaction():
        # a send that went through also ends a stop (the account was fixed, or an operator resumed it)
        conn.execute("INSERT INTO sender_mailboxes (mailbox_id, last_sent_at, sent_count) VALUES (%s, now(), 1) "
                     "ON CONFLICT (mailbox_id) DO UPDATE SET last_sent_at = now(), sent_count = "
                     "sender_mailboxes.sent_count + 1, stopped_reason = NULL, stopped_field = NULL, "
                     "stopped_at = NULL", (row.mailbox_id,))
        # whatever became of its lease meanwhile: the server has it, so nothing may send it again
        conn.execute("UPDATE outbound_sends SET status = 'sent', sent_at = now(), lease_until = NULL, "
                     "reason = %s WHERE outbound_id = %s", (note, row.outbound_id))
        conn.execute("INSERT INTO sent_copies (outbound_id, mailbox_id) VALUES (%s, %s) "
                     "ON CONFLICT (outbound_id) DO NOTHING", (row.outbound_id, row.mailbox_id))
        conn.execute("UPDATE mailbox_schedule SET next_run_at = now() WHERE mailbox_id = %s AND next_run_at > now()",
                     (row.mailbox_id,))


def settle(conn: Any, outbound_id: uuid.UUID, status: str, reason: str | None,
           retry_in_seconds: float | None = None, attempt: int | None = None) -> bool:
    """Record an outcome other than sent: deferred (with the next attempt's time), held, refused.
    ``attempt``: the outcome of that leased attempt, recorded only while the row is still that
    attempt's (a slow attempt whose lease ran out must not overwrite a later one's sent). False
    when it was not recorded."""
    fence = " AND status = 'sending' AND attempts = %s" if attempt is not None else ""
    cur = conn.execute("UPDATE outbound_sends SET status = %s, reason = %s, lease_until = NULL, "
                       "next_attempt_at = now() + make_interval(secs => %s) WHERE outbound_id = %s" + fence,
                       (status, reason, retry_in_seconds or 0, outbound_id,
                        *((attempt,) if attempt is not None else ())))
    return bool(cur.rowcount)


def asked_since(conn: Any, mailbox_id: str, recipient: str, kinds: tuple[str, ...], seconds: float) -> int:
    """How many messages of ``kinds`` the mailbox has sent, or has on its way, to ``recipient``
    in the last ``seconds`` (by when they were asked for): mail deferred or held during an outage
    counts, so the limits hold when it all goes out at once."""
    row = conn.execute("SELECT count(*) FROM outbound_sends WHERE status IN ('sending', 'sent', 'deferred', 'held') "
                       "AND mailbox_id = %s AND recipient = %s AND kind = ANY(%s) "
                       "AND created_at > now() - make_interval(secs => %s)",
                       (mailbox_id, recipient.lower(), list(kinds), seconds)).fetchone()
    return int(row[0])


def backing_off(conn: Any, mailbox_id: str) -> datetime | None:
    """When the mailbox's server is tried again, while a send of it is deferred for a connection
    failure or a timeout (its server unreachable: each new message would wait out the timeouts
    again, holding up the other mailboxes of its partition); None otherwise."""
    row = conn.execute("SELECT max(next_attempt_at) FROM outbound_sends WHERE mailbox_id = %s AND status = 'deferred' "
                       "AND next_attempt_at > now() AND (reason LIKE 'connection: %%' OR reason LIKE 'timeout: %%')",
                       (mailbox_id,)).fetchone()
    return row[0] if row else None


def stop_mailbox(conn: Any, mailbox_id: str, field: str, reason: str, account_updated: datetime | None) -> None:
    """Stop the mailbox's sending until its account changes or an operator resumes it."""
    conn.execute("INSERT INTO sender_mailboxes (mailbox_id, stopped_reason, stopped_field, stopped_at, "
                 "account_updated) VALUES (%s, %s, %s, now(), %s) ON CONFLICT (mailbox_id) DO UPDATE SET "
                 "stopped_reason = EXCLUDED.stopped_reason, stopped_field = EXCLUDED.stopped_field, "
                 "stopped_at = now(), account_updated = EXCLUDED.account_updated",
                 (mailbox_id, reason, field, account_updated))


def stopped(conn: Any, mailbox_id: str) -> tuple[str, str] | None:
    """(field, reason) when the mailbox's sending is stopped and no account has changed since (its
    own or the default outbound account's: any change earns one more try, which stops it again
    if nothing was fixed)."""
    row = conn.execute(
        "SELECT m.stopped_field, m.stopped_reason FROM sender_mailboxes m WHERE m.mailbox_id = %s "
        "AND m.stopped_reason IS NOT NULL AND coalesce((SELECT max(updated_at) FROM mailbox_accounts), '-infinity') "
        "<= coalesce(m.account_updated, 'infinity')", (mailbox_id,)).fetchone()
    return (row[0], row[1]) if row else None


def resume(conn: Any, mailbox_id: str) -> bool:
    """Let the mailbox send again (its held mail goes out on the next retry); True when it was stopped."""
    cur = conn.execute("UPDATE sender_mailboxes SET stopped_reason = NULL, stopped_field = NULL, stopped_at = NULL "
                       "WHERE mailbox_id = %s AND stopped_reason IS NOT NULL", (mailbox_id,))
    return bool(cur.rowcount)


def due(conn: Any, limit: int, give_up_after_hours: float) -> list[uuid.UUID]:
    """Rows to act on now: deferred ones whose time came, sends whose lease expired (a sender
    died mid-send), held ones whose time came and whose mailbox may send again (no stop, or an
    account changed since: the mailbox's own, or the default outbound account it sends through),
    and every unsettled row older than ``give_up_after_hours`` (to be refused as expired, even
    when its mailbox stays stopped)."""
    rows = conn.execute(
        "SELECT s.outbound_id FROM outbound_sends s LEFT JOIN sender_mailboxes m USING (mailbox_id) "
        "WHERE (s.status = 'deferred' AND s.next_attempt_at <= now()) "
        "OR (s.status = 'sending' AND s.lease_until < now()) "
        "OR (s.status = 'held' AND s.next_attempt_at <= now() "
        "    AND (m.stopped_reason IS NULL OR (SELECT max(updated_at) FROM mailbox_accounts) > m.account_updated)) "
        "OR (s.status IN ('deferred', 'held') AND s.created_at < now() - make_interval(secs => %s * 3600)) "
        "ORDER BY s.created_at LIMIT %s", (give_up_after_hours, limit)).fetchall()
    return [r[0] for r in rows]


def mailbox_states(conn: Any) -> list[dict[str, Any]]:
    """Every mailbox that sent or tried to, with its stop reason and its queue (``mailpipe sender
    status``)."""
    rows = conn.execute(
        "SELECT q.mailbox_id, m.stopped_field, m.stopped_reason, m.stopped_at, m.last_sent_at, "
        "coalesce(m.sent_count, 0), q.held, q.deferred FROM ("
        "  SELECT mailbox_id, count(*) FILTER (WHERE status = 'held') AS held, "
        "         count(*) FILTER (WHERE status = 'deferred') AS deferred FROM outbound_sends GROUP BY mailbox_id"
        "  UNION ALL SELECT mailbox_id, 0, 0 FROM sender_mailboxes m0 "
        "  WHERE NOT EXISTS (SELECT 1 FROM outbound_sends s WHERE s.mailbox_id = m0.mailbox_id)"
        ") q LEFT JOIN sender_mailboxes m USING (mailbox_id) ORDER BY q.mailbox_id").fetchall()
    keys = ("mailbox_id", "stopped_field", "stopped_reason", "stopped_at", "last_sent_at", "sent", "held", "deferred")
    return [dict(zip(keys, r, strict=True)) for r in rows]
