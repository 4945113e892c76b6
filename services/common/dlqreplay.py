"""Replaying dead letters: each selected record goes back to its source topic with its original
key, value and headers plus ``replayed-from: <dead-letter id>``, unless the ledger says its source
record already went back.

Order of writes, per batch: the replayed records are produced and flushed (acks=all), then their
ledger entries. A crash between the two leaves records replayed but not in the ledger, so the
next replay sends them once more; downstream writes are idempotent by ``email_id``, so that costs
work, never a second email. The partition is the producer's choice from the key, as for any new
record of that key (so per-mailbox state keeps its partition), not the dead letter's old one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .dlqledger import TOPIC as LEDGER_TOPIC
from .dlqledger import Replay, ReplayLedger, entry_for
from .dlqtool import DeadLetter, DeadLetterReader, Selection
from .errors import TransientError
from .runtime.dlq import REPLAYED_FROM
from .runtime.ports import Headers

REPLAYED, WOULD_REPLAY, ALREADY, NOT_REPLAYABLE, FAILED, NOT_FOUND = (
    "replayed", "would_replay", "already_replayed", "not_replayable", "failed", "not_found")


@dataclass(frozen=True)
class Outcome:
    """What happened to one dead letter: ``status`` is one of the names above; ``target`` is the
    replayed copy's ``topic:partition:offset`` (the topic alone for a dry run)."""

    id: str
    status: str
    source: str = ""
    target: str = ""
    detail: str = ""


Progress = Callable[[str, int, int, dict[str, int]], None]  # topic, handled, of at most, counts


def replay_headers(letter: DeadLetter) -> Headers:
    """The original headers (no ``dlq-*``, no earlier ``replayed-from``) plus ``replayed-from``."""
    kept = [(k, v) for k, v in letter.original_headers if k != REPLAYED_FROM]
    return [*kept, (REPLAYED_FROM, str(letter.id).encode())]


class Replayer:
    """Sends dead letters back through ``producer`` (``clients.make_producer``: acks=all,
    idempotent). ``run`` blocks while reading and producing; it raises TransientError when the
    ledger cannot be written after records were replayed (the next replay repeats them)."""

    def __init__(self, reader: DeadLetterReader, producer: Any, ledger: ReplayLedger, *, dry_run: bool = False,
                 force: bool = False, batch_records: int = 200, flush_timeout_seconds: float = 60.0,
                 progress: Progress | None = None, progress_every: int = 1000) -> None:
        self._reader, self._producer, self._ledger = reader, producer, ledger
        self._dry_run, self._force = dry_run, force
        self._batch_records, self._flush_timeout = batch_records, flush_timeout_seconds
        self._progress, self._progress_every = progress, progress_every

    def run(self, topics: Iterable[str], selection: Selection) -> Iterator[Outcome]:
        """One outcome per selected dead letter, topic by topic, and ``not_found`` for each
        requested id that no read yielded."""
        seen: set[str] = set()
        for topic in topics:
            for outcome in self._run_topic(topic, selection):
                seen.add(outcome.id)
                yield outcome
        for wanted in sorted(map(str, selection.ids or ())):
            if wanted not in seen:
                yield Outcome(wanted, NOT_FOUND, detail="no such record (expired?), or the other filters exclude it")

    def _run_topic(self, topic: str, selection: Selection) -> Iterator[Outcome]:
        ids = [i for i in selection.ids or () if i.topic == topic]
        total = len(ids) if selection.ids is not None else self._reader.pending(topic, selection.since)
        counts: dict[str, int] = {}
        batch: list[tuple[DeadLetter, Any | None, Outcome | None]] = []  # in offset order; a future or an outcome
        in_run: dict[str, str] = {}  # fingerprint -> id of the dead letter this run sends it as
        handled = 0
        for letter in self._reader.read(topic, selection):
            outcome = self._decide(letter, in_run)
            batch.append((letter, self._send(letter) if outcome is None else None, outcome))
            if len(batch) >= self._batch_records:
                yield from self._count(self._settle(batch), counts)
                batch = []
            handled += 1
            if self._progress and handled % self._progress_every == 0:
                yield from self._count(self._settle(batch), counts)  # the counts say what is done
                batch = []
                self._progress(topic, handled, total, counts)
        yield from self._count(self._settle(batch), counts)
        if self._progress and handled % self._progress_every:
            self._progress(topic, handled, total, counts)

    def _decide(self, letter: DeadLetter, in_run: dict[str, str]) -> Outcome | None:
        """The outcome of a letter that is not sent now; None: send it."""
        lid, source = str(letter.id), letter.source
        if not letter.replayable:
            return Outcome(lid, NOT_REPLAYABLE, source, detail=f"never read from its source topic "
                           f"(stage {letter.stage}, {letter.reason}): fetch it again instead")
        if not self._force:
            done = self._ledger.replay_of(letter)
            if done is not None:
                return Outcome(lid, ALREADY, source, done.replayed_to, _already(done, lid))
            if letter.fingerprint in in_run:
                return Outcome(lid, ALREADY, source, detail=f"same source record as {in_run[letter.fingerprint]}")
        in_run[letter.fingerprint] = lid
        if self._dry_run:
            return Outcome(lid, WOULD_REPLAY, source, str(letter.source_topic))
        return None

    def _send(self, letter: DeadLetter) -> Any:
        return self._producer.send(letter.source_topic, key=letter.key, value=letter.value,
                                   headers=replay_headers(letter))

    def _settle(self, batch: list[tuple[DeadLetter, Any | None, Outcome | None]]) -> list[Outcome]:
        """Wait for the batch's acknowledgements, then write and flush its ledger entries; the
        outcomes in the batch's order."""
        if not any(future for _, future, _ in batch):
            return [outcome for _, _, outcome in batch if outcome is not None]
        self._producer.flush(timeout=self._flush_timeout)
        outcomes, entries = [], []
        for letter, future, decided in batch:
            if future is None:
                outcomes += [decided] if decided is not None else []
                continue
            try:
                meta = future.get(timeout=0)
            except Exception as exc:  # any failed send is reported; the others still count
                outcomes.append(Outcome(str(letter.id), FAILED, letter.source, detail=f"{type(exc).__name__}: {exc}"))
                continue
            entry = entry_for(letter, f"{meta.topic}:{meta.partition}:{meta.offset}", self._force)
            entries.append(entry)
            outcomes.append(Outcome(entry.dlq_id, REPLAYED, letter.source, entry.replayed_to))
        self._record(entries)
        return outcomes

    def _record(self, entries: list[Replay]) -> None:
        futures = [self._producer.send(LEDGER_TOPIC, key=e.dlq_id.encode(), value=e.encode()) for e in entries]
        self._producer.flush(timeout=self._flush_timeout)
        try:
            for future in futures:
                future.get(timeout=0)
        except Exception as exc:
            raise TransientError(f"{len(entries)} records were replayed but the ledger {LEDGER_TOPIC} was not "
                                 f"written ({exc}); a second replay sends them again") from exc
        for entry in entries:
            self._ledger.add(entry)

    @staticmethod
    def _count(outcomes: Iterable[Outcome], counts: dict[str, int]) -> Iterator[Outcome]:
        for outcome in outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            yield outcome


def _already(done: Replay, lid: str) -> str:
    via = "" if done.dlq_id == lid else f" (as {done.dlq_id}, the same source record)"
    return f"replayed at {done.replayed_at} as {done.replayed_to}{via}; --force sends it again"
