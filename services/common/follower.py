"""Followers of the compacted topics every matcher replica reads whole: ``crm.entities`` into the
EntityIndex and ``mail.mailboxes`` into the Mailboxes registry, each on a daemon thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from ..matcher.directory import EntityIndex
from . import metrics
from .errors import TransientError
from .messages import EntityEnvelope, MailboxConfig, MailboxEnvelope
from .patterns import AS_STORED  # published before patterns were checked: still loads
from .topics import ENTITIES, MAILBOXES

log = logging.getLogger(__name__)


class CompactedFollower:
    """Reads ``topic`` from the beginning with no consumer group (every replica needs all of it)
    and hands each record to ``apply(key, value)``. ``caught_up`` is set once every record that
    existed at start is applied, so nothing is matched against a half-loaded view."""

    def __init__(self, consumer: Any, topic: str, put: Callable[[bytes], None], remove: Callable[[str], None],
                 size: Callable[[], int] = lambda: 0) -> None:
        from kafka.structs import TopicPartition

        self._c, self.topic, self._put, self._remove, self._size = consumer, topic, put, remove, size
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        self._targets = {tp: off for tp, off in consumer.end_offsets(parts).items() if off > 0}
        self.caught_up = threading.Event()
        self.failed: BaseException | None = None
        if not self._targets:
            self.caught_up.set()

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(stop,), name=f"follow-{self.topic}", daemon=True)
        thread.start()
        return thread

    def _run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                for tp, records in self._c.poll(timeout_ms=500, max_records=5000).items():
                    for r in records:
                        self._apply(r.key, r.value)
                    if tp in self._targets and self._c.position(tp) >= self._targets[tp]:
                        del self._targets[tp]
                if not self._targets and not self.caught_up.is_set():
                    log.info("compacted topic loaded", extra={"topic": self.topic, "entries": self._size()})
                    self.caught_up.set()
                self.on_progress()
        except BaseException as exc:  # surfaced by the stage, which then stops the process
            self.failed = exc
            raise
        finally:
            self._c.close()

    def on_progress(self) -> None:
        pass

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        """A record replaces the entry of its key; a null value (tombstone) removes it."""
        if value is None:
            if key:
                self._remove(key.decode())
            return
        try:
            self._put(value)
        except ValidationError as exc:
            # The producer owns this topic; one bad record must not hide the rest of it.
            log.error("skipping invalid record", extra={"topic": self.topic, "error": str(exc)[:300],
                                                        "key": (key or b"").decode(errors="replace")})


def wait_until_loaded(followers: Iterable[CompactedFollower], timeout_seconds: float) -> None:
    """Block until every follower has read its topic to the end (at once when they have). Raises
    TransientError when one stopped or is not caught up within ``timeout_seconds``, so the stage's
    record is retried rather than decided against a half-loaded view."""
    for f in followers:
        if f.failed is not None:
            raise TransientError(f"{f.topic} follower stopped: {f.failed!r}")
        if not f.caught_up.wait(timeout=timeout_seconds):
            raise TransientError(f"{f.topic} not loaded yet")


class DirectoryFollower(CompactedFollower):
    """Keeps an EntityIndex in step with ``crm.entities``."""

    def __init__(self, consumer: Any, index: EntityIndex) -> None:
        self.index = index
        super().__init__(consumer, ENTITIES, lambda v: index.upsert(EntityEnvelope.model_validate_json(v).payload),
                         index.delete, lambda: len(index))

    def on_progress(self) -> None:
        metrics.DIRECTORY_ENTITIES.set(len(self.index))

class Mailboxes:
    """The mailbox configurations by id, and every mailbox's own addresses (loop protection).
    Replaced whole on each change, so a reader always sees one consistent version."""

    def __init__(self, configs: dict[str, MailboxConfig] | None = None) -> None:
        self.configs: dict[str, MailboxConfig] = dict(configs or {})
        self.own_addresses: frozenset[str] = self._own(self.configs)

    @staticmethod
    def _own(configs: dict[str, MailboxConfig]) -> frozenset[str]:
        return frozenset(a.strip().lower() for c in configs.values() for a in c.own_addresses)

    def put(self, config: MailboxConfig) -> None:
        configs = {**self.configs, config.mailbox_id: config}
        self.configs, self.own_addresses = configs, self._own(configs)

    def remove(self, mailbox_id: str) -> None:
        configs = {k: v for k, v in self.configs.items() if k != mailbox_id}
        self.configs, self.own_addresses = configs, self._own(configs)


class MailboxFollower(CompactedFollower):
    """Keeps Mailboxes in step with ``mail.mailboxes`` (null value: the mailbox was removed)."""

    def __init__(self, consumer: Any, mailboxes: Mailboxes) -> None:
        self.mailboxes = mailboxes
        super().__init__(consumer, MAILBOXES,
                         lambda v: mailboxes.put(MailboxEnvelope.model_validate_json(v, context=AS_STORED).payload),
                         mailboxes.remove, lambda: len(mailboxes.configs))
