"""Dead letters as an operator sees them: stable ids, filters, and reading ``*.dlq`` topics.

A dead letter is named ``<dlq-topic>:<partition>:<offset>`` (Kafka topic names cannot contain
``:``), which stays true for as long as retention keeps the record. Reading never joins a
consumer group: the reader assigns partitions, seeks, and stops at the end offsets it captured
when it started, so it terminates on a topic that keeps growing and commits nobody's offsets.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .errors import ConfigError, TransientError
from .runtime import dlq as headers
from .runtime.ports import Headers
from .topics import dlq, load_specs

DLQ_SUFFIX = ".dlq"
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class DeadLetterId:
    """Where one dead letter lives: ``<dlq-topic>:<partition>:<offset>``."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> DeadLetterId:
        """Parse an id; raises ConfigError naming the expected form."""
        topic, _, rest = text.strip().partition(":")
        partition, _, offset = rest.partition(":")
        if not (topic.endswith(DLQ_SUFFIX) and partition.isdigit() and offset.isdigit()):
            raise ConfigError(f"{text!r} is not a dead-letter id (<topic>.dlq:<partition>:<offset>)")
        return cls(topic, int(partition), int(offset))


@dataclass(frozen=True)
class DeadLetter:
    """One record of a ``*.dlq`` topic with its provenance decoded."""

    id: DeadLetterId
    timestamp: datetime
    key: bytes | None
    value: bytes | None
    headers: Headers

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` as text, or None."""
        found = [v for k, v in self.headers if k == name]
        return found[-1].decode("utf-8", "replace") if found else None

    @property
    def source_topic(self) -> str | None:
        return self.header(headers.SOURCE_TOPIC)

    @property
    def source(self) -> str:
        """``topic:partition:offset`` of the record that was dead-lettered (``-`` for unknown parts)."""
        parts = (self.source_topic, self.header(headers.SOURCE_PARTITION), self.header(headers.SOURCE_OFFSET))
        return ":".join(p if p is not None else "-" for p in parts)

    @property
    def stage(self) -> str:
        return self.header(headers.STAGE) or ""

    @property
    def reason(self) -> str:
        return self.header(headers.REASON) or ""

    @property
    def error(self) -> str:
        return self.header(headers.ERROR) or ""

    @property
    def replayable(self) -> bool:
        """Only a record that was read from its source topic can go back there; the fetcher's
        dead letters (the server never delivered the message: no body, no offset) cannot."""
        return bool(self.source_topic) and self.header(headers.SOURCE_OFFSET) is not None

    @property
    def original_headers(self) -> Headers:
        return headers.original_headers(self.headers)

    @property
    def fingerprint(self) -> str:
        """The source record's coordinates and content: equal for two dead letters of one source
        record (a stage that crashed before committing dead-letters it again), different for a
        new record at a reused offset (a DLQ topic deleted and created again)."""
        digest = hashlib.sha256(self.source.encode())
        for part in (self.key, self.value):
            digest.update(b"\0" if part is None else b"\1%d:" % len(part) + part)
        return digest.hexdigest()


@dataclass(frozen=True)
class Selection:
    """Which dead letters a command is about; every condition given must hold (AND)."""

    reason: str | None = None
    stage: str | None = None
    since: datetime | None = None
    ids: frozenset[DeadLetterId] | None = None

    def matches(self, letter: DeadLetter) -> bool:
        return ((self.reason is None or letter.reason == self.reason)
                and (self.stage is None or letter.stage == self.stage)
                and (self.since is None or letter.timestamp >= self.since)
                and (self.ids is None or letter.id in self.ids))


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2h``, ``30m``, ``7d`` (before now), an ISO date (midnight UTC) or an ISO date-time (UTC
    unless it names an offset); raises ConfigError for anything else."""
    now = now or datetime.now(UTC)
    relative = _DURATION.match(text.strip())
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since {text!r}: expected a duration (90s, 15m, 2h, 3d, 1w), "
                          "an ISO date or an ISO date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def dlq_topics(named: Iterable[str] = ()) -> list[str]:
    """The dead-letter topics of ``named`` (a source topic or its ``.dlq``); without names, every
    dead-letter topic of ``schemas/topics``."""
    names = list(named)
    if not names:
        return [spec.name for spec in load_specs() if spec.name.endswith(DLQ_SUFFIX)]
    return list(dict.fromkeys(n if n.endswith(DLQ_SUFFIX) else dlq(n) for n in names))


class DeadLetterReader:
    """Reads dead letters through a consumer from ``clients.make_consumer(..., group_id=None)``.
    Each read blocks while fetching; it raises TransientError when a partition delivers nothing
    for ``stall_seconds`` before the end offset captured at its start."""

    def __init__(self, consumer: Any, stall_seconds: float = 60.0) -> None:
        self._c = consumer
        self._stall_seconds = stall_seconds

    def existing(self, topics: Iterable[str]) -> list[str]:
        """Those of ``topics`` the broker has."""
        return [t for t in topics if self._c.partitions_for_topic(t)]

    def pending(self, topic: str, since: datetime | None = None) -> int:
        """How many records a read of ``topic`` from ``since`` will scan (for progress)."""
        return sum(end - start for _, start, end in self._ranges(topic, since))

    def read(self, topic: str, selection: Selection = Selection()) -> Iterator[DeadLetter]:
        """The dead letters of ``topic`` that ``selection`` matches, partition by partition in
        offset order. With ids, only the offsets around them are fetched."""
        for tp, start, end in self._ranges(topic, selection.since):
            if selection.ids is not None:
                wanted = [i.offset for i in selection.ids if (i.topic, i.partition) == (tp.topic, tp.partition)]
                if not wanted:
                    continue
                start, end = max(start, min(wanted)), min(end, max(wanted) + 1)
            for record in self._fetch(tp, start, end):
                letter = DeadLetter(DeadLetterId(record.topic, record.partition, record.offset),
                                    datetime.fromtimestamp(record.timestamp / 1000, UTC),
                                    record.key, record.value, list(record.headers or []))
                if selection.matches(letter):
                    yield letter

    def records(self, topic: str) -> Iterator[Any]:
        """Every kafka-python record of ``topic`` up to its end offsets at the start of the read."""
        for tp, start, end in self._ranges(topic, None):
            yield from self._fetch(tp, start, end)

    def _ranges(self, topic: str, since: datetime | None) -> list[tuple[Any, int, int]]:
        from kafka.structs import TopicPartition

        parts = [TopicPartition(topic, p) for p in sorted(self._c.partitions_for_topic(topic) or ())]
        if not parts:
            return []
        starts, ends = self._c.beginning_offsets(parts), self._c.end_offsets(parts)
        if since is not None:
            # The first offset at or after ``since`` per partition; None: nothing that recent.
            found = self._c.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in parts})
            starts = {tp: (ends[tp] if found.get(tp) is None else max(starts[tp], found[tp].offset))
                      for tp in parts}
        return [(tp, starts[tp], ends[tp]) for tp in parts if starts[tp] < ends[tp]]

    def _fetch(self, tp: Any, start: int, end: int) -> Iterator[Any]:
        self._c.assign([tp])
        self._c.seek(tp, start)
        last_progress = time.monotonic()
        while self._c.position(tp) < end:
            batch = self._c.poll(timeout_ms=500, max_records=500).get(tp, [])
            if batch:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > self._stall_seconds:
                raise TransientError(f"{tp.topic}:{tp.partition} delivered nothing for {self._stall_seconds:.0f} s "
                                     f"at offset {self._c.position(tp)} (end {end})")
            for record in batch:
                if record.offset >= end:
                    return
                yield record
