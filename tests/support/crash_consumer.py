"""Runs the consumer loop in a child process that SIGKILLs itself after its outputs are flushed
and before the commit: the worst moment to die. Used by the crash test."""

from __future__ import annotations

import os
import signal
import sys

from mailpipe.common import clients
from mailpipe.common.runtime.kafka_ports import KafkaConsumerPort, KafkaProducerPort
from mailpipe.common.runtime.loop import Stage, StageRunner
from mailpipe.common.runtime.ports import Output, Record
from mailpipe.common.settings import KafkaSettings, RuntimeSettings


class Echo(Stage):
    name = "echo"

    def __init__(self, out: str) -> None:
        self.out = out

    def handle(self, record: Record) -> list[Output]:
        return [Output(self.out, record.key, record.value)]


class DieAfterFlush(KafkaProducerPort):
    def flush(self, timeout_seconds: float) -> None:
        super().flush(timeout_seconds)
        os.kill(os.getpid(), signal.SIGKILL)


def main(bootstrap: str, group: str, src: str, out: str) -> None:
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    consumer = KafkaConsumerPort(clients.make_consumer(settings, group), [src])
    runner = StageRunner(Echo(out), consumer, DieAfterFlush(clients.make_producer(settings)), RuntimeSettings())
    while True:
        runner.run_once()


if __name__ == "__main__":
    main(*sys.argv[1:5])
