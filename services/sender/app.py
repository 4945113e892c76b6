"""The sender process: wiring only."""

from __future__ import annotations

import threading

from ..common import clients
from ..common.health import Health
from ..common.runtime.kafka_ports import KafkaProducerPort
from ..common.secretbox import SealedBox
from ..common.service import run_stage
from ..common.settings import load
from .retry import Retrier
from .settings import SenderSettings
from .stage import SendStage


def main() -> int:
    settings = load(SenderSettings)
    opts = settings.sender
    box = SealedBox(settings.secrets)  # a malformed key fails here, naming the variable

    def connect() -> object:
        return clients.connect_postgres(settings.postgres, autocommit=True)

    with clients.connect_postgres(settings.postgres, autocommit=True) as conn:
        box.verify(conn)  # a key that cannot open the mailboxes' secrets stops the start, not the first send

    def make_stage(health: Health, stop: threading.Event) -> SendStage:
        retrier = Retrier(connect, box, opts, KafkaProducerPort(clients.make_producer(settings.kafka)))
        threading.Thread(target=retrier.run, args=(stop,), name="sender-retry", daemon=True).start()
        return SendStage(connect, box, opts)

    return run_stage("sender", settings, [opts.autoreply_topic, opts.outbound_topic], make_stage)
