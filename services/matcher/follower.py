"""Keeps an EntityIndex in step with the compacted ``crm.entities`` topic, on a daemon thread."""

from __future__ import annotations

import logging
import threading
from typing import Any

from pydantic import ValidationError

from ..common import metrics
from ..common.messages import EntityEnvelope
from ..common.topics import ENTITIES
from .directory import EntityIndex

log = logging.getLogger(__name__)


class DirectoryFollower:
    """Reads ``crm.entities`` from the beginning with no consumer group (every matcher replica needs
    the whole directory) and applies each record. ``caught_up`` is set once the index holds every
    record that existed at start, so the matcher never matches against a half-loaded directory."""

    def __init__(self, consumer: Any, index: EntityIndex) -> None:
        from kafka.structs import TopicPartition

        self._c, self.index = consumer, index
        parts = [TopicPartition(ENTITIES, p) for p in sorted(consumer.partitions_for_topic(ENTITIES) or [])]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        self._targets = {tp: off for tp, off in consumer.end_offsets(parts).items() if off > 0}
        self.caught_up = threading.Event()
        self.failed: BaseException | None = None
        if not self._targets:
            self.caught_up.set()

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(stop,), name="directory", daemon=True)
        thread.start()
        return thread

    def _run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                for tp, records in self._c.poll(timeout_ms=500).items():
                    for r in records:
                        self._apply(r.key, r.value)
                    if tp in self._targets and self._c.position(tp) >= self._targets[tp]:
                        del self._targets[tp]
                if not self._targets and not self.caught_up.is_set():
                    log.info("directory loaded", extra={"entities": len(self.index)})
                    self.caught_up.set()
                metrics.DIRECTORY_ENTITIES.set(len(self.index))
        except BaseException as exc:  # surfaced by the stage, which then stops the process
            self.failed = exc
            raise
        finally:
            self._c.close()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            if key:
                self.index.delete(key.decode())
            return
        try:
            self.index.upsert(EntityEnvelope.model_validate_json(value).payload)
        except ValidationError as exc:
            # The CRM backend owns this topic; one bad record must not hide the rest of the directory.
            log.error("skipping invalid crm.entities record", extra={"key": (key or b"").decode(errors="replace"),
                                                                      "error": str(exc)[:300]})
