"""Text and HTML bodies: bytes to text with the declared charset, then a detected one, never
raising; and the cap that keeps ``mail.parsed`` records small."""

from __future__ import annotations

import codecs
import html
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

from .charsets import codecs_for, high_bytes, latin_code_page
from .constants import FALLBACK_CHARSET

BODY_CAP_CHARS = 64 * 1024
DETECT_MAX_BYTES = 256 * 1024  # detection on a sample: charset-normalizer is slow on megabytes
# Detection picks among the charsets mail really uses: on short texts charset-normalizer's full
# list guesses exotic code pages (cp1006, UTF-16) for plain Latin-1 words.
DETECT_CANDIDATES = ["cp1252", "iso8859_15", "cp1250", "iso8859_2", "cp1251", "koi8_r", "cp1253", "cp1254",
                     "cp1255", "cp1256", "cp1257", "big5", "gb18030", "shift_jis", "euc_jp", "euc_kr", "cp949",
                     "iso2022_jp", "cp874"]
_LATIN = {"cp1250", "iso8859-2", "iso8859-15", "cp1254", "cp1257", "cp1252"}
_MULTI_BYTE = {"big5", "gb18030", "shift_jis", "euc_jp", "euc_kr", "cp949", "iso2022_jp"}
_PAIR = re.compile(rb"[\x80-\xff]{2}")  # two 8-bit bytes in a row: every character of those charsets
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
    """Decode ``data``: with the declared charset when it decodes cleanly (read as mail clients
    read its label: charsets.codecs_for), ISO-2022-JP when its escape sequences appear undeclared,
    else UTF-8 when valid, else a detected charset, else UTF-8 with replacement characters.
    Never raises."""
    steps = codecs_for(declared)
    name = steps[0][0] if steps else ""
    if steps:
        for codec, errors in steps:
            try:
                text = data.decode(codec, errors)
            except UnicodeDecodeError:
                continue
            return Decoded(_clean(text, data if codec in _ASCII_BASED else None), codec, "declared")
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
    """The likeliest of DETECT_CANDIDATES for ``data`` (a sample of it), or None. Among the Latin
    code pages, whose shared letters charset-normalizer cannot tell apart (a tie it gives to
    cp1250 over cp1252 by their names), the language of the letters decides
    (charsets.latin_code_page); windows-1252, the commonest, wins what stays ambiguous ("año")."""
    sample = data[:DETECT_MAX_BYTES]
    best = from_bytes(sample, cp_isolation=DETECT_CANDIDATES).best()
    name = None
    if best is not None and best.encoding:
        try:
            name = codecs.lookup(best.encoding).name
        except LookupError:
            pass
    if name in _LATIN:
        return (latin_code_page(sample) or (name, 0))[0]
    # Where charset-normalizer found nothing (it gives up on some Polish) or a multi-byte charset
    # although no two 8-bit bytes stand together (it reads "año" as GB 18030: "a隳"), only a
    # reading that is clearly one language's text.
    if name is None or (name in _MULTI_BYTE and not _PAIR.search(sample)):
        latin = latin_code_page(sample)
        if latin is not None and 2 * latin[1] >= high_bytes(sample):
            return latin[0]
    return name


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
