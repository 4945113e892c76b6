"""The storage process: wiring only."""

from __future__ import annotations

import threading

from ..common import clients
from ..common.health import Health
from ..common.service import run_stage
from ..common.settings import load
from ..common.topics import MATCHED
from ..matcher.follower import Mailboxes, MailboxFollower
from .settings import StorageSettings
from .stage import StoreStage


def main() -> int:
    settings = load(StorageSettings)
    mailboxes = Mailboxes()
    follower = MailboxFollower(clients.make_consumer(settings.kafka, group_id=None), mailboxes)

    def make_stage(health: Health, stop: threading.Event) -> StoreStage:
        follower.start(stop)
        return StoreStage(lambda: clients.connect_postgres(settings.postgres), mailboxes, [follower],
                          clients.make_s3(settings.s3), settings.s3.bucket, settings.storage.ready_timeout_seconds)

    return run_stage("storage", settings, [MATCHED], make_stage)
