"""An in-process broker with the consumer and producer ports, for unit tests of the runtime.

It keeps partitions as lists, committed offsets per group, and simulates the one behaviour the
loop relies on: a consumer starts from its group's committed offset. No rebalancing.
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass, field

from .ports import Output, Partition, Record


@dataclass
class MemoryBroker:
    """Topics as lists of records; ``committed[group][partition]`` is the next offset to read."""

    partitions: dict[str, int] = field(default_factory=dict)
    log: dict[Partition, list[Record]] = field(default_factory=dict)
    committed: dict[str, dict[Partition, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        self.partitions[topic] = partitions
        for p in range(partitions):
            self.log.setdefault((topic, p), [])

    def append(self, output: Output) -> Record:
        n = self.partitions[output.topic]
        p = zlib.crc32(output.key) % n if output.key is not None else 0
        with self.lock:
            records = self.log[(output.topic, p)]
            rec = Record(output.topic, p, len(records), output.key, output.value, list(output.headers))
            records.append(rec)
        return rec

    def records(self, topic: str) -> list[Record]:
        return [r for (t, _), rs in sorted(self.log.items()) if t == topic for r in rs]


class _Delivered:
    def __init__(self, exc: BaseException | None = None) -> None:
        self._exc = exc

    def error(self) -> BaseException | None:
        return self._exc


class MemoryProducer:
    """Appends on ``flush`` (not on ``send``), so a crash between the two loses the sends,
    as it would with a real producer's buffer."""

    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker
        self.buffer: list[Output] = []

    def send(self, output: Output) -> _Delivered:
        if output.topic not in self.broker.partitions:
            return _Delivered(KeyError(f"unknown topic {output.topic}"))
        self.buffer.append(output)
        return _Delivered()

    def flush(self, timeout_seconds: float) -> None:
        for out in self.buffer:
            self.broker.append(out)
        self.buffer.clear()

    def close(self) -> None:
        self.buffer.clear()


class MemoryConsumer:
    """One group member owning every partition of ``topics``."""

    def __init__(self, broker: MemoryBroker, group: str, topics: list[str]) -> None:
        self.broker, self.group = broker, group
        committed = broker.committed.setdefault(group, {})
        self.position = {(t, p): committed.get((t, p), 0) for t in topics for p in range(broker.partitions[t])}

    def poll(self, timeout_seconds: float, max_records: int) -> list[Record]:
        out: list[Record] = []
        for tp, pos in self.position.items():
            fresh = self.broker.log[tp][pos:pos + max_records - len(out)]
            out.extend(fresh)
            self.position[tp] = pos + len(fresh)
        return out

    def commit(self, offsets: dict[Partition, int]) -> None:
        self.broker.committed[self.group].update(offsets)

    def assignment(self) -> set[Partition]:
        return set(self.position)

    def close(self) -> None:
        pass
