"""The matcher process: wiring only."""

from __future__ import annotations

import threading

from ..common import clients
from ..common.health import Health
from ..common.service import run_stage
from ..common.settings import ServiceSettings, load
from ..common.topics import PARSED
from .directory import EntityIndex
from .follower import DirectoryFollower
from .stage import MatchStage


def main() -> int:
    settings = load(ServiceSettings)
    index = EntityIndex()
    follower = DirectoryFollower(clients.make_consumer(settings.kafka, group_id=None), index)

    def make_stage(health: Health, stop: threading.Event) -> MatchStage:
        follower.start(stop)
        return MatchStage(index, follower)

    return run_stage("matcher", settings, [PARSED], make_stage)
