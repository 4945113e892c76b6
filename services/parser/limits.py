"""Limits against hostile input: past any of them a message is dead-lettered with the reason.

Every limit is checked before the work it bounds where that is possible (sizes and counts are
estimated from the raw bytes before parsing or decoding), so a hostile message never makes the
parser allocate without bound. Time is checked cooperatively between steps: the stdlib parser
cannot be interrupted, but its work is bounded by the raw size and the part limits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..common.errors import PoisonMessage

# The reasons a limit dead-letters a message with (a closed set: they become metric labels).
TOO_LARGE = "too_large"
TOO_MANY_PARTS = "too_many_parts"
TOO_DEEP = "too_deep"
DECODED_TOO_LARGE = "decoded_too_large"
TOO_SLOW = "too_slow"
HEADERS_TOO_LARGE = "headers_too_large"


@dataclass(frozen=True)
class ParseLimits:
    """Bounds for one message. The defaults take any real-world mail (Outlook caps at 150 MB)."""

    max_message_bytes: int = 200 * 1024 * 1024
    max_parts: int = 1000
    max_depth: int = 20
    max_decoded_bytes: int = 300 * 1024 * 1024
    max_seconds: float = 30.0
    max_header_bytes: int = 1024 * 1024  # one part's header block
    max_tnef_objects: int = 10_000  # objects in one winmail.dat (see tnef.py)


DEFAULT_LIMITS = ParseLimits()


@dataclass
class Budget:
    """What one message may still consume: decoded bytes and time."""

    limits: ParseLimits
    started: float = field(default_factory=time.monotonic)
    decoded_bytes: int = 0

    def spend(self, nbytes: int) -> None:
        """Account for ``nbytes`` about to be decoded; raises before the allocation happens."""
        self.decoded_bytes += nbytes
        if self.decoded_bytes > self.limits.max_decoded_bytes:
            raise PoisonMessage(DECODED_TOO_LARGE, f"decoded parts exceed {self.limits.max_decoded_bytes} bytes")

    def check_time(self) -> None:
        """Raise when the message has taken longer than allowed."""
        elapsed = time.monotonic() - self.started
        if elapsed > self.limits.max_seconds:
            raise PoisonMessage(TOO_SLOW, f"parsing took more than {self.limits.max_seconds:g} s")


def check_raw(raw: bytes, limits: ParseLimits) -> None:
    """The checks before any parsing: total size, and the size of the message's header block
    (a megabyte of headers is an attack on the header parsers, not mail). Parts and depth are
    counted on the tree; the stdlib parser's own recursion limit bounds the depth it builds."""
    if len(raw) > limits.max_message_bytes:
        raise PoisonMessage(TOO_LARGE, f"{len(raw)} bytes, the limit is {limits.max_message_bytes}")
    if len(raw) > limits.max_header_bytes:
        window = raw[: limits.max_header_bytes + 4]
        if b"\n\n" not in window and b"\n\r\n" not in window:
            raise PoisonMessage(HEADERS_TOO_LARGE, f"the header block is over {limits.max_header_bytes} bytes")
