"""Pure: a request read from its topic, what it is called in the ledger, and whether an
autoresponse may go out (the sender's second look after the matcher's loop rules).

RFC 3834 §2: never answer automatic mail, bounces, or a null Return-Path; never a mailer-daemon
or no-reply address, nor one of our own mailboxes; at most N responses per recipient per window,
counted on what was sent or is on its way; an out-of-office notice at most once per recipient per period.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError

from ..common.errors import PoisonMessage
from ..common.messages import Autoreply, AutoreplyEnvelope, OutboundEnvelope, OutboundMail
from ..common.sending import is_system_sender
from .compose import autoreply_id

AUTOMATIC = ("autoreply", "out_of_office")
# the two topics' envelopes, told apart by their "type"
_ENVELOPES: TypeAdapter[AutoreplyEnvelope | OutboundEnvelope] = TypeAdapter(
    Annotated[AutoreplyEnvelope | OutboundEnvelope, Field(discriminator="type")])


@dataclass(frozen=True)
class Request:
    """A decoded request: an autoresponse or CRM mail, with its ledger id and kind."""

    payload: Autoreply | OutboundMail
    outbound_id: uuid.UUID
    kind: str  # autoreply | out_of_office | crm

    @property
    def mailbox_id(self) -> str:
        return self.payload.mailbox_id


def decode(value: bytes | None) -> Request:
    """The request in a record's value; PoisonMessage("invalid_request") for anything else."""
    if value is None:
        raise PoisonMessage("invalid_request", "empty value")
    try:
        envelope = _ENVELOPES.validate_json(value)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise PoisonMessage("invalid_request", detail) from None
    if isinstance(envelope, OutboundEnvelope):
        return Request(envelope.payload, envelope.payload.outbound_id, "crm")
    return Request(envelope.payload, autoreply_id(envelope.payload.email_id), envelope.payload.kind)


def loop_reason(reply: Autoreply, own_addresses: Collection[str]) -> str | None:
    """Why this autoresponse must not go out whatever the counts say, or None."""
    answered = reply.answered
    to = reply.to.address.strip().lower()
    if answered is not None:
        if answered.bounce:
            return "bounce"
        if answered.auto_submitted_reasons:
            return "auto_submitted"
        if answered.return_path == "":
            return "null_return_path"
    if is_system_sender(to):
        return "system_sender"
    if to in own_addresses:
        return "own_mailbox"
    return None


def limit_reason(reply: Autoreply, asked_in_window: int, max_per_window: int, asked_in_period: int) -> str | None:
    """The rate limits on what was sent or is on its way: ``asked_in_window`` autoresponses to the
    recipient in the window, ``asked_in_period`` out-of-office notices in the notice's period."""
    if asked_in_window >= max_per_window:
        return "sender_autoreply_limit"
    if reply.kind == "out_of_office" and asked_in_period > 0:
        return "out_of_office_already_sent"
    return None
