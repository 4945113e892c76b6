"""The storage process: wiring only."""

from __future__ import annotations

import threading

from ..common import clients
from ..common.health import Health
from ..common.service import run_stage
from ..common.settings import load
from ..common.topics import MATCHED
from .settings import StorageSettings
from .stage import StoreStage


def main() -> int:
    settings = load(StorageSettings)

    def make_stage(health: Health, stop: threading.Event) -> StoreStage:
        return StoreStage(lambda: clients.connect_postgres(settings.postgres))

    return run_stage("storage", settings, [MATCHED], make_stage)
