"""TNEF (``winmail.dat``, ``application/ms-tnef``): the files Outlook wrapped inside it.

tnefparse copies the rest of the stream for every object it reads, so a stream of many tiny
objects costs quadratic time; the objects are counted first (a bounded walk over their length
fields) and a stream with too many is left packed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

TNEF_SIGNATURE = 0x223E9F78
_OBJECT_OVERHEAD = 11  # level (1), name (4), length (4), checksum (2)


@dataclass(frozen=True)
class TnefFile:
    """One file unpacked from a TNEF stream."""

    name: str
    data: bytes


class TnefUnreadable(Exception):
    """The stream is not TNEF, is damaged, or has more objects than allowed."""


def is_tnef(content_type: str, filename: str | None, data: bytes) -> bool:
    """True for ``application/ms-tnef`` parts and ``winmail.dat`` files with the TNEF signature."""
    named = (filename or "").lower() == "winmail.dat"
    typed = content_type in ("application/ms-tnef", "application/vnd.ms-tnef")
    return (named or typed) and len(data) >= 6 and struct.unpack_from("<I", data)[0] == TNEF_SIGNATURE


def unpack(data: bytes, max_objects: int) -> tuple[list[TnefFile], str]:
    """The files in a TNEF stream and its plain-text body (empty when it has none).
    Raises TnefUnreadable when the stream is damaged or too fragmented."""
    _count_objects(data, max_objects)
    from tnefparse import TNEF  # imported here: only Outlook mail pays for it

    try:
        tnef = TNEF(data, do_checksum=False)
        files = [TnefFile(_name(a), bytes(a.data)) for a in tnef.attachments if a.data is not None]
        body = tnef.body if isinstance(tnef.body, str) else ""
        if isinstance(tnef.body, bytes):
            body = tnef.body.decode("windows-1252", "replace")
    except Exception as exc:  # tnefparse raises anything from struct.error to IndexError on damage
        raise TnefUnreadable(f"{type(exc).__name__}: {exc}") from exc
    return files, body.rstrip("\x00")


def _count_objects(data: bytes, max_objects: int) -> None:
    offset, count = 6, 0
    while offset + _OBJECT_OVERHEAD <= len(data):
        (length,) = struct.unpack_from("<I", data, offset + 5)
        offset += length + _OBJECT_OVERHEAD
        count += 1
        if count > max_objects:
            raise TnefUnreadable(f"more than {max_objects} TNEF objects")


def _name(attachment: object) -> str:
    for getter in ("long_filename", "name"):
        try:
            value = getattr(attachment, getter)
            value = value() if callable(value) else value
        except Exception:  # a damaged name attribute: try the other one
            continue
        if isinstance(value, bytes):
            value = value.decode("windows-1252", "replace")
        if isinstance(value, str) and value.strip("\x00 "):
            return value.strip("\x00 ")
    return ""
