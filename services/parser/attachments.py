"""Attachments: safe filenames, content-addressed keys, and the Attachment records.

Filenames are metadata only (nothing is ever written under them), but CRM backends save files
under them, so they are made safe here once: no path separators, no control or bidi-override
characters, no leading dots, bounded length in UTF-8 bytes, and a name where none exists.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import unicodedata
from collections.abc import Callable
from email import policy
from email.message import Message

from ..common.identity import object_key
from ..common.messages import Attachment
from . import headers
from .constants import DELIVERY_STATUS, MESSAGE_RFC822, TEXT_HTML, TEXT_PLAIN
from .tree import raw_header

MAX_FILENAME_BYTES = 200
# Stores bytes under the given content-addressed key (``att/sha256/..``); the parser is given one
# so it stays free of S3 (the CLI and pure tests pass one that stores nothing).
StoreObject = Callable[[str, bytes], None]

_SIMPLE_PARAMS = re.compile(r"[\x20-\x7e\t\r\n]*")
_SPACED_NAME = re.compile(r'(?i)name[ \t]*=[ \t]*[^"\s;]+[ \t]+[^\s;]')  # an unquoted name with spaces
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f/\\:*?\"<>|\u202a-\u202e\u2066-\u2069\u200e\u200f]")
_SPACES = re.compile(r"\s+")
_RESERVED = re.compile(r"(?i)^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$")
_EXTENSIONS = {TEXT_PLAIN: ".txt", TEXT_HTML: ".html", MESSAGE_RFC822: ".eml", "image/jpeg": ".jpg",
               "application/octet-stream": ".bin", "text/calendar": ".ics", DELIVERY_STATUS: ".txt"}


def store_nothing(key: str, data: bytes) -> None:
    """A StoreObject for callers that only want the parsed summary (the CLI, pure tests)."""


def sanitize_filename(name: str | None, content_type: str, index: int) -> str:
    """A safe filename: the given name's last path component without unsafe characters, bounded
    to MAX_FILENAME_BYTES of UTF-8 with its extension kept; ``part-<index><ext>`` when empty."""
    value = unicodedata.normalize("NFC", name or "")
    value = value.replace("\\", "/").rsplit("/", 1)[-1]
    value = _UNSAFE.sub("_", value)
    value = _SPACES.sub(" ", value).strip(" .")
    if _RESERVED.match(value):
        value = "_" + value
    if not value or set(value) <= {"_", ".", " "}:
        return f"part-{index}{_extension(content_type)}"
    return _bound(value)


def _extension(content_type: str) -> str:
    return _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type, strict=False) or ".bin"


def _bound(value: str) -> str:
    if len(value.encode("utf-8")) <= MAX_FILENAME_BYTES:
        return value
    stem, dot, ext = value.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = value, ""
    suffix = f".{ext}" if ext else ""
    room = MAX_FILENAME_BYTES - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(" .")
    return cut + suffix


def content_id(raw: str | None) -> str | None:
    """``<image001.png@01D9>`` → ``image001.png@01D9`` (None when absent or empty)."""
    if not raw:
        return None
    value = " ".join(raw.split()).strip().strip("<>").strip()
    return value or None


def make_attachment(data: bytes, *, filename: str | None, content_type: str, index: int, store: StoreObject,
                    inline: bool = False, cid: str | None = None, origin: str = "mime", depth: int = 0) -> Attachment:
    """Store ``data`` by its hash and describe it."""
    digest = hashlib.sha256(data).hexdigest()
    key = object_key("att", digest)
    store(key, data)
    return Attachment(filename=sanitize_filename(filename, content_type, index), content_type=content_type,
                      size_bytes=len(data), sha256=digest, object_key=key,
                      disposition="inline" if inline else "attachment", content_id=cid,
                      origin="tnef" if origin == "tnef" else "mime", depth=depth)


def part_filename(part: Message) -> str | None:
    """``get_filename()`` as policy.default computes it (RFC 2231 and RFC 2047 decoded), with the
    compat32 result used where the raw parameters are plain enough that both agree, and where the
    registry cut an unquoted name at a space (``name=my report.pdf`` reads ``my``: compat32 reads
    up to the ``;``, as mail clients do; docs/parser.md, "Deliberate differences")."""
    raws = [r for r in (raw_header(part, "content-disposition"), raw_header(part, "content-type")) if r]
    plain = all(_SIMPLE_PARAMS.fullmatch(r) and not any(c in r for c in ("=?", "*", "\\", "(")) for r in raws)
    if plain and not any("name" in r.lower() for r in raws):
        return None  # compat32 finds a filename or name parameter only where the text "name" is
    try:
        if plain and part.policy is not policy.default:
            name = part.get_filename()
        else:
            name = _read_filename(part, policy.default)
            if name and any(_SPACED_NAME.search(r) for r in raws):
                whole = _read_filename(part, policy.compat32)  # reads an unquoted value up to the ";"
                if whole and whole.startswith(str(name)) and whole[len(str(name)):][:1].isspace():
                    name = whole  # the registry cut "my report.pdf" at the space: keep the extension
    except Exception:  # a parameter the registry cannot read: no name (one is made up later)
        return None
    return headers.repair(str(name)) if name else None


def _read_filename(part: Message, reading: policy.Policy | policy.Compat32) -> str | None:
    """``part.get_filename()`` with header values read under ``reading``."""
    if part.policy is reading:
        return part.get_filename()
    saved, part.policy = part.policy, reading
    try:
        return part.get_filename()
    finally:
        part.policy = saved
