"""``mailpipe accounts ...``: manage mailboxes (filled in by the accounts work)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add the ``accounts`` subcommands to the ``mailpipe`` CLI."""
