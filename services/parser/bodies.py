"""Text and HTML bodies: bytes to text with the declared charset, then a detected one, never
raising; and the cap that keeps ``mail.parsed`` records small."""

from __future__ import annotations

import codecs
import functools
import html
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

from .constants import FALLBACK_CHARSET

BODY_CAP_CHARS = 64 * 1024
DETECT_MAX_BYTES = 256 * 1024  # detection on a sample: charset-normalizer is slow on megabytes
# Declared names that mean a wider charset in practice (what mail clients and browsers do).
_ALIASES = {"us-ascii": "ascii", "ascii": "ascii", "iso-8859-1": "windows-1252", "latin1": "windows-1252",
            "latin-1": "windows-1252", "ks_c_5601-1987": "cp949", "gb2312": "gb18030", "gbk": "gb18030",
            "x-sjis": "shift_jis", "unicode-1-1-utf-7": "utf-7", "utf8": "utf-8", "x-unknown": ""}
# Detection picks among the charsets mail really uses: on short texts charset-normalizer's full
# list guesses exotic code pages (cp1006, UTF-16) for plain Latin-1 words.
DETECT_CANDIDATES = ["cp1252", "iso8859_15", "cp1250", "iso8859_2", "cp1251", "koi8_r", "cp1253", "cp1254",
                     "cp1255", "cp1256", "cp1257", "big5", "gb18030", "shift_jis", "euc_jp", "euc_kr", "cp949",
                     "iso2022_jp", "cp874"]
SHORT_TEXT_BYTES = 64
_LATIN = {"cp1250", "iso8859-2", "iso8859-15", "cp1254", "cp1257", "cp1252"}
_ISO2022 = (b"\x1b$B", b"\x1b$@", b"\x1b(J", b"\x1b$(D")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_ASCII_BASED = {"utf-8", "ascii"}  # codecs.lookup names of the codecs _clean can check on the bytes
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.IGNORECASE | re.DOTALL)
_BLOCK = re.compile(r"<\s*(br|/p|/div|/tr|/h\d|/li)\b[^>]*>", re.IGNORECASE)
_BLANKS = re.compile(r"[ \t\r\f\v]+")
_LINES = re.compile(r"\n\s*\n\s*(\n\s*)+")


@dataclass(frozen=True)
class Decoded:
    """A body as text, and how its charset was chosen (declared, detected or fallback)."""

    text: str
    charset: str
    how: str  # declared | detected | fallback


def decode_text(data: bytes, declared: str | None) -> Decoded:
    """Decode ``data``: the declared charset when it exists and decodes cleanly, ISO-2022-JP when
    its escape sequences appear undeclared, else UTF-8 when valid, else a detected charset, else
    UTF-8 with replacement characters. Never raises."""
    name = _codec(declared)
    if name:
        try:
            return Decoded(_clean(data.decode(name), data if name in _ASCII_BASED else None), name, "declared")
        except (UnicodeDecodeError, LookupError):
            pass
        if name == "utf-8" and _mostly_utf8(data):
            return Decoded(_clean(data.decode("utf-8", "replace"), data), name, "declared")
    elif data.isascii() and b"\x1b" not in data:
        return Decoded(_clean(data.decode("ascii"), data), "ascii", "declared")  # RFC 2045's default
    if not name and any(seq in data for seq in _ISO2022):
        try:
            return Decoded(_clean(data.decode("iso2022_jp")), "iso2022_jp", "detected")
        except UnicodeDecodeError:
            pass
    try:
        return Decoded(_clean(data.decode("utf-8"), data), "utf-8", "declared" if name == "utf-8" else "detected")
    except UnicodeDecodeError:
        pass
    detected = detect(data)
    if detected:
        return Decoded(_clean(data.decode(detected, "replace")), detected, "detected")
    return Decoded(_clean(data.decode(FALLBACK_CHARSET, "replace")), FALLBACK_CHARSET, "fallback")


def _mostly_utf8(data: bytes) -> bool:
    """UTF-8 with a few broken sequences (a truncated quoted-printable body), not another
    charset: at most half of the non-ASCII bytes fail to decode (in a mislabelled single-byte
    charset nearly all of them do)."""
    high = sum(1 for b in data[:DETECT_MAX_BYTES] if b > 127)
    bad = data[:DETECT_MAX_BYTES].decode("utf-8", "replace").count("\ufffd")
    return bad * 2 <= high


def detect(data: bytes) -> str | None:
    """The likeliest of DETECT_CANDIDATES for ``data`` (a sample of it), or None. On short texts,
    where detection is a guess among Latin code pages, windows-1252 wins (the commonest)."""
    best = from_bytes(data[:DETECT_MAX_BYTES], cp_isolation=DETECT_CANDIDATES).best()
    if best is None or not best.encoding:
        return None
    try:
        name = codecs.lookup(best.encoding).name
    except LookupError:
        return None
    if len(data) < SHORT_TEXT_BYTES and name in _LATIN and name != "cp1252":
        try:
            data.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            pass
    return name


@functools.lru_cache(maxsize=256)
def _codec(declared: str | None) -> str:
    """The Python codec for a declared charset name, or "" when absent or unknown."""
    if not declared:
        return ""
    label = declared.strip().strip("'\"").lower()
    label = _ALIASES.get(label, label)
    if not label:
        return ""
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):  # ValueError: a NUL in the name ("embedded null character")
        return ""


def _clean(text: str, source: bytes | None = None) -> str:
    """Line ends to ``\\n``; NUL and other C0 controls dropped except tab (PostgreSQL text rejects
    NUL). ``source``: the bytes ``text`` was decoded from with UTF-8 or ASCII, where a control
    character appears exactly where its byte does (multi-byte sequences hold no byte below 0x80,
    replacement characters are not controls); looking for them in the bytes is 7x faster."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if source is not None:
        if len(source.translate(None, _CONTROL_BYTES)) == len(source):
            return text
        return _CONTROL.sub("", text)
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


def html_to_text(markup: str) -> str:
    """A readable plain-text rendering of HTML for matching and previews (not for display)."""
    text = _BLOCK.sub("\n", markup)
    text = html.unescape(_TAGS.sub(" ", text)).replace("\xa0", " ")
    text = _BLANKS.sub(" ", text)
    return _LINES.sub("\n\n", "\n".join(line.strip() for line in text.split("\n"))).strip()


def cap(text: str, limit: int = BODY_CAP_CHARS) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters, and whether it was cut."""
    return (text, False) if len(text) <= limit else (text[:limit], True)
