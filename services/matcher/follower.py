"""The matcher's follower of ``crm.entities``: every matcher replica reads the compacted topic whole
into its EntityIndex (the shared follower machinery is ``mailpipe.common.follower``)."""

from __future__ import annotations

from typing import Any

from ..common import metrics
from ..common.follower import CompactedFollower
from ..common.messages import EntityEnvelope
from ..common.topics import ENTITIES
from .directory import EntityIndex


class DirectoryFollower(CompactedFollower):
    """Keeps an EntityIndex in step with ``crm.entities``."""

    def __init__(self, consumer: Any, index: EntityIndex) -> None:
        self.index = index
        super().__init__(consumer, ENTITIES, lambda v: index.upsert(EntityEnvelope.model_validate_json(v).payload),
                         index.delete, lambda: len(index))

    def on_progress(self) -> None:
        metrics.DIRECTORY_ENTITIES.set(len(self.index))
