"""One interface over the in-memory broker and the real Kafka, so the runtime's contract tests
run unchanged against both."""

from __future__ import annotations

import time
from typing import Any, Protocol

from mailpipe.common import clients
from mailpipe.common.runtime.kafka_ports import KafkaConsumerPort, KafkaProducerPort
from mailpipe.common.runtime.memory import MemoryBroker, MemoryConsumer, MemoryProducer
from mailpipe.common.runtime.ports import ConsumerPort, Output, ProducerPort, Record
from mailpipe.common.settings import KafkaSettings


class Harness(Protocol):
    def create_topic(self, name: str, partitions: int = 1) -> None: ...
    def produce(self, topic: str, key: bytes, value: bytes) -> None: ...
    def consumer(self, group: str, topics: list[str]) -> ConsumerPort: ...
    def producer(self) -> ProducerPort: ...
    def committed(self, group: str, topic: str, partition: int = 0) -> int | None: ...
    def read_all(self, topic: str) -> list[Record]: ...


class MemoryHarness:
    def __init__(self) -> None:
        self.broker = MemoryBroker()

    def create_topic(self, name: str, partitions: int = 1) -> None:
        self.broker.create_topic(name, partitions)

    def produce(self, topic: str, key: bytes, value: bytes) -> None:
        self.broker.append(Output(topic, key, value))

    def consumer(self, group: str, topics: list[str]) -> MemoryConsumer:
        return MemoryConsumer(self.broker, group, topics)

    def producer(self) -> MemoryProducer:
        return MemoryProducer(self.broker)

    def committed(self, group: str, topic: str, partition: int = 0) -> int | None:
        return self.broker.committed.get(group, {}).get((topic, partition))

    def read_all(self, topic: str) -> list[Record]:
        return self.broker.records(topic)


class KafkaHarness:
    def __init__(self, bootstrap: str) -> None:
        self.settings = KafkaSettings(bootstrap_servers=bootstrap)
        self._open: list[Any] = []

    def create_topic(self, name: str, partitions: int = 1) -> None:
        from kafka.admin import NewTopic

        admin = clients.make_admin(self.settings)
        try:
            admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            admin.close()

    def produce(self, topic: str, key: bytes, value: bytes) -> None:
        p = clients.make_producer(self.settings)
        p.send(topic, key=key, value=value).get(timeout=30)
        p.close()

    def consumer(self, group: str, topics: list[str]) -> KafkaConsumerPort:
        port = KafkaConsumerPort(clients.make_consumer(self.settings, group), topics)
        self._open.append(port)
        return port

    def producer(self) -> KafkaProducerPort:
        port = KafkaProducerPort(clients.make_producer(self.settings))
        self._open.append(port)
        return port

    def committed(self, group: str, topic: str, partition: int = 0) -> int | None:
        from kafka.structs import TopicPartition

        c = clients.make_consumer(self.settings, group)
        try:
            result = c.committed(TopicPartition(topic, partition))
            return result if result is None or isinstance(result, int) else result.offset
        finally:
            c.close(autocommit=False)

    def read_all(self, topic: str, **consumer_config: Any) -> list[Record]:
        """Every record of ``topic`` (``consumer_config``: e.g. isolation_level="read_committed")."""
        from kafka.structs import TopicPartition

        c = clients.make_consumer(self.settings, None, **consumer_config)
        try:
            parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
            c.assign(parts)
            c.seek_to_beginning(*parts)
            ends = c.end_offsets(parts)
            out: list[Record] = []
            deadline = time.monotonic() + 30
            while any(c.position(tp) < ends[tp] for tp in parts) and time.monotonic() < deadline:
                for records in c.poll(timeout_ms=500).values():
                    out += [Record(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers or []))
                            for r in records]
            return out
        finally:
            c.close(autocommit=False)

    def close(self) -> None:
        for port in self._open:
            port.close()
