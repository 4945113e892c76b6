"""IMAP IDLE latency: from a message's arrival in the server to its record on the topic."""

from __future__ import annotations

import os
import random
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import _common  # bench/ is on sys.path when this file runs as a script
from mailpipe.common import clients
from mailpipe.common.health import Health
from mailpipe.common.runtime.kafka_ports import KafkaProducerPort
from mailpipe.devtools import mailboxes
from mailpipe.fetcher import leases
from mailpipe.fetcher.publisher import Publisher
from mailpipe.fetcher.settings import FetchSettings
from mailpipe.fetcher.worker import Replica

from .stack import Server, Stack, env, imap_login


def idle_latency(stack: Stack, server: Server, deliveries: int) -> tuple[list[float], int]:
    """A push account run by a Replica in a background thread (initial sync, then IDLE), a consumer
    on its topic, and ``deliveries`` APPENDs from another connection 50-100 ms apart. Returns the
    latencies (APPEND completed -> record polled from the topic, matched by UID) and how many never
    arrived."""
    from kafka.structs import TopicPartition

    user = f"bench-idle-{uuid.uuid4().hex[:10]}@mailpipe.test"
    mailbox_id = f"bench-idle-{uuid.uuid4().hex[:10]}"
    topic = stack.create_topic()
    account = mailboxes.local_account(user, mailbox_id, server=server.host, port=server.port, security="none",
                                      ca_file=None, push=True)
    mailboxes.save_account(stack.dsn, account)
    settings = FetchSettings(replica_id=f"bench-idle-{os.getpid()}", raw_topic=topic, lease_seconds=3600)
    producer = KafkaProducerPort(clients.make_producer(stack.kafka))
    replica = Replica(settings, stack.connect, Publisher(producer, stack.s3, stack.bucket, settings.claim_check_bytes,
                                                        topic=topic), stack.box, Health())
    replica.stop = threading.Event()
    seen: dict[int, float] = {}
    consumer = clients.make_consumer(stack.kafka, None, fetch_max_wait_ms=50)
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
    done = threading.Event()
    failure: list[BaseException] = []

    def consume() -> None:
        while not done.is_set():
            polled = consumer.poll(timeout_ms=100)
            now = time.perf_counter()
            for records in polled.values():
                for record in records:
                    seen[int(dict(record.headers)["uid"])] = now

    def push() -> None:
        try:
            with stack.connect() as conn:
                lease = leases.claim_one(conn, settings.replica_id, mailbox_id, settings.lease_seconds)
                assert lease is not None
                replica.run_mailbox(conn, lease)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    threads = [threading.Thread(target=consume, daemon=True), threading.Thread(target=push, daemon=True)]
    for t in threads:
        t.start()
    rng = random.Random(3)
    sender = imap_login(server, user)
    arrived: dict[int, float] = {}
    try:
        def deliver(n: int) -> int:
            raw = _common.message(rng, 50_000 + n, body_words=rng.randrange(100, 260))  # ~3 KB, as most mail is
            typ, data = sender.append("INBOX", None, None, raw)  # type: ignore[arg-type]
            now = time.perf_counter()
            uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))  # type: ignore[union-attr,arg-type]
            arrived[uid] = now
            return uid

        def wait_for(uids: Callable[[], set[int]], timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not uids() <= seen.keys() and time.monotonic() < deadline and not failure:
                time.sleep(0.02)

        # a first message proves the replica is in IDLE and the pipeline warm; it is not counted
        first = deliver(-1)
        wait_for(lambda: {first}, 30)
        if first not in seen:
            raise RuntimeError(f"IDLE: the warm-up message never reached the topic {failure!r}")
        del arrived[first]
        for n in range(deliveries):
            deliver(n)
            time.sleep(rng.uniform(0.05, 0.1))
        wait_for(lambda: set(arrived), 15)
    finally:
        sender.logout()
        replica.stop.set()
        threads[1].join(10)
        done.set()
        threads[0].join(5)
        consumer.close()
        producer.close()
        stack.delete_topic(topic)
        shutil.rmtree(Path(env("MAILPIPE_STACK_MAIL_ROOT")) / user, ignore_errors=True)
    if failure:
        raise RuntimeError("the push replica failed") from failure[0]
    latencies = [seen[uid] - at for uid, at in arrived.items() if uid in seen]
    return latencies, len(arrived) - len(latencies)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p99 of 200 values is the 198th smallest)."""
    ranked = sorted(values)
    return ranked[max(0, min(len(ranked) - 1, -(-len(ranked) * p // 100) - 1))]  # type: ignore[call-overload]
