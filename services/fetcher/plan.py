"""Pure: what to read from a folder, given its cursor and what the server says now."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, Protocol, TypeVar

from .checkpoint import Cursor


@dataclass(frozen=True)
class FolderPlan:
    """``incremental``: UIDs above ``after_uid``. ``initial``: everything. ``resync``: the server
    renumbered the folder (UIDVALIDITY changed), so read what arrived since ``since`` again and rely
    on ``email_id`` downstream to absorb the repeats; ``since`` None means everything."""

    mode: Literal["incremental", "initial", "resync"]
    after_uid: int = 0
    since: date | None = None


def plan_folder(cursor: Cursor | None, uidvalidity: int, margin_days: int) -> FolderPlan:
    if cursor is None:
        return FolderPlan("initial")
    if cursor.uidvalidity == uidvalidity:
        return FolderPlan("incremental", after_uid=cursor.last_uid)
    since = cursor.last_date.date() - timedelta(days=margin_days) if cursor.last_date else None
    return FolderPlan("resync", since=since)


class Sized(Protocol):
    @property
    def size(self) -> int: ...


S = TypeVar("S", bound=Sized)


def batches(items: list[S], max_count: int, max_bytes: int) -> Iterator[list[S]]:
    """Consecutive runs of ``items`` of at most ``max_count`` items and ``max_bytes`` bytes (a
    single item larger than ``max_bytes`` is a batch of its own), so one FETCH never holds more
    than about ``max_bytes`` in memory."""
    batch: list[S] = []
    total = 0
    for item in items:
        if batch and (len(batch) >= max_count or total + item.size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += item.size
    if batch:
        yield batch
