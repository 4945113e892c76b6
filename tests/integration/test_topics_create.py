"""``mailpipe topics create`` against the real broker of the stack: missing topics created, existing
ones compared with their contract (partitions, replication), idempotent. Every test works on topics
named after the ``unique`` fixture, declared by ``TopicSpec``s of its own, never on the project's."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from kafka.admin import NewTopic
from mailpipe.common import clients
from mailpipe.common.errors import DependencyConfigError
from mailpipe.common.settings import ServiceSettings, load
from mailpipe.common.topics import TopicSpec
from mailpipe.common.topicsync import PartitionsBelowSchemaError, sync_topics

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


@pytest.fixture
def admin(unique: str) -> Iterator[Any]:
    client = clients.make_admin(load(ServiceSettings).kafka)
    yield client
    mine = [t for t in client.list_topics() if unique in t]
    if mine:
        client.delete_topics(mine)
    client.close()


def partitions(admin: Any, name: str) -> int:
    return len(admin.describe_topics([name])[0]["partitions"])


def test_missing_topics_are_created_and_a_second_run_changes_nothing(admin: Any, unique: str) -> None:
    specs = [TopicSpec(f"t{unique}.a", 3), TopicSpec(f"t{unique}.b", 1, {"cleanup.policy": "compact"})]
    first = sync_topics(admin, specs, 1)
    assert first["created"] == [f"t{unique}.a", f"t{unique}.b"] and first["existing"] == []
    assert partitions(admin, f"t{unique}.a") == 3
    again = sync_topics(admin, specs, 1)
    assert again == {"created": [], "existing": [f"t{unique}.a", f"t{unique}.b"], "partitions_added": {},
                     "more_partitions_than_declared": {}, "replication_below_setting": {}}


def test_fewer_partitions_than_declared_fail_naming_the_topic_the_counts_and_the_way_out(
        admin: Any, unique: str) -> None:
    short, missing = f"t{unique}.short", f"t{unique}.missing"
    admin.create_topics([NewTopic(short, 2, 1)], wait_for_metadata=True)
    with pytest.raises(PartitionsBelowSchemaError) as caught:
        sync_topics(admin, [TopicSpec(short, 4), TopicSpec(missing, 1)], 1)
    message = str(caught.value)
    assert f"{short}: 2 partitions on the cluster, 4 declared" in message and "--add-partitions" in message
    assert "per-key order" in message
    assert partitions(admin, short) == 2 and missing not in admin.list_topics()  # nothing changed


def test_add_partitions_grows_a_topic_to_its_declared_count_once(admin: Any, unique: str) -> None:
    short = f"t{unique}.short"
    admin.create_topics([NewTopic(short, 2, 1)], wait_for_metadata=True)
    grown = sync_topics(admin, [TopicSpec(short, 4)], 1, add_partitions=True)
    assert grown["partitions_added"] == {short: {"from": 2, "to": 4}} and partitions(admin, short) == 4
    assert sync_topics(admin, [TopicSpec(short, 4)], 1)["partitions_added"] == {}  # matching now: no error


def test_more_partitions_than_declared_are_kept_and_reported(admin: Any, unique: str) -> None:
    wide = f"t{unique}.wide"
    admin.create_topics([NewTopic(wide, 5, 1)], wait_for_metadata=True)
    report = sync_topics(admin, [TopicSpec(wide, 2)], 1)
    assert report["more_partitions_than_declared"] == {wide: {"existing": 5, "declared": 2}}
    assert report["partitions_added"] == {} and partitions(admin, wide) == 5


def test_a_replication_factor_below_the_setting_is_reported(admin: Any, unique: str) -> None:
    thin = f"t{unique}.thin"
    admin.create_topics([NewTopic(thin, 1, 1)], wait_for_metadata=True)
    report = sync_topics(admin, [TopicSpec(thin, 1)], 3)  # the setting asks 3; the one broker holds 1
    assert report["replication_below_setting"] == {thin: {"replicas": 1, "setting": 3}}


def test_a_broker_refusal_is_raised_classified_not_as_a_raw_kafka_error(admin: Any, unique: str) -> None:
    # one broker cannot hold 3 replicas of a new topic: the broker's refusal is configuration
    with pytest.raises(DependencyConfigError) as caught:
        sync_topics(admin, [TopicSpec(f"t{unique}.three", 1)], 3)
    assert caught.value.dependency == "kafka"


def test_the_command_line_passes_add_partitions() -> None:
    """The flag reaches sync_topics from `mailpipe topics create` (on the stack's own topics, which
    match their contract: nothing to add, nothing created)."""
    done = subprocess.run([sys.executable, "-m", "mailpipe", "topics", "create", "--add-partitions"],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["partitions_added"] == {} and report["created"] == []
