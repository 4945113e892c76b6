"""The fetcher process: wiring only. Mailboxes come from PostgreSQL (``mailpipe accounts``)."""

from __future__ import annotations

import logging

from ..common import clients
from ..common.objects import check_bucket
from ..common.runtime.kafka_ports import KafkaProducerPort
from ..common.service import start_process
from ..common.settings import load
from .accounts.publish import publish_all
from .accounts.secrets import SecretBox
from .publisher import Publisher
from .settings import FetcherSettings
from .worker import Replica

log = logging.getLogger(__name__)


def main() -> int:
    settings = load(FetcherSettings)
    box = SecretBox(settings.secrets)  # a malformed key fails here, naming the variable
    with clients.connect_postgres(settings.postgres, autocommit=True) as conn:
        box.verify(conn)  # a wrong key fails here, before any mailbox is touched
    health, stop = start_process("fetcher", settings)
    producer = KafkaProducerPort(clients.make_producer(settings.kafka))
    try:
        with clients.connect_postgres(settings.postgres, autocommit=True) as conn:
            publish_all(conn, producer)  # mail.mailboxes is compacted: republishing is harmless
        s3 = clients.make_s3(settings.s3)
        check_bucket(s3, settings.s3.bucket)  # wrong credentials or bucket stop here, naming the variable
        publisher = Publisher(producer, s3, settings.s3.bucket,
                              settings.fetch.claim_check_bytes, topic=settings.fetch.raw_topic)
        replica = Replica(settings.fetch, lambda: clients.connect_postgres(settings.postgres, autocommit=True),
                          publisher, box, health)
        return replica.run(stop)
    finally:
        health.set_ready(False)
        producer.close()
