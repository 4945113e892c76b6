"""The replay ledger: which dead letters went back to their source topic, where, and when.

A compacted topic, ``mailpipe.dlq.replays``, keyed by dead-letter id; each value names the source
record's fingerprint (``DeadLetter.fingerprint``) and where the replayed copy landed. Why a topic:
the tool needs nothing but Kafka (the DLQ of ``mail.raw`` exists before any database does), the
entry is written with the same acks=all producer right after the replayed records are
acknowledged, compaction keeps one entry per dead letter for as long as the topic lives, and
reading it is one small partition. The alternative, scanning the source topic for
``replayed-from`` headers, reads gigabytes of mail and forgets a replay once the source topic's
retention (7 days for ``mail.raw``) has passed, while the dead letter stays for 30.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .dlqtool import DeadLetter, DeadLetterReader

TOPIC = "mailpipe.dlq.replays"
TOPIC_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
VERSION = 1


@dataclass(frozen=True)
class Replay:
    """One ledger entry: dead letter ``dlq_id`` was produced again as ``replayed_to``."""

    dlq_id: str
    fingerprint: str
    source: str
    replayed_to: str
    replayed_at: str
    forced: bool = False

    def encode(self) -> bytes:
        return json.dumps({"version": VERSION, **asdict(self)}, sort_keys=True).encode()

    @classmethod
    def decode(cls, value: bytes) -> Replay | None:
        """The entry, or None for a value this version cannot read (a later version's: skipped)."""
        doc = json.loads(value)
        if doc.pop("version", None) != VERSION:
            return None
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})


class ReplayLedger:
    """The entries of the ledger topic for some DLQ topics, read to the end offsets at load time."""

    def __init__(self, entries: dict[str, Replay]) -> None:
        self._by_id = entries
        self._by_fingerprint = {e.fingerprint: e for e in entries.values()}

    @classmethod
    def load(cls, consumer: Any, dlq_topics: list[str], stall_seconds: float = 60.0) -> ReplayLedger:
        """Read every entry about ``dlq_topics`` (an absent ledger topic is an empty ledger).
        Blocks while reading; raises TransientError when the topic stops delivering."""
        entries: dict[str, Replay] = {}
        prefixes = tuple(f"{t}:" for t in dlq_topics)
        for record in DeadLetterReader(consumer, stall_seconds).records(TOPIC):
            key = (record.key or b"").decode("utf-8", "replace")
            if not key.startswith(prefixes):
                continue
            if record.value is None:
                entries.pop(key, None)  # a tombstone forgets the replay
            elif (entry := Replay.decode(record.value)) is not None:
                entries[key] = entry
        return cls(entries)

    def replay_of(self, letter: DeadLetter) -> Replay | None:
        """The replay that already sent ``letter``'s source record back: of this dead letter, or
        of another dead letter of the same source record. None when there is none."""
        entry = self._by_id.get(str(letter.id))
        if entry is not None and entry.fingerprint == letter.fingerprint:
            return entry
        return self._by_fingerprint.get(letter.fingerprint)

    def add(self, entry: Replay) -> None:
        self._by_id[entry.dlq_id] = entry
        self._by_fingerprint[entry.fingerprint] = entry


def entry_for(letter: DeadLetter, replayed_to: str, forced: bool) -> Replay:
    """The ledger entry saying ``letter`` was just replayed to ``replayed_to`` (topic:partition:offset)."""
    return Replay(str(letter.id), letter.fingerprint, letter.source, replayed_to,
                  datetime.now(UTC).isoformat(timespec="seconds"), forced)


def ensure_topic(admin: Any) -> None:
    """Create the ledger topic when it is missing (``clients.make_admin``; blocks on the broker)."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    if TOPIC in set(admin.list_topics()):
        return
    try:
        # replication factor 1, like every topic `mailpipe topics create` makes from schemas/topics
        admin.create_topics([NewTopic(TOPIC, 1, 1, topic_configs=TOPIC_CONFIG)])
    except TopicAlreadyExistsError:
        pass  # a concurrent replay created it
