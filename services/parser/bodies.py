"""Text and HTML bodies: bytes to text with the declared charset, then a detected one, never
raising (undeclared 8-bit Latin text in the code page its language is written in:
``latin_code_page``); and the cap that keeps ``mail.parsed`` records small."""

from __future__ import annotations

import codecs
import html
import re
from collections import Counter
from dataclasses import dataclass

from charset_normalizer import from_bytes

from .charsets import codecs_for
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
            except UnicodeError:  # punycode and the like fail as UnicodeError, not UnicodeDecodeError
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
    cp1250 over cp1252 by their names), the language of the letters decides (latin_code_page);
    windows-1252, the commonest, wins what stays ambiguous ("año")."""
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
        if latin is not None and 2 * latin[1] >= _high_bytes(sample):
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


# --- undeclared 8-bit text in a Latin code page ------------------------------------------------
# windows-1252 and windows-1250 (and their ISO relatives) share ASCII and most accented letters and
# differ in a few dozen bytes: 0xE3 is Portuguese "ã" in one and Romanian "ă" in the other, 0xF1
# Spanish "ñ" and Polish "ń". Byte statistics cannot tell them apart, so charset-normalizer scores
# both the same and its tie goes to the first in alphabetical order, cp1250. What tells them apart
# is the language: a text's letters beyond ASCII come from one language's alphabet in the right
# code page and from no single language in the wrong one ("Formaçăo" mixes Portuguese "ç" with
# Romanian "ă"; "Za¿ó³æ" is no language's "Zażółć"). A lone letter both readings make a letter of
# stays ambiguous ("Gdańsk" / "Gdañsk") and goes to windows-1252.
# Each language's letters beyond ASCII (lower case; upper case is added below):
_WESTERN = [
    "áàâãçéêíóôõúüªº",  # Portuguese
    "áéíñóúüªº",  # Spanish
    "àçèéíïòóúü",  # Catalan
    "àâæçéèêëîïôœùûüÿ",  # French
    "àèéìòóùªº",  # Italian (í, î, ú only in old or learned spellings)
    "äöüß",  # German
    "áéëèïóöüíú",  # Dutch
    "æøåéó",  # Danish, Norwegian
    "åäöé",  # Swedish
    "åäöšž",  # Finnish
    "áðéíóúýþæö",  # Icelandic
    "áðíóúýæø",  # Faroese
    "äõöüšž",  # Estonian
]
_CENTRAL = [
    "ąćęłńóśźż",  # Polish
    "áčďéěíňóřšťúůýž",  # Czech
    "áäčďéíĺľňóôŕšťúýž",  # Slovak
    "áéíóöőúüű",  # Hungarian
    "čšž",  # Slovenian
    "čćđšž",  # Croatian, Bosnian, Serbian (Latin)
    "ăâîșțşţ",  # Romanian (cedilla forms in the legacy code pages)
    "äöüß",  # German (the same bytes as in windows-1252)
]
# The code pages to choose from, each with the languages written in it; ties go to the first.
_LANGUAGES = {
    "cp1252": _WESTERN,
    "iso8859-15": _WESTERN,
    "cp1250": _CENTRAL,
    "iso8859-2": _CENTRAL,
    "cp1254": ["çğıöşüâîûİ"],  # Turkish
    "cp1257": ["ąčęėįšųūž", "āčēģīķļņšūž", "äõöüšž"],  # Lithuanian, Latvian, Estonian
}
LATIN_CODE_PAGES = tuple(_LANGUAGES)
_LETTER_SETS = {cp: [frozenset(a) | frozenset(a.upper()) for a in alphabets] for cp, alphabets in _LANGUAGES.items()}
_ASCII = bytes(range(0x80))
_HIGH = bytes(range(0x80, 0x100))


def _table(code_page: str) -> tuple[str | None, ...]:
    """The character of each byte 0x80-0xFF in ``code_page``, None where it is undefined."""
    chars: list[str | None] = []
    for byte in _HIGH:
        try:
            chars.append(bytes([byte]).decode(code_page))
        except UnicodeDecodeError:
            chars.append(None)
    return tuple(chars)


_TABLES = {code_page: _table(code_page) for code_page in LATIN_CODE_PAGES}


def latin_code_page(data: bytes) -> tuple[str, int] | None:
    """The code page of LATIN_CODE_PAGES in which ``data`` reads most like one of the languages
    written in it, with its score, or None when none decodes it or it is ASCII. The score counts
    the 8-bit letters of the best-fitting alphabet, less the other 8-bit letters and C1 controls:
    a reading whose score reaches about the number of 8-bit bytes is text of one language. Looks
    at each distinct byte once (a histogram), so its cost hardly grows with the text."""
    counts = Counter(data.translate(None, _ASCII))
    if not counts:
        return None
    best: tuple[str, int] | None = None
    for code_page, table in _TABLES.items():
        chars = [(table[byte - 0x80], n) for byte, n in counts.items()]
        if any(char is None for char, _ in chars):
            continue  # a byte this code page leaves undefined: not this one
        letters = sum(n for char, n in chars if char and char.isalpha())
        controls = sum(n for char, n in chars if char and char < "\xa0")
        covered = max(sum(n for char, n in chars if char in alphabet) for alphabet in _LETTER_SETS[code_page])
        score = 2 * covered - letters - controls
        if best is None or score > best[1]:
            best = (code_page, score)
    return best


def _high_bytes(data: bytes) -> int:
    """How many bytes of ``data`` are 0x80 or above."""
    return len(data) - len(data.translate(None, _HIGH))


def html_to_text(markup: str) -> str:
    """A readable plain-text rendering of HTML for matching and previews (not for display)."""
    text = _BLOCK.sub("\n", markup)
    text = html.unescape(_TAGS.sub(" ", text)).replace("\xa0", " ")
    text = _BLANKS.sub(" ", text)
    return _LINES.sub("\n\n", "\n".join(line.strip() for line in text.split("\n"))).strip()


def cap(text: str, limit: int = BODY_CAP_CHARS) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters, and whether it was cut."""
    return (text, False) if len(text) <= limit else (text[:limit], True)
