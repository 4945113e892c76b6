"""The kinds of failure the runtime knows: poison input, transient failures, configuration errors.

Adapters translate library exceptions into these at the boundary, so the runtime can apply one
fixed behaviour to each: poison input is dead-lettered, transient failures are retried and then
crash the process without committing, configuration errors stop it without committing.
"""

from __future__ import annotations


class PoisonMessage(Exception):
    """This record can never be processed: dead-letter it with ``reason`` and move on.

    ``reason`` is a short token from a closed set (it becomes a metric label and a DLQ header);
    ``detail`` is free text for the operator. ``expected``: an outcome of the record's own
    (a 5xx an SMTP server gave this message), not a sign that something systemic is wrong, so it
    does not count towards the runtime's dead-letter ratio.
    """

    def __init__(self, reason: str, detail: str = "", expected: bool = False) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.expected = expected


class TransientError(Exception):
    """A dependency failed in a way a retry may fix (connection refused, timeout, broker away).
    ``dependency`` names it (kafka, postgres, s3, imap, smtp) when an adapter raised it."""

    def __init__(self, *args: object, dependency: str | None = None) -> None:
        super().__init__(*args)
        self.dependency = dependency


class DeadLetterRatioExceeded(Exception):
    """Too many recent records were poison: something systemic is wrong, stop rather than drain."""


class ConfigError(Exception):
    """Configuration is missing or invalid; the message names every offending variable."""


class DependencyConfigError(ConfigError):
    """A dependency refuses mailpipe because of its configuration (wrong credentials, a missing
    bucket, topic or table): no record is at fault and no retry fixes it, so the stage stops
    without committing and the message names the settings to check.

    ``dependency`` is one of kafka, postgres, s3, imap, smtp; ``variables`` the ``MAILPIPE_*``
    settings that decide it; ``cause`` the dependency's own explanation (already redacted)."""

    def __init__(self, dependency: str, variables: tuple[str, ...], cause: str) -> None:
        names = " or ".join(variables) if variables else "its configuration"
        super().__init__(f"{dependency} refused the configuration: check {names} ({cause})")
        self.dependency, self.variables, self.cause = dependency, variables, cause
