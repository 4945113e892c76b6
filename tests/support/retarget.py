"""A stage whose outputs go to a per-test topic: the real topics are shared by every test."""

from __future__ import annotations

from mailpipe.common.runtime.loop import Stage
from mailpipe.common.runtime.ports import Output, Record


class Retargeted:
    """``stage`` with every output sent to ``topic`` instead (same key, value and headers)."""

    def __init__(self, stage: Stage, topic: str) -> None:
        self.stage, self.topic, self.name = stage, topic, stage.name

    def handle(self, record: Record) -> list[Output]:
        return [Output(self.topic, o.key, o.value, o.headers) for o in self.stage.handle(record)]
