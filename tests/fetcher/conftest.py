"""Fixtures for the fetcher against the real Dovecot, Kafka, S3 and PostgreSQL of the local stack.

Each test gets its own database (``pg_dsn``), its own ``mail.raw``-shaped topic and its own
Dovecot users, so tests never see each other's mail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mailpipe.common import admin, clients
from mailpipe.common.health import Health
from mailpipe.common.messages import Sighting
from mailpipe.common.runtime.kafka_ports import KafkaProducerPort
from mailpipe.common.runtime.ports import Record
from mailpipe.common.settings import KafkaSettings, PostgresSettings
from mailpipe.devtools import mailboxes
from mailpipe.devtools.processes import ServiceProcess, free_port, stop_all
from mailpipe.fetcher import leases
from mailpipe.fetcher.accounts.model import Account
from mailpipe.fetcher.accounts.secrets import SecretBox, SecretsSettings
from mailpipe.fetcher.publisher import Publisher
from mailpipe.fetcher.settings import FetchSettings
from mailpipe.fetcher.worker import Replica
from pydantic import SecretStr

from tests.conftest import stack_env, stack_s3
from tests.support.harness import KafkaHarness


@dataclass
class FetchWorld:
    """One test's fetcher: a database, a topic, a replica object whose runs happen in-process."""

    dsn: str
    topic: str
    unique: str
    settings: FetchSettings
    conn: Any
    box: SecretBox
    replica: Replica
    kafka: KafkaHarness
    accounts: list[str] = field(default_factory=list)

    def user(self, name: str) -> str:
        return f"{name}-{self.unique}@mailpipe.test"

    def add(self, account: Account, password: str | None = None) -> Account:
        mailboxes.save_account(self.dsn, account, password)
        return account

    def run(self, mailbox_id: str) -> str:
        """One run of the mailbox (as a replica would), returning how it ended."""
        lease = leases.claim_one(self.conn, self.settings.replica_id, mailbox_id, self.settings.lease_seconds)
        assert lease is not None, "the mailbox is leased by someone else"
        self.replica.run_mailbox(self.conn, lease)
        return str(self.conn.execute("SELECT outcome FROM fetch_runs WHERE mailbox_id = %s ORDER BY run_id DESC "
                                     "LIMIT 1", (mailbox_id,)).fetchone()[0])

    def records(self, mailbox_id: str | None = None) -> list[Record]:
        out = self.kafka.read_all(self.topic)
        return [r for r in out if mailbox_id is None or r.header("mailbox") == mailbox_id.encode()]

    def sightings(self, mailbox_id: str) -> list[Sighting]:
        return [Sighting(mailbox_id=mailbox_id, folder=(r.header("folder") or b"").decode(),
                         uidvalidity=int(r.header("uidvalidity") or 0), uid=int(r.header("uid") or 0))
                for r in self.records(mailbox_id)]

    def scalar(self, sql: str, *params: Any) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None


@pytest.fixture
def world(pg_dsn: str, unique: str) -> Iterator[FetchWorld]:
    topic = f"test-raw-{unique}"
    kafka = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
    kafka.create_topic(topic, 3)
    kafka.create_topic(f"{topic}.dlq", 1)
    settings = FetchSettings(replica_id=f"test-{unique}", batch_size=4, lease_seconds=30, timeout_seconds=10,
                             raw_topic=topic, max_message_bytes=200_000, claim_check_bytes=100_000)
    box = SecretBox(SecretsSettings(keys=SecretStr(stack_env("MAILPIPE_SECRETS__KEYS"))))
    producer = KafkaProducerPort(clients.make_producer(KafkaSettings(bootstrap_servers=stack_env(
        "MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))))
    s3, bucket = stack_s3()
    publisher = Publisher(producer, s3, bucket, settings.claim_check_bytes, topic=topic)
    conn = clients.connect_postgres(PostgresSettings(dsn=SecretStr(pg_dsn)), autocommit=True)
    box.verify(conn)
    replica = Replica(settings, lambda: clients.connect_postgres(PostgresSettings(dsn=SecretStr(pg_dsn)),
                                                                 autocommit=True), publisher, box, Health())
    replica.stop = threading.Event()
    yield FetchWorld(pg_dsn, topic, unique, settings, conn, box, replica, kafka)
    conn.close()
    producer.close()
    kafka.close()


@pytest.fixture
def replicas(world: FetchWorld, tmp_path: Path) -> Iterator[Callable[..., dict[str, ServiceProcess]]]:
    """Starts fetcher replicas as processes on this test's database and topic; stops them after."""
    admin.create_topics()  # a replica publishes mailbox options to mail.mailboxes at start
    started: dict[str, ServiceProcess] = {}

    def start(names: list[str], **settings: str) -> dict[str, ServiceProcess]:
        for name in names:
            env = {"MAILPIPE_POSTGRES__DSN": world.dsn, "MAILPIPE_FETCH__RAW_TOPIC": world.topic,
                   "MAILPIPE_FETCH__REPLICA_ID": name, "MAILPIPE_FETCH__CLAIM_INTERVAL_SECONDS": "0.2",
                   **{f"MAILPIPE_FETCH__{k.upper()}": v for k, v in settings.items()}}
            started[name] = ServiceProcess("fetcher", env, tmp_path / f"{name}.log", free_port())
            started[name].start()
        return started

    yield start
    stop_all(started)
    for log in sorted(tmp_path.glob("*.log")):
        print(f"===== {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def message(n: int, tag: str, body: str = "hello", extra_headers: str = "") -> bytes:
    """A small, distinct message."""
    return (f"Message-ID: <m{n}-{tag}@mailpipe.test>\r\nFrom: Alice <alice@acme.example>\r\n"
            f"To: sales@mailpipe.test\r\nSubject: message {n} {tag}\r\n{extra_headers}"
            f"Date: Mon, 5 Oct 2026 10:00:00 +0000\r\n\r\n{body}\r\n").encode()


@pytest.fixture
def run(world: FetchWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """``mailpipe <argv>`` in-process against this test's world: (exit status, stdout, stderr)."""
    from mailpipe import cli

    monkeypatch.setenv("MAILPIPE_POSTGRES__DSN", world.dsn)
    monkeypatch.setenv("MAILPIPE_FETCH__RAW_TOPIC", world.topic)
    monkeypatch.setenv("BOX_PASSWORD", stack_env("MAILPIPE_STACK_MAIL_PASSWORD"))
    monkeypatch.setenv("WRONG_PASSWORD", "not-the-password")

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return invoke
