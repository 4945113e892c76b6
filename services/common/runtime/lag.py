"""Consumer lag per partition, exported by the consumer itself (no external exporter needed)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from ..metrics import CONSUMER_LAG
from .ports import Partition

log = logging.getLogger(__name__)
LAG_INTERVAL_SECONDS = 5.0


class LagSource(Protocol):
    def lag(self) -> dict[Partition, int]: ...


class LagReporter:
    """Sets ``mailpipe_runtime_consumer_lag_records`` for every partition the consumer holds, at
    most once every ``interval_seconds`` (``maybe_report`` is cheap to call after every poll; the
    refresh asks the broker for end offsets, one request). Partitions the consumer no longer holds
    lose their series, so a rebalance does not leave another member's lag frozen here. Never raises:
    a failed refresh is logged and tried again at the next interval (lag is a view, not the work)."""

    def __init__(self, source: LagSource, stage: str, interval_seconds: float = LAG_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._source, self._stage, self._interval, self._clock = source, stage, interval_seconds, clock
        self._next = 0.0
        self._reported: set[Partition] = set()

    def maybe_report(self) -> None:
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self._interval
        self.report()

    def report(self) -> None:
        """Refresh now; blocks for one broker round trip (bounded by the port's timeout)."""
        try:
            lags = self._source.lag()
        except Exception as exc:
            log.warning("could not measure consumer lag", extra={"stage": self._stage, "error": repr(exc)})
            return
        for (topic, partition), value in lags.items():
            CONSUMER_LAG.labels(stage=self._stage, topic=topic, partition=str(partition)).set(value)
        for topic, partition in self._reported - lags.keys():
            CONSUMER_LAG.remove(self._stage, topic, str(partition))
        self._reported = set(lags)

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Drop the series of ``partitions`` now (revoked: their new owner reports them)."""
        for topic, partition in partitions:
            if (topic, partition) in self._reported:
                CONSUMER_LAG.remove(self._stage, topic, str(partition))
                self._reported.discard((topic, partition))
