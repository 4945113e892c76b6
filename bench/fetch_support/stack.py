"""The fetch benchmark's servers, results and its slice of the local stack (a scratch database,
per-run topics, the S3 bucket, the secrets key)."""

from __future__ import annotations

import imaplib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mailpipe.common import clients
from mailpipe.common.settings import KafkaSettings, PostgresSettings, S3Settings
from mailpipe.common.topics import RAW, load_specs
from mailpipe.devtools.scratchdb import scratch_database
from mailpipe.fetcher.accounts.secrets import SecretBox, SecretsSettings
from pydantic import SecretStr


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} is not set: start the stack (`make up`) and load .state/stack.env")
    return value


@dataclass(frozen=True)
class Server:
    """Where the contenders connect: plain IMAP at ``host:port``."""

    label: str
    host: str
    port: int


@dataclass
class Result:
    """One contender's pass over the mailbox."""

    contender: str
    seconds: float
    messages: int
    bytes: int
    note: str = ""
    phases: dict[str, float] = field(default_factory=dict)  # fetcher only: seconds per phase
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group during the run

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


@dataclass
class Stack:
    """The bench's own slice of the local stack: a migrated database (dropped at the end), Kafka
    topics created and deleted per run, the shared S3 bucket and the secrets key."""

    dsn: str
    kafka: KafkaSettings
    s3: Any
    bucket: str
    box: SecretBox
    topics: list[str] = field(default_factory=list)

    def connect(self) -> Any:
        return clients.connect_postgres(PostgresSettings(dsn=SecretStr(self.dsn)), autocommit=True)

    def create_topic(self) -> str:
        """A fresh topic shaped like ``mail.raw`` (same partitions and broker config)."""
        from kafka.admin import NewTopic

        spec = next(s for s in load_specs() if s.name == RAW)
        name = f"bench-raw-{uuid.uuid4().hex[:10]}"
        admin = clients.make_admin(self.kafka)
        try:
            admin.create_topics([NewTopic(name, spec.partitions, 1, topic_configs=spec.config)])
        finally:
            admin.close()
        self.topics.append(name)
        return name

    def delete_topic(self, name: str) -> None:
        admin = clients.make_admin(self.kafka)
        try:
            admin.delete_topics([name])
        finally:
            admin.close()
        self.topics.remove(name)


@contextmanager
def bench_stack() -> Iterator[Stack]:
    """Create the bench database (migrated) and clients; drop the database and any topic left."""
    base = env("MAILPIPE_POSTGRES__DSN")
    with scratch_database(base, "bench") as dsn:
        box = SecretBox(SecretsSettings(keys=SecretStr(env("MAILPIPE_SECRETS__KEYS"))))
        s3 = clients.make_s3(S3Settings(endpoint_url=env("MAILPIPE_S3__ENDPOINT_URL"),
                                        access_key_id=env("MAILPIPE_S3__ACCESS_KEY_ID"),
                                        secret_access_key=SecretStr(env("MAILPIPE_S3__SECRET_ACCESS_KEY")),
                                        bucket=env("MAILPIPE_S3__BUCKET")))
        kafka = KafkaSettings(bootstrap_servers=env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS"))
        stack = Stack(dsn, kafka, s3, env("MAILPIPE_S3__BUCKET"), box)
        with stack.connect() as conn:
            box.verify(conn)
        try:
            yield stack
        finally:
            for topic in list(stack.topics):
                stack.delete_topic(topic)


def imap_login(server: Server, user: str, timeout: float = 120) -> imaplib.IMAP4:
    client = imaplib.IMAP4(server.host, server.port, timeout=timeout)
    client.login(user, env("MAILPIPE_STACK_MAIL_PASSWORD"))
    return client
