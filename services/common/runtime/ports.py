"""What the consumer loop needs from a broker, as small protocols, and the records it moves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

Headers = list[tuple[str, bytes]]
Partition = tuple[str, int]


@dataclass(frozen=True)
class Record:
    """One consumed record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)

    def header(self, name: str) -> bytes | None:
        """The last value of header ``name``, or None."""
        found = None
        for k, v in self.headers:
            if k == name:
                found = v
        return found


@dataclass(frozen=True)
class Output:
    """One record a stage wants produced."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)


class Delivery(Protocol):
    """The outcome of one send; checked after ``flush``."""

    def error(self) -> BaseException | None: ...


class ConsumerPort(Protocol):
    """A group consumer with manual commits."""

    def poll(self, timeout_seconds: float, max_records: int) -> list[Record]:
        """Block up to ``timeout_seconds`` for records of the assigned partitions."""

    def commit(self, offsets: dict[Partition, int]) -> None:
        """Commit synchronously: ``offsets`` are the next offsets to read. Raises on failure."""

    def assignment(self) -> set[Partition]: ...

    def close(self) -> None: ...


RevokeCallback = Callable[[Sequence[Partition]], None]


class ProducerPort(Protocol):
    """A producer whose sends are acknowledged by every in-sync replica once ``flush`` returns."""

    def send(self, output: Output) -> Delivery: ...

    def flush(self, timeout_seconds: float) -> None:
        """Block until every send so far is acknowledged or failed."""

    def close(self) -> None: ...
