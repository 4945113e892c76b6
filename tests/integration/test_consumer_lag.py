"""Each consumer exports its own lag per partition (mailpipe_runtime_consumer_lag_records)."""

from __future__ import annotations

import time

import pytest
from mailpipe.common import clients
from mailpipe.common.runtime.lag import LagReporter
from mailpipe.common.runtime.ports import Partition
from prometheus_client import REGISTRY

from tests.conftest import stack_env
from tests.support.harness import KafkaHarness

METRIC = "mailpipe_runtime_consumer_lag_records"


def lag_sample(stage: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(METRIC, {"stage": stage, "topic": topic, "partition": str(partition)})


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_a_consumer_behind_by_n_records_reports_n(unique: str) -> None:
    h = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    topic, stage = f"lag{unique}", f"lag-{unique}"
    h.create_topic(topic, partitions=2)
    producer = clients.make_producer(h.settings)
    for partition, count in ((0, 10), (1, 3)):
        for i in range(count):
            producer.send(topic, key=b"k", value=str(i).encode(), partition=partition)
    producer.flush(timeout=30)
    producer.close()

    consumer = h.consumer(f"g{unique}", [topic])
    taken = {0: 0, 1: 0}
    deadline = time.monotonic() + 60
    while sum(taken.values()) < 4:  # take 4 of the 13 records, whichever partitions they come from
        assert time.monotonic() < deadline, "the consumer got no records"
        for record in consumer.poll(1.0, 4 - sum(taken.values())):
            taken[record.partition] += 1

    reporter = LagReporter(consumer, stage)
    reporter.report()
    assert lag_sample(stage, topic, 0) == 10 - taken[0]
    assert lag_sample(stage, topic, 1) == 3 - taken[1]

    while sum(taken.values()) < 13:
        assert time.monotonic() < deadline, "the consumer did not get every record"
        for record in consumer.poll(1.0, 13):
            taken[record.partition] += 1
    reporter.report()
    assert (lag_sample(stage, topic, 0), lag_sample(stage, topic, 1)) == (0, 0)
    h.close()


class _Lags:
    def __init__(self) -> None:
        self.lags: dict[Partition, int] = {}
        self.calls = 0

    def lag(self) -> dict[Partition, int]:
        self.calls += 1
        return dict(self.lags)


def test_a_revoked_partition_loses_its_series_and_refreshes_are_rate_limited() -> None:
    source, now = _Lags(), [100.0]
    reporter = LagReporter(source, "lag-unit", interval_seconds=5, clock=lambda: now[0])
    source.lags = {("t", 0): 7, ("t", 1): 2}
    reporter.maybe_report()
    reporter.maybe_report()  # within the interval: no second broker request
    assert source.calls == 1 and lag_sample("lag-unit", "t", 1) == 2
    source.lags = {("t", 0): 5}  # partition 1 went to another member
    now[0] += 5
    reporter.maybe_report()
    assert lag_sample("lag-unit", "t", 0) == 5 and lag_sample("lag-unit", "t", 1) is None


def test_a_revoked_partition_loses_its_series_at_once() -> None:
    source = _Lags()
    reporter = LagReporter(source, "lag-revoke", interval_seconds=5, clock=lambda: 0.0)
    source.lags = {("t", 0): 7, ("t", 1): 2}
    reporter.report()
    reporter.forget([("t", 1)])  # the rebalance listener: before any next refresh
    assert lag_sample("lag-revoke", "t", 1) is None and lag_sample("lag-revoke", "t", 0) == 7
