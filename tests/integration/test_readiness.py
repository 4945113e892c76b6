"""A consuming service's ``/readyz`` says it has joined its consumer group: 503 while the join is
held back, 200 once the group gave it an assignment, even an empty one (a replica beyond the
partition count is healthy and ready). The join is held back honestly: a member already in the
group stops polling, so the broker keeps the group rebalancing until that member rejoins."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka.structs import TopicPartition
from mailpipe.common import clients

from tests.conftest import stack_env
from tests.support.harness import KafkaHarness

ROOT = Path(__file__).resolve().parents[2]


def status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


class Child:
    """``readiness_child`` as a process; its stderr lines collected by a thread."""

    def __init__(self, topic: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.integration.readiness_child", topic],
                                     cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def port(self) -> int:
        """The endpoint's port, from the ``starting`` line."""
        while True:
            assert self.proc.poll() is None or not self.lines.empty(), f"the child exited: {self.seen}"
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            self.seen.append(line)
            try:
                fields: dict[str, Any] = json.loads(line)
            except ValueError:
                continue  # not a log line (an interpreter error before logging started): kept in seen
            if fields.get("msg") == "starting":
                return int(str(fields["metrics_url"]).rsplit(":", 1)[1].split("/", 1)[0])

    def stop(self) -> int:
        """SIGTERM, then the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def close(self) -> None:
        """Kill the process if it still runs; close its pipe once drained."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self._drainer.join(timeout=30)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@pytest.fixture
def kafka() -> Iterator[KafkaHarness]:
    h = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    yield h
    h.close()


def group_state(admin: Any, group: str) -> tuple[str, int]:
    found = admin.describe_groups([group])[group]
    return str(found["group_state"]), len(found["members"])


@pytest.mark.kafka
@pytest.mark.timeout(180)
def test_readyz_turns_200_only_once_the_consumer_group_join_completed(kafka: KafkaHarness, unique: str) -> None:
    topic, group = f"ready{unique}", f"g-ready{unique}"
    kafka.create_topic(topic, partitions=1)
    # Sorts before the child's member id ("mailpipe-..."): the range assignor gives it the only
    # partition, so the child's first assignment is empty. A long rebalance timeout (kafka-python
    # sends max.poll.interval.ms) lets it hold a join back for as long as it does not poll.
    blocker = clients.make_consumer(kafka.settings, group, client_id="a-readiness-blocker",
                                    max_poll_interval_ms=150_000)
    admin = clients.make_admin(kafka.settings)
    child: Child | None = None
    try:
        blocker.subscribe([topic])
        while not blocker.assignment():
            blocker.poll(timeout_ms=500)
        assert group_state(admin, group) == ("Stable", 1)

        child = Child(topic, {"MAILPIPE_KAFKA__BOOTSTRAP_SERVERS": kafka.settings.bootstrap_servers,
                              "MAILPIPE_RUNTIME__GROUP_ID": group, "MAILPIPE_HTTP__HOST": "127.0.0.1",
                              "MAILPIPE_HTTP__PORT": "0"})
        port = child.port()
        # The child's JoinGroup reached the broker; the blocker has not rejoined, so the group
        # cannot complete the rebalance and the child has no assignment yet.
        while group_state(admin, group)[0] != "PreparingRebalance":
            assert child.proc.poll() is None, f"the child exited: {child.seen}"
            time.sleep(0.2)
        assert status(port, "/healthz") == 200
        assert status(port, "/readyz") == 503, "ready before the consumer joined its group"
        assert group_state(admin, group)[0] == "PreparingRebalance"  # still held back while we asked

        while status(port, "/readyz") != 200:  # the blocker rejoins: the rebalance completes
            assert child.proc.poll() is None, f"the child exited: {child.seen}"
            blocker.poll(timeout_ms=300)
        assert group_state(admin, group) == ("Stable", 2)
        assert blocker.assignment() == {TopicPartition(topic, 0)}  # the child was ready with none

        assert child.stop() == 0, child.seen
    finally:
        if child is not None:
            child.close()
        blocker.close(autocommit=False)
        admin.close()
