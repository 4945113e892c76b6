"""A stage whose outputs go to a per-test topic: the real topics are shared by every test."""

from __future__ import annotations

from collections.abc import Sequence

from mailpipe.common.errors import PoisonMessage
from mailpipe.common.runtime.loop import Outcome, Rejected, Stage
from mailpipe.common.runtime.ports import Output, Record


class Retargeted(Stage):
    """``stage`` with every output sent to ``topic`` instead (same key, value and headers); batched
    and durable as ``stage`` is."""

    def __init__(self, stage: Stage, topic: str) -> None:
        self.stage, self.topic, self.name = stage, topic, stage.name

    def handle(self, record: Record) -> list[Output]:
        return [Output(self.topic, o.key, o.value, o.headers) for o in self.stage.handle(record)]

    def handle_batch(self, records: Sequence[Record]) -> list[Outcome]:
        return [o if isinstance(o, PoisonMessage) else [Output(self.topic, x.key, x.value, x.headers) for x in o]
                for o in self.stage.handle_batch(records)]

    def durable(self) -> list[Rejected]:
        return self.stage.durable()

    @property
    def batched(self) -> bool:
        return self.stage.batched
