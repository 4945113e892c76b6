"""How a mailbox can fail, named for the operator: each failure says which account field to look
at and why, and maps to the metric's closed set of kinds."""

from __future__ import annotations

from typing import Literal

from ..common.errors import TransientError

FailureKind = Literal["host_unknown", "connection_refused", "timeout", "tls_handshake", "certificate_untrusted",
                      "auth_failed", "wrong_protocol", "protocol", "connection_lost", "folder_missing",
                      "message_unreadable"]

# The label values of mailpipe_fetcher_errors_total.
METRIC_KIND: dict[str, str] = {
    "host_unknown": "connection", "connection_refused": "connection", "connection_lost": "connection",
    "timeout": "timeout", "tls_handshake": "tls", "certificate_untrusted": "tls", "auth_failed": "auth",
    "wrong_protocol": "protocol", "protocol": "protocol", "folder_missing": "protocol",
    "message_unreadable": "protocol",
}


class MailboxUnavailable(TransientError):
    """The mailbox could not be read: back off this mailbox and try later; others continue.

    ``kind`` is from a closed set, ``field`` names the account field to check (server, port,
    security, ca_file, password, protocol, folders) and ``cause`` is the human explanation."""

    def __init__(self, kind: FailureKind, field: str, cause: str) -> None:
        super().__init__(f"{kind} ({field}): {cause}")
        self.kind, self.field, self.cause = kind, field, cause

    @property
    def metric_kind(self) -> str:
        return METRIC_KIND.get(self.kind, "other")


class LeaseLost(Exception):
    """Another replica holds this mailbox now (our lease expired): stop without advancing anything."""
