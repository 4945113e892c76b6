"""Followers of compacted topics that a replica reads whole, each on a daemon thread: the base
CompactedFollower, and MailboxFollower keeping the Mailboxes view in step with ``mail.mailboxes``
(matcher and storage both read it; the matcher's ``crm.entities`` follower is in matcher/follower.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from .errors import TransientError
from .mailboxes import Mailboxes
from .messages import MailboxEnvelope
from .patterns import AS_STORED  # published before patterns were checked: still loads
from .topics import MAILBOXES

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
        """Follow the topic on a daemon thread until ``stop`` is set; returns at once. An error on
        that thread (Kafka gone, a failing ``put``) is kept in ``failed`` for wait_until_loaded."""
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
        """Called on the follower's thread after each poll (e.g. to set a size gauge)."""

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


class MailboxFollower(CompactedFollower):
    """Keeps Mailboxes in step with ``mail.mailboxes`` (null value: the mailbox was removed)."""

    def __init__(self, consumer: Any, mailboxes: Mailboxes) -> None:
        self.mailboxes = mailboxes
        super().__init__(consumer, MAILBOXES,
                         lambda v: mailboxes.put(MailboxEnvelope.model_validate_json(v, context=AS_STORED).payload),
                         mailboxes.remove, lambda: len(mailboxes.configs))
