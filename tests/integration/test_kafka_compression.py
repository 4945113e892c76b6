"""Compressed record batches against the real broker: what the one producer factory sends with the
configured codec (the default one included) the runtime's consumer port reads back intact (keys,
values, headers, order per partition), records of several codecs on one topic (producers of an
older and a newer release during an upgrade) read back alike, and the SASL_SSL listener carries
compressed batches too."""

from __future__ import annotations

import random
import time

import pytest
from kafka.admin import NewTopic
from mailpipe.common import clients
from mailpipe.common.runtime.kafka_ports import KafkaConsumerPort, KafkaProducerPort
from mailpipe.common.runtime.ports import Output, Record
from mailpipe.common.settings import KafkaSettings

from tests.conftest import stack_env


def _plain(**fields: object) -> KafkaSettings:
    return KafkaSettings.model_validate({"bootstrap_servers": stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"),
                                         "request_timeout_seconds": 10, **fields})


def _sasl_ssl(**fields: object) -> KafkaSettings:
    return KafkaSettings.model_validate({
        "bootstrap_servers": stack_env("MAILPIPE_STACK_KAFKA_SASL_SSL_BOOTSTRAP"), "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": stack_env("MAILPIPE_STACK_KAFKA_SASL_USERNAME"),
        "sasl_password": stack_env("MAILPIPE_STACK_KAFKA_SASL_PASSWORD"),
        "ssl_ca_file": stack_env("MAILPIPE_STACK_TLS_CA"), "request_timeout_seconds": 10, **fields})


def _outputs(topic: str, count: int, tag: str) -> list[Output]:
    """JSON-like values from a few hundred bytes to ~300 KiB (compressible, as envelopes are), with
    a binary tail so a codec that mangled bytes would show, and routing headers."""
    rng = random.Random(count)
    outputs = []
    for n in range(count):
        body = (f'{{"n": {n}, "tag": "{tag}", "text": "' + "order delivery invoice " * rng.randrange(10, 12000)
                + '"}').encode()
        outputs.append(Output(topic, f"mbx-{n % 3}".encode(), body + rng.randbytes(64),
                              [("type", b"mail.parsed"), ("n", str(n).encode())]))
    return outputs


def _create(settings: KafkaSettings, topic: str, partitions: int = 3) -> None:
    admin = clients.make_admin(settings)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def _produce(settings: KafkaSettings, outputs: list[Output]) -> float:
    """Send and flush as the runtime does; every send acknowledged. Returns the producer's
    compression rate (compressed / uncompressed bytes of its batches; 1.0: none)."""
    raw = clients.make_producer(settings)
    producer = KafkaProducerPort(raw)
    try:
        sent = [producer.send(o) for o in outputs]
        producer.flush(60)
        assert [s.error() for s in sent] == [None] * len(sent)
        return float(raw.metrics()["producer-metrics"]["compression-rate-avg"])
    finally:
        producer.close()


def _consume(settings: KafkaSettings, topic: str, group: str, count: int) -> list[Record]:
    """``count`` records through the runtime's consumer port (subscribe, poll batches, commit)."""
    consumer = KafkaConsumerPort(clients.make_consumer(settings, group), [topic])
    records: list[Record] = []
    try:
        deadline = time.monotonic() + 60
        while len(records) < count and time.monotonic() < deadline:
            batch = consumer.poll(0.5, 200)
            records += batch
            consumer.commit({(r.topic, r.partition): r.offset + 1 for r in batch})
    finally:
        consumer.close()
    return records


def _same(outputs: list[Output], records: list[Record]) -> None:
    assert len(records) == len(outputs)
    by_header = {dict(r.headers)["n"]: r for r in records}
    for o in outputs:
        r = by_header[dict(o.headers)["n"]]
        assert (r.key, r.value, r.headers) == (o.key, o.value, o.headers)
    for partition in {r.partition for r in records}:  # order within a partition is the send order
        ns = [int(dict(r.headers)["n"]) for r in records if r.partition == partition]
        assert ns == sorted(ns)


@pytest.mark.kafka
@pytest.mark.timeout(120)
@pytest.mark.parametrize("codec", ["default", "lz4", "zstd", "gzip"])
def test_compressed_batches_are_consumed_intact(codec: str, unique: str) -> None:
    settings = _plain() if codec == "default" else _plain(compression_type=codec)
    assert settings.compression_type != "none", "the default compresses (bench/kafka_tuning.py chose it)"
    topic = f"t{unique}.compressed"
    _create(settings, topic)
    outputs = _outputs(topic, 120, codec)
    rate = _produce(settings, outputs)
    assert rate < 0.5, f"{codec}: batches were not compressed (rate {rate})"
    _same(outputs, _consume(settings, topic, f"g{unique}", len(outputs)))


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_one_topic_with_batches_of_every_codec_reads_back_alike(unique: str) -> None:
    # during an upgrade old producers send uncompressed batches and new ones compressed: a
    # consumer of either release reads both
    topic = f"t{unique}.mixed"
    _create(_plain(), topic, partitions=1)
    outputs: list[Output] = []
    for index, codec in enumerate(["none", "lz4", "zstd", "gzip", "none"]):
        part = [Output(o.topic, o.key, o.value, [("type", b"mail.parsed"), ("n", str(index * 100 + n).encode())])
                for n, o in enumerate(_outputs(topic, 30, codec))]
        _produce(_plain(compression_type=codec), part)
        outputs += part
    _same(outputs, _consume(_plain(), topic, f"g{unique}", len(outputs)))


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_sasl_ssl_carries_compressed_batches(unique: str) -> None:
    settings = _sasl_ssl()
    assert settings.compression_type != "none"
    topic = f"t{unique}.sasl.compressed"
    _create(settings, topic)
    outputs = _outputs(topic, 60, "sasl")
    assert _produce(settings, outputs) < 0.5
    _same(outputs, _consume(settings, topic, f"g{unique}", len(outputs)))
