"""The three kinds of failure the runtime knows, plus configuration errors.

Adapters translate library exceptions into these at the boundary, so the runtime can apply one
fixed behaviour to each: poison input is dead-lettered, transient failures are retried and then
crash the process without committing, backpressure pauses consumption.
"""

from __future__ import annotations


class PoisonMessage(Exception):
    """This record can never be processed: dead-letter it with ``reason`` and move on.

    ``reason`` is a short token from a closed set (it becomes a metric label and a DLQ header);
    ``detail`` is free text for the operator.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class TransientError(Exception):
    """A dependency failed in a way a retry may fix (connection refused, timeout, broker away)."""


class Backpressure(Exception):
    """A downstream is saturated: stop taking records for a while, keep the group membership."""


class DeadLetterRatioExceeded(Exception):
    """Too many recent records were poison: something systemic is wrong, stop rather than drain."""


class ConfigError(Exception):
    """Configuration is missing or invalid; the message names every offending variable."""
