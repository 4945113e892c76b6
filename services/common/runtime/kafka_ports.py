"""The consumer and producer ports on kafka-python."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kafka import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from .ports import Output, Partition, Record, RevokeCallback

log = logging.getLogger(__name__)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, on_revoked: RevokeCallback | None, on_assigned: RevokeCallback | None) -> None:
        self.on_revoked, self.on_assigned = on_revoked, on_assigned

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        if self.on_revoked:
            self.on_revoked([(tp.topic, tp.partition) for tp in revoked])

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        if self.on_assigned:
            self.on_assigned([(tp.topic, tp.partition) for tp in assigned])


class KafkaConsumerPort:
    """Wraps a kafka-python KafkaConsumer (from ``clients.make_consumer``) subscribed to ``topics``.

    ``on_revoked`` and ``on_assigned`` are called inside ``poll`` on the polling thread, around each
    rebalance. ``on_assigned`` fires once the group join completed, with the member's whole new
    assignment, empty when the group has more members than partitions: the client's default eager
    assignors (range, round-robin) call it on every join; a cooperative assignor would call it only
    for added partitions, never for an empty first assignment.
    """

    def __init__(self, consumer: Any, topics: list[str], on_revoked: RevokeCallback | None = None,
                 on_assigned: RevokeCallback | None = None) -> None:
        self._c = consumer
        self._c.subscribe(topics, listener=_Listener(on_revoked, on_assigned))

    def poll(self, timeout_seconds: float, max_records: int) -> list[Record]:
        batches = self._c.poll(timeout_ms=int(timeout_seconds * 1000), max_records=max_records)
        return [
            Record(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers or []))
            for records in batches.values() for r in records
        ]

    def commit(self, offsets: dict[Partition, int]) -> None:
        if offsets:
            self._c.commit({TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()})

    def assignment(self) -> set[Partition]:
        return {(tp.topic, tp.partition) for tp in self._c.assignment()}

    def lag(self) -> dict[Partition, int]:
        """Records not yet taken per assigned partition: the end offset (one ListOffsets request,
        bounded by LAG_TIMEOUT_MS) minus the consumer's position. A partition without a position yet
        (no committed offset fetched so far) is left out rather than waited for."""
        assigned = list(self._c.assignment())
        if not assigned:
            return {}
        ends = self._c.end_offsets(assigned, timeout_ms=LAG_TIMEOUT_MS)
        lags: dict[Partition, int] = {}
        for tp in assigned:
            position = self._c.position(tp, timeout_ms=0) if tp in ends else None
            if position is not None:
                lags[(tp.topic, tp.partition)] = max(0, ends[tp] - position)
        return lags

    def close(self) -> None:
        self._c.close(autocommit=False)


LAG_TIMEOUT_MS = 2000


ACK_WAIT_SECONDS = 60.0


class _Future:
    def __init__(self, future: Any) -> None:
        self._f = future

    def error(self) -> BaseException | None:
        """The send's failure, None once acknowledged. Waits (bounded) for a send the flush left
        undone: kafka-python's flush gives up when the broker refused a batch as too large and the
        client split it to send again, while each record's own outcome is still coming."""
        try:
            self._f.get(timeout=ACK_WAIT_SECONDS)
        except Exception as exc:
            return exc
        return None


class KafkaProducerPort:
    """Wraps a kafka-python KafkaProducer (from ``clients.make_producer``)."""

    def __init__(self, producer: Any) -> None:
        self._p = producer

    def send(self, output: Output) -> _Future:
        return _Future(self._p.send(output.topic, key=output.key, value=output.value, headers=output.headers))

    def flush(self, timeout_seconds: float) -> None:
        try:
            self._p.flush(timeout=timeout_seconds)
        except KafkaError as exc:  # each send's outcome, checked next, decides what this means
            log.warning("flush did not complete; checking each send", extra={"error": repr(exc)})

    def close(self) -> None:
        self._p.close(timeout=10)
