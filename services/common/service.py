"""Process wiring shared by every service: logging, the HTTP endpoint, signals, the stage loop."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from . import clients, logs
from .errors import DeadLetterRatioExceeded, TransientError
from .health import Health, serve
from .runtime.kafka_ports import KafkaConsumerPort, KafkaProducerPort
from .runtime.loop import Stage, StageRunner
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
    1 when a dependency stayed down or too much input was poison (nothing of the batch committed)."""
    health, stop = start_process(name, settings)
    producer = KafkaProducerPort(clients.make_producer(settings.kafka))
    stage = make_stage(health, stop)
    group = settings.runtime.group_id or f"mailpipe-{name}"
    # The listener only fires inside poll(), by which time `runner` below is bound.
    consumer = KafkaConsumerPort(clients.make_consumer(settings.kafka, group), input_topics,
                                 on_revoked=lambda parts: runner.on_revoked(parts))
    runner = StageRunner(stage, consumer, producer, settings.runtime, on_progress=health.progress)
    health.set_ready(True)
    try:
        runner.run(stop)
    except (TransientError, DeadLetterRatioExceeded) as exc:
        log.error("stopping without commit", extra={"stage": stage.name, "error": str(exc)})
        return 1
    finally:
        health.set_ready(False)
        consumer.close()
        producer.close()
    log.info("stopped", extra={"stage": stage.name})
    return 0
