"""``accounts overview`` (reference 000): what the server had on a day, in every read folder, and
what really happened to each message: how it was fetched (published, claim-checked, headers only,
or the server could not deliver it) from the ledger, then where it ended (stored, skipped by the
matcher with the filter's name, dead-lettered with topic, stage and reason, or still on its way)
from ``downstream``. Blocks on IMAP, PostgreSQL and Kafka."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

from ..common.identity import email_id as email_id_of
from ..common.topics import dlq
from . import checkpoint, downstream
from .accounts.ops import Ops
from .checkpoint import Cursor, LedgerRow
from .downstream import DeadLetters, DeadLetterSeen

# Where a message ended (a closed set, in order of precedence: a stored email was stored even if a
# stage dead-lettered it before a replay; the matcher skips only what got past the parser).
FATES = ("stored", "skipped", "dead_lettered", "in_flight", "not_fetched", "not_in_ledger")


@dataclass(frozen=True)
class OverviewRow:
    folder: str
    uid: int
    internal_date: Any
    size: int
    sender: str
    subject: str
    what_happened: str
    fate: str = "not_fetched"
    fetched: str | None = None  # the ledger's outcome: published | claim_checked | headers_only | failed
    fetch_reason: str | None = None
    fetched_at: datetime | None = None
    email_id: str | None = None
    skipped: str | None = None  # the matcher's reason, e.g. filter:mailbox:newsletters
    dead_letters: list[DeadLetterSeen] = field(default_factory=list)


@dataclass(frozen=True)
class Facts:
    """What is known of one message, from the ledger and downstream."""

    ledger: tuple[str, str | None, datetime] | None  # (outcome, reason, fetched_at)
    stored: bool | None  # None: storage's tables are not in this database
    skipped: str | None
    letters: list[DeadLetterSeen]
    beyond_cursor: bool
    raw_dlq: str


def overview(ops: Ops, mailbox_id: str, day: date) -> list[OverviewRow]:
    """One row per message the server had on ``day`` in every read folder."""
    from .tools import imap_of

    rows: list[OverviewRow] = []
    letters: DeadLetters | None = None
    with imap_of(ops, mailbox_id) as src:
        for folder in src.account.sync_folders:
            status = src.examine(folder)
            uids = src.uids_on(day)
            if not uids:
                continue
            if letters is None:  # read once, and only when there is something to place
                letters = downstream.dead_letters(ops.settings.kafka, mailbox_id, ops.settings.fetch.raw_topic)
            facts = facts_of(ops, mailbox_id, folder, status.uidvalidity, uids, letters)
            heads = src.headers(uids)
            rows += [overview_row(folder, info.uid, info.internal_date, info.size, heads.get(info.uid, b""),
                                  facts[info.uid]) for info in src.infos(uids)]
    return rows


def overview_row(folder: str, uid: int, internal_date: datetime | None, size: int, header: bytes,
                 fact: tuple[str | None, Facts], label: str = "") -> OverviewRow:
    """The row of one message: its header block's From and Subject, and what became of it
    (``facts_of``); ``label`` prefixes the text (POP3 names the UIDL). Pure."""
    head = BytesHeaderParser(policy=default_policy).parsebytes(header)
    email_id, f = fact
    fate, text = describe(f)
    return OverviewRow(folder, uid, internal_date, size, str(head.get("From", "")), str(head.get("Subject", "")),
                       label + text, fate, fetched=f.ledger[0] if f.ledger else None,
                       fetch_reason=f.ledger[1] if f.ledger else None, fetched_at=f.ledger[2] if f.ledger else None,
                       email_id=email_id, skipped=f.skipped, dead_letters=f.letters)


def facts_of(ops: Ops, mailbox_id: str, folder: str, uidvalidity: int, uids: list[int],
           letters: DeadLetters) -> dict[int, tuple[str | None, Facts]]:
    """UID → (email_id, facts) for ``uids`` of one folder generation."""
    cursor = checkpoint.load_cursor(ops.conn, mailbox_id, folder)
    ledger = checkpoint.ledger_rows(ops.conn, mailbox_id, folder, uidvalidity)
    stored = downstream.stored(ops.conn, mailbox_id, folder, uidvalidity, uids)
    ids = {uid: _email_id(uid, ledger.get(uid), stored, letters.email_ids.get((folder, uidvalidity, uid)))
           for uid in uids}
    decided = downstream.skipped(ops.conn, mailbox_id, [i for i in ids.values() if i]) or {}
    raw_dlq = dlq(ops.settings.fetch.raw_topic)
    out: dict[int, tuple[str | None, Facts]] = {}
    for uid in uids:
        entry, email_id = ledger.get(uid), ids[uid]
        out[uid] = (email_id, Facts(entry[:3] if entry else None, None if stored is None else uid in stored,
                                    decided.get(email_id) if email_id else None,
                                    letters.by_sighting.get((folder, uidvalidity, uid), []),
                                    _beyond(uid, cursor, uidvalidity), raw_dlq))
    return out


def _email_id(uid: int, entry: LedgerRow | None,
              stored: dict[int, str] | None, from_letter: str | None) -> str | None:
    """Storage's id for the sighting, else a dead letter's, else the one the Message-ID gives."""
    if stored and uid in stored:
        return stored[uid]
    if from_letter:
        return from_letter
    message_id = entry[3] if entry else None
    return str(email_id_of(message_id)) if message_id else None


def _beyond(uid: int, cursor: Cursor | None, uidvalidity: int) -> bool:
    return cursor is None or cursor.uidvalidity != uidvalidity or uid > cursor.last_uid


def describe(f: Facts) -> tuple[str, str]:
    """Pure: the message's fate (one of FATES) and the sentence an operator reads."""
    if f.ledger is None:
        if f.beyond_cursor:
            return "not_fetched", "not fetched yet"
        return "not_in_ledger", ("not in the ledger (older than the resync window after a UIDVALIDITY change, "
                                 "or read before the ledger)")
    outcome, reason, at = f.ledger
    fetched = f"{outcome}{f' ({reason})' if reason else ''} at {at:%Y-%m-%d %H:%M:%S}"
    dead = "; ".join(f"{d.topic} by {d.stage or '?'}: {d.reason or '?'}{' (replayed)' if d.replayed else ''}"
                     for d in f.letters)
    if f.stored:
        return "stored", f"{fetched} → stored" + (f" (dead-lettered before: {dead})" if dead else "")
    if f.skipped:
        return "skipped", f"{fetched} → skipped by the matcher: {f.skipped}"
    if dead:
        return "dead_lettered", f"{fetched} → dead-lettered in {dead}"
    if outcome == "failed":  # the server could not deliver it; its dead letter's retention has passed
        return "dead_lettered", f"{fetched} → dead-lettered in {f.raw_dlq} by fetcher: fetch_failed"
    if f.stored is None:
        return "in_flight", f"{fetched} → not known to be stored (storage's tables are not in this database)"
    return "in_flight", f"{fetched} → not stored yet (on its way, or waiting in a stopped stage)"
