"""What became of fetched messages after ``mail.raw``, for ``accounts overview``, by sighting
(mailbox, folder, uidvalidity, uid):

- dead letters: every ``*.dlq`` topic of ``schemas/topics`` and the configured raw topic's, read
  without a consumer group up to the end offsets taken at the start (``common.dlqtool``), with
  the replays ``mailpipe dlq replay`` recorded. A record names its sighting in its headers
  (``mail.raw``) or in its JSON payload (``mail.parsed``, ``mail.matched``);
- the matcher's decisions (``matcher_decisions``, by ``email_id``): skipped, and why;
- storage's sightings (``email_sightings``): stored.

The matcher's and storage's tables are read from the fetcher's database: the local stack, the
demo and the tests give all services one DSN, and the migrations make every table in it. Where a
table is absent (a deployment that splits the databases) the answer is None, and the overview
says it cannot tell, rather than guessing.
Every function blocks on PostgreSQL or Kafka; their errors propagate.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..common import clients
from ..common.dlqledger import ReplayLedger
from ..common.dlqtool import DeadLetter, DeadLetterReader, dlq_topics
from ..common.messages import Sighting
from ..common.rawrecord import FOLDER, MAILBOX, UID, UIDVALIDITY
from ..common.settings import KafkaSettings
from ..common.topics import dlq

Key = tuple[str, int, int]  # folder, uidvalidity, uid


@dataclass(frozen=True)
class DeadLetterSeen:
    """One dead letter of a message: where, by which stage, why, and whether it was replayed."""

    id: str
    topic: str
    stage: str
    reason: str
    error: str
    at: str
    replayed: bool


@dataclass(frozen=True)
class DeadLetters:
    """A mailbox's dead letters by sighting, and the ``email-id`` they carry (mail.parsed and later)."""

    by_sighting: dict[Key, list[DeadLetterSeen]]
    email_ids: dict[Key, str]


def dead_letters(kafka: KafkaSettings, mailbox_id: str, raw_topic: str) -> DeadLetters:
    """Read every dead-letter topic for ``mailbox_id``'s messages (a full scan: DLQs are small
    by nature, the ratio guard stops a stage that dead-letters much, and they keep 30 days)."""
    consumer = clients.make_consumer(kafka, group_id=None)
    try:
        reader = DeadLetterReader(consumer, stall_seconds=2 * kafka.request_timeout_seconds)
        topics = reader.existing(dict.fromkeys([*dlq_topics(), dlq(raw_topic)]))
        replays = ReplayLedger.load(consumer, topics, stall_seconds=2 * kafka.request_timeout_seconds)
        found: dict[Key, list[DeadLetterSeen]] = defaultdict(list)
        email_ids: dict[Key, str] = {}
        sources: set[str] = set()
        for topic in topics:
            for letter in reader.read(topic):
                sighting = sighting_of(letter, mailbox_id)
                if sighting is None:
                    continue
                if letter.header("dlq-source-offset") is not None:
                    if letter.source in sources:
                        continue  # the same record dead-lettered again by a replay (at-least-once)
                    sources.add(letter.source)
                key = (sighting.folder, sighting.uidvalidity, sighting.uid)
                found[key].append(DeadLetterSeen(str(letter.id), topic, letter.stage, letter.reason,
                                                 letter.error[:300], letter.timestamp.isoformat(timespec="seconds"),
                                                 replays.replay_of(letter) is not None))
                if (email_id := letter.header("email-id")) is not None:
                    email_ids[key] = email_id
        return DeadLetters(dict(found), email_ids)
    finally:
        consumer.close(autocommit=False)


def sighting_of(letter: DeadLetter, mailbox_id: str) -> Sighting | None:
    """The sighting a dead letter is about, when it is ``mailbox_id``'s: from the ``mail.raw``
    headers, else from the envelope's payload (``sighting`` or ``email.sighting``)."""
    if letter.header(UID) is not None:
        if letter.header(MAILBOX) != mailbox_id:
            return None
        try:
            return Sighting(mailbox_id=mailbox_id, folder=letter.header(FOLDER) or "",
                            uidvalidity=int(letter.header(UIDVALIDITY) or 0), uid=int(letter.header(UID) or 0))
        except ValueError:
            return None
    if not letter.value or mailbox_id.encode() not in letter.value:  # most letters are another mailbox's
        return None
    try:
        doc = json.loads(letter.value)
        payload = doc["payload"]
        found = Sighting.model_validate(payload.get("sighting") or payload["email"]["sighting"])
    except (ValueError, TypeError, KeyError, AttributeError, ValidationError):
        return None  # not an envelope: the letter may be about anything, it cannot be placed
    return found if found.mailbox_id == mailbox_id else None


def _has_table(conn: Any, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0] is True


def stored(conn: Any, mailbox_id: str, folder: str, uidvalidity: int, uids: list[int]) -> dict[int, str] | None:
    """UID → email_id of the sightings storage holds (None: no storage tables in this database)."""
    if not _has_table(conn, "email_sightings"):
        return None
    rows = conn.execute("SELECT uid, email_id::text FROM email_sightings WHERE mailbox_id = %s AND folder = %s "
                        "AND uidvalidity = %s AND uid = ANY(%s)", (mailbox_id, folder, uidvalidity, uids))
    return {int(uid): email_id for uid, email_id in rows}


def skipped(conn: Any, mailbox_id: str, email_ids: list[str]) -> dict[str, str | None] | None:
    """email_id → the matcher's skip reason (None: decided, not skipped), latest decision first;
    emails not decided yet are absent. None: no matcher tables in this database."""
    if not _has_table(conn, "matcher_decisions"):
        return None
    rows = conn.execute("SELECT DISTINCT ON (email_id) email_id::text, decision ->> 'skipped' FROM matcher_decisions "
                        "WHERE mailbox_id = %s AND email_id = ANY(%s::uuid[]) ORDER BY email_id, decided_at DESC",
                        (mailbox_id, email_ids))
    return {email_id: reason for email_id, reason in rows}
