"""PostgreSQL restarted in the middle of a 5,000-email load into storage: the stage retries, an
exhausted stage is restarted as an orchestrator would, and the result is every email exactly
once with its sighting and link — nothing lost, nothing doubled."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from mailpipe.common.errors import TransientError
from mailpipe.common.messages import Link, MatchedEmail
from mailpipe.common.runtime.loop import StageRunner
from mailpipe.common.runtime.ports import Output
from mailpipe.common.settings import RuntimeSettings
from mailpipe.storage.stage import StoreStage

from tests.conftest import stack_env
from tests.integration.test_storage_store import T0, parsed, record
from tests.support.harness import KafkaHarness

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
EMAILS = 5000
ROOT = Path(__file__).resolve().parents[2]
# Tolerant enough to ride out a restart of a few seconds, but a longer outage still exhausts it.
PATIENT = RuntimeSettings(retry_attempts=6, retry_backoff_seconds=0.2, retry_backoff_max_seconds=2.0,
                          batch_max_records=100, poll_timeout_seconds=0.5)


def stored(dsn: str) -> int:
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            return int(conn.execute("SELECT count(*) FROM email_sightings").fetchone()[0])  # type: ignore[index]
    except psycopg.OperationalError:
        return -1  # the server is restarting


def test_postgres_restart_mid_load_loses_and_doubles_nothing(pg_dsn: str, unique: str) -> None:
    kafka = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    topic = f"test-matched-{unique}"
    kafka.create_topic(topic, 3)
    producer = kafka.producer()
    for n in range(EMAILS):
        matched = MatchedEmail(email=parsed(n, "restart-box", n + 1),
                               links=[Link(entity_type="person", entity_id=f"p{n % 10}", reason="sender")])
        rec = record(matched, n, T0)
        producer.send(Output(topic, rec.key, rec.value))
    producer.flush(60)

    stop, restarts = threading.Event(), []

    def orchestrated() -> None:
        while not stop.is_set():
            stage = StoreStage(lambda: psycopg.connect(pg_dsn, autocommit=True, connect_timeout=2))
            runner = StageRunner(stage, kafka.consumer(f"restart-{unique}", [topic]), kafka.producer(), PATIENT)
            try:
                runner.run(stop)
            except TransientError:
                restarts.append(time.monotonic())  # retries spent: the orchestrator starts a new process
            finally:
                stage.close()

    worker = threading.Thread(target=orchestrated, daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 300
        while stored(pg_dsn) < EMAILS // 4:
            assert time.monotonic() < deadline, "the load did not start"
            time.sleep(0.2)
        subprocess.run([sys.executable, "-m", "mailpipe_stack", "restart", "postgres"], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "deploy" / "local")}, cwd=ROOT,
                       capture_output=True, timeout=120)
        mid = stored(pg_dsn)
        assert mid < EMAILS, "the load finished before the restart: the test proved nothing"
        while stored(pg_dsn) < EMAILS:
            assert time.monotonic() < deadline, f"stuck at {stored(pg_dsn)} of {EMAILS} after the restart"
            time.sleep(0.5)
        time.sleep(2)  # anything doubled would land now
    finally:
        stop.set()
        worker.join(timeout=60)
        kafka.close()
    with psycopg.connect(pg_dsn) as conn:
        emails, sightings, links = conn.execute(
            "SELECT (SELECT count(*) FROM emails), (SELECT count(*) FROM email_sightings), "
            "(SELECT count(*) FROM email_links)").fetchone()  # type: ignore[misc]
        uids = {r[0] for r in conn.execute("SELECT uid FROM email_sightings")}
    assert (emails, sightings, links) == (EMAILS, EMAILS, EMAILS)
    assert uids == set(range(1, EMAILS + 1))
