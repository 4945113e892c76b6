"""Publishing mailbox options to the compacted ``mail.mailboxes`` topic (never a secret: the
record is built from ``Account.mailbox_config()``, which has no server, username or password)."""

from __future__ import annotations

from typing import Any

from ...common.errors import TransientError
from ...common.messages import MailboxEnvelope, encode, routing_headers
from ...common.runtime.ports import Output, ProducerPort
from ...common.topics import MAILBOXES
from . import store
from .model import Account


def mailbox_record(account: Account, producer_name: str) -> Output:
    envelope = MailboxEnvelope(producer=producer_name, payload=account.mailbox_config())
    return Output(MAILBOXES, account.id.encode(), encode(envelope), routing_headers(envelope))


def tombstone(mailbox_id: str) -> Output:
    return Output(MAILBOXES, mailbox_id.encode(), None, [])


def send_and_wait(producer: ProducerPort, outputs: list[Output], timeout_seconds: float = 60) -> None:
    """Send and block until Kafka acknowledged all; raises TransientError otherwise."""
    deliveries = [producer.send(o) for o in outputs]
    producer.flush(timeout_seconds)
    for d in deliveries:
        if (err := d.error()) is not None:
            raise TransientError(f"mail.mailboxes record not acknowledged: {err!r}")


def publish_all(conn: Any, producer: ProducerPort) -> int:
    """Every account's options; returns how many."""
    outputs = [mailbox_record(s.account, "fetcher") for s in store.all_accounts(conn)]
    send_and_wait(producer, outputs)
    return len(outputs)
