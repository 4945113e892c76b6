"""The consumer and producer ports on kafka-python."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafka import ConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata, TopicPartition

from ..errors import TransientError
from .ports import Output, Partition, Record, RevokeCallback


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, on_revoked: RevokeCallback | None) -> None:
        self.on_revoked = on_revoked

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        if self.on_revoked:
            self.on_revoked([(tp.topic, tp.partition) for tp in revoked])

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        pass


class KafkaConsumerPort:
    """Wraps a kafka-python KafkaConsumer (from ``clients.make_consumer``) subscribed to ``topics``."""

    def __init__(self, consumer: Any, topics: list[str], on_revoked: RevokeCallback | None = None) -> None:
        self._c = consumer
        self._c.subscribe(topics, listener=_Listener(on_revoked))

    def poll(self, timeout_seconds: float, max_records: int) -> list[Record]:
        batches = self._c.poll(timeout_ms=int(timeout_seconds * 1000), max_records=max_records)
        return [
            Record(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers or []))
            for records in batches.values() for r in records
        ]

    def commit(self, offsets: dict[Partition, int]) -> None:
        if offsets:
            self._c.commit({TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()})

    def seek(self, partition: Partition, offset: int) -> None:
        self._c.seek(TopicPartition(*partition), offset)

    def pause(self) -> None:
        self._c.pause(*self._c.assignment())

    def resume(self) -> None:
        self._c.resume(*self._c.paused())

    def assignment(self) -> set[Partition]:
        return {(tp.topic, tp.partition) for tp in self._c.assignment()}

    def close(self) -> None:
        self._c.close(autocommit=False)


class _Future:
    def __init__(self, future: Any) -> None:
        self._f = future

    def error(self) -> BaseException | None:
        if not self._f.is_done:
            return TransientError("send not acknowledged after flush")
        return self._f.exception if self._f.failed() else None


class KafkaProducerPort:
    """Wraps a kafka-python KafkaProducer (from ``clients.make_producer``)."""

    def __init__(self, producer: Any) -> None:
        self._p = producer

    def send(self, output: Output) -> _Future:
        return _Future(self._p.send(output.topic, key=output.key, value=output.value, headers=output.headers))

    def flush(self, timeout_seconds: float) -> None:
        self._p.flush(timeout=timeout_seconds)

    def close(self) -> None:
        self._p.close(timeout=10)
