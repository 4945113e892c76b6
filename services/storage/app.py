"""The storage process: wiring only."""

from __future__ import annotations

import threading

from ..common import clients
from ..common.follower import MailboxFollower
from ..common.health import Health
from ..common.mailboxes import Mailboxes
from ..common.objects import check_bucket
from ..common.service import run_stage
from ..common.settings import load
from ..common.topics import MATCHED
from .retention import retention_loop
from .settings import StorageSettings
from .stage import StoreStage
from .unreferenced import SweepPolicy


def main() -> int:
    settings = load(StorageSettings)
    s3 = clients.make_s3(settings.s3)
    check_bucket(s3, settings.s3.bucket)  # wrong credentials or bucket stop here, naming the variable
    mailboxes = Mailboxes()
    follower = MailboxFollower(clients.make_consumer(settings.kafka, group_id=None), mailboxes)

    def make_stage(health: Health, stop: threading.Event) -> StoreStage:
        follower.start(stop)
        if settings.storage.retention_interval_seconds:
            threading.Thread(target=retention_loop, name="retention", daemon=True, args=(
                lambda: clients.connect_postgres(settings.postgres, autocommit=True), s3, settings.s3.bucket,
                mailboxes, follower.caught_up, settings.storage.retention_interval_seconds, stop,
                SweepPolicy.from_options(settings.storage))).start()
        return StoreStage(lambda: clients.connect_postgres(settings.postgres, autocommit=True), mailboxes, [follower],
                          s3, settings.s3.bucket, settings.storage.ready_timeout_seconds)

    return run_stage("storage", settings, [MATCHED], make_stage)
