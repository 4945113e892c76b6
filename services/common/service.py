"""Process wiring shared by every service: logging, the HTTP endpoint, signals, the stage loop."""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Callable, Sequence

from . import clients, logs
from .health import Health, serve
from .runtime.kafka_ports import KafkaConsumerPort, KafkaProducerPort
from .runtime.lag import LagReporter
from .runtime.loop import Stage, StageRunner
from .runtime.ports import Partition
from .settings import ServiceSettings, masked

log = logging.getLogger(__name__)


def start_process(name: str, settings: ServiceSettings) -> tuple[Health, threading.Event]:
    """Configure logging, log the effective settings (secrets masked), serve /metrics and health,
    and turn SIGTERM/SIGINT into a stop event."""
    logs.configure(settings.log.level)
    health = Health()
    server = serve(health, settings.http.host, settings.http.port)
    host, port = str(server.server_address[0]), server.server_address[1]
    log.info("starting", extra={"stage": name, "settings": masked(settings),
                                "metrics_url": f"http://{host}:{port}/metrics"})
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return health, stop


def run_stage(name: str, settings: ServiceSettings, input_topics: list[str],
              make_stage: Callable[[Health, threading.Event], Stage]) -> int:
    """Run a consuming stage until SIGTERM. Returns the process exit code: 0 on a clean stop,
    1 when a dependency stayed down or too much input was poison (nothing of the batch committed).

    ``/readyz`` turns ready when the consumer has joined its group (its first assignment arrived,
    even an empty one: a replica beyond the partition count is healthy) and not ready again on the
    way out."""
    health, stop = start_process(name, settings)
    producer = KafkaProducerPort(clients.make_producer(settings.kafka))
    stage = make_stage(health, stop)
    group = settings.runtime.group_id or f"mailpipe-{name}"
    # The listener only fires inside poll(), by which time `runner` below is bound.
    def revoked(parts: Sequence[Partition]) -> None:
        lag.forget(parts)  # their new owner reports them; two owners' series would double the sum
        runner.on_revoked(parts)

    def assigned(parts: Sequence[Partition]) -> None:
        health.set_ready(True)  # joined: before this the first poll is still waiting for the group

    consumer = KafkaConsumerPort(clients.make_consumer(settings.kafka, group), input_topics,
                                 on_revoked=revoked, on_assigned=assigned)
    lag = LagReporter(consumer, name)  # refreshed after polls, at most every few seconds

    def progress() -> None:
        health.progress()
        lag.maybe_report()

    runner = StageRunner(stage, consumer, producer, settings.runtime, on_progress=progress)
    try:
        runner.run(stop)
    finally:
        health.set_ready(False)
        consumer.close()
        producer.close()
    log.info("stopped", extra={"stage": stage.name})
    return 0


EXIT_CONFIGURATION, EXIT_FAILURE = 2, 1


def run_service(name: str) -> int:
    """``mailpipe run <name>``: the service's ``main()`` with one exit path. Whatever ends it (a
    dependency that stayed down, a configuration a dependency refuses, too much poison, a bug,
    a Kafka client error that escaped the loop) is one JSON line: ``error_kind``, the dependency
    and ``MAILPIPE_*`` variables at fault, the traceback as a field. Returns the exit code: 0 on
    SIGTERM, 2 for configuration (a restart will not help), 1 otherwise; nothing was committed."""
    logs.configure()  # before the settings are read: their errors are JSON lines too
    try:
        return int(importlib.import_module(f"mailpipe.{name}.app").main())
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        fields = logs.fault_fields(exc)
        log.critical("stopping without commit", exc_info=exc, extra={"stage": name, **fields})
        return EXIT_CONFIGURATION if fields["error_kind"] == "configuration" else EXIT_FAILURE
