"""A consuming process on the shared service wiring (``service.run_stage``, as the parser, matcher and
storage use it) over a topic of the test's own, with a stage that produces nothing. Settings come
from the environment (``MAILPIPE_KAFKA__BOOTSTRAP_SERVERS``, ``MAILPIPE_RUNTIME__GROUP_ID``,
``MAILPIPE_HTTP__PORT``); the endpoint's address is in the ``starting`` log line.

    python -m tests.integration.readiness_child TOPIC
"""

from __future__ import annotations

import sys
import threading

from mailpipe.common.health import Health
from mailpipe.common.runtime.loop import Stage
from mailpipe.common.runtime.ports import Output, Record
from mailpipe.common.service import run_stage
from mailpipe.common.settings import ServiceSettings, load


class Discard(Stage):
    name = "readiness-probe"

    def handle(self, record: Record) -> list[Output]:
        return []


def main(topic: str) -> int:
    def make_stage(health: Health, stop: threading.Event) -> Stage:
        return Discard()

    return run_stage("readiness-probe", load(ServiceSettings), [topic], make_stage)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
