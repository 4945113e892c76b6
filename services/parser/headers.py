"""Header values as ``policy.default`` decodes them, computed only for the headers we need.

The tree keeps raw header values; a value is decoded through ``policy.default``'s header registry
(RFC 2047 encoded words, address lists, groups, comments), except where the raw value is plain
ASCII of a shape the registry would return unchanged, which skips the registry's cost (it is most
of ``policy.default``'s slowness on small mail). Raw 8-bit bytes are read as UTF-8 when they are
UTF-8, else with a detected charset, before the registry sees them (``policy.default`` would
keep them as surrogates or replacement characters) — except inside an encoded word, where they
stay bytes so the word decodes them with its own charset, as ``policy.default`` does.

Address lists are read in ``addresses.py`` on the pieces here.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import Message

from ..common.identity import normalize_message_id
from .bodies import detect
from .charsets import normalize_encoded_words
from .constants import FALLBACK_CHARSET
from .cpython_email import decode_encoded_word
from .tree import raw_header, raw_headers

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_LINESEP = re.compile(r"\r\n|\r|\n")
PLAIN = re.compile(r"[\x20-\x7e\t]*")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_CANONICAL_DATE = re.compile(rf"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{{1,2}}) ({'|'.join(_MONTH_NAMES)})"
                             r" ([1-9]\d{3}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")
# The fast decoders' grammar (fast_unstructured here, addresses.fast_mailboxes): RFC 2047 encoded
# words in their strict form, atoms, plain quoted strings and dot-atom addresses.
# (Raw 8-bit bytes in the text, kept as surrogate escapes, are the registry's too: see repair_outside_words.)
EW = r"=\?[A-Za-z0-9!#$%&'+^_`{}~-]+\?[BbQq]\?[!->@-~\udc80-\udcff]+\?="
EW_RE = re.compile(EW)
_Q_EQUALS = re.compile(r"=(?![0-9A-Fa-f]{2})")
_WSP_SPLIT = re.compile(r"([ \t]\s*)")  # get_fws: a space or tab, then all white space
WSP_RUN = re.compile(r"[ \t]+")
ATOM = r'[^ \t"(),:;<>@\[\]\\]+'
# A token shaped like an encoded word whose text may hold raw 8-bit bytes (surrogate escapes).
_EW_RAW = re.compile(r"(?<![^\s\"(),:;<>])=\?[^?\s]+\?[BbQq]\?[^?\s]+\?=(?![^\s\"(),:;<>])")
_SURROGATES = re.compile("[\udc80-\udcff]")


def has_surrogates(value: str) -> bool:
    """True when ``value`` carries raw 8-bit bytes as surrogate escapes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def repair(value: str) -> str:
    """Turn surrogate-escaped 8-bit bytes into text: UTF-8 when valid, else a detected charset."""
    if not has_surrogates(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    return data.decode(_text_charset(data), "replace")


def _text_charset(data: bytes) -> str:
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return detect(data) or FALLBACK_CHARSET


def repair_outside_words(value: str) -> str:
    """``repair`` for the raw 8-bit bytes outside encoded words (read with one charset, as repair
    reads them); the bytes inside an encoded word are left as surrogate escapes, so that the
    word decodes them with its own charset as policy.default's registry does
    (``=?iso-8859-1?Q?Fr<F6>sche?=`` is "Frösche"; repaired first it would be left as text)."""
    if not has_surrogates(value):
        return value
    if "=?" not in value:
        return repair(value)
    words = [m.span() for m in _EW_RAW.finditer(value) if _SURROGATES.search(m.group())]
    if not words:
        return repair(value)
    bounds = [0, *(i for span in words for i in span), len(value)]
    pieces = [value[start:end] for start, end in zip(bounds[0::2], bounds[1::2], strict=True)]
    joined = "".join(pieces)
    if has_surrogates(joined):  # one charset for all of them, as repair(joined) would choose
        charset = _text_charset(joined.encode("utf-8", "surrogateescape"))
        pieces = [p.encode("utf-8", "surrogateescape").decode(charset, "replace") for p in pieces]
    out = [pieces[0]]
    for (start, end), piece in zip(words, pieces[1:], strict=True):
        out += [value[start:end], piece]
    return "".join(out)


def collapse(value: str) -> str:
    """Whitespace runs (folding included) to one space, ends trimmed; control characters dropped."""
    return " ".join(_CONTROL.sub("", value).split())


def unstructured(part: Message, name: str) -> str:
    """A text header (Subject and the like) decoded as policy.default does, whitespace collapsed."""
    raw = raw_header(part, name)
    if raw is None:
        return ""
    if "=?" not in raw and PLAIN.fullmatch(unfold(raw)):
        return collapse(raw)
    value = repair_outside_words(normalize_encoded_words(raw))  # labels the stdlib lacks: charsets.py
    fast = fast_unstructured(unfold(value))
    if fast is not None:
        return collapse(fast)
    return collapse(_registry_text(name, value))


def fast_unstructured(value: str) -> str | None:
    """What policy.default's registry makes of an unfolded unstructured value, for values whose
    every ``=?`` opens a whole, strictly formed encoded word that is a token of its own (the
    registry drops the white space between two encoded words, keeps all other text as it is);
    None for anything else."""
    pieces = _WSP_SPLIT.split(value)
    out: list[str] = []
    last_ew = last_ws = -2  # indexes in ``out`` of the last encoded word and white space
    for i, piece in enumerate(pieces):
        if i % 2:  # white space
            last_ws = len(out)
            out.append(piece)
            continue
        if "=?" not in piece:
            if piece:
                out.append(piece)
            continue
        if not EW_RE.fullmatch(piece):
            return None
        text = decode_word(piece)
        if text is None:
            return None
        if last_ew == len(out) - 2 and last_ws == len(out) - 1:
            out[-1] = ""  # white space between two encoded words
        out.append(text)
        last_ew = len(out) - 1
    return "".join(out)


def decode_word(word: str) -> str | None:
    """One encoded word as the registry decodes it (the same function), None where the registry
    would record a defect or read it differently."""
    _, charset, cte, text, _ = word.split("?")
    if cte in "qQ" and _Q_EQUALS.search(text) or cte in "bB" and (text[0] == "=" or len(text) % 4):
        return None
    try:
        decoded, _charset, _lang, defects = decode_encoded_word(word)
    except (ValueError, KeyError, LookupError):  # LookupError also: the decoder is absent (cpython_email)
        return None
    return None if defects or has_surrogates(decoded) else decoded


def unfold(raw: str) -> str:
    """``raw`` without its line breaks (RFC 5322 §2.2.3 unfolding)."""
    if "\n" not in raw and "\r" not in raw:
        return raw
    return "".join(_LINESEP.split(raw))


def _registry_text(name: str, value: str) -> str:
    try:
        return repair(str(policy.default.header_fetch_parse(name, unfold(value))))
    except Exception:  # the registry raises on a few malformed values; fall back to the raw text
        return value


def message_id(part: Message, name: str = "Message-ID") -> str | None:
    """The normalised id of a Message-ID-like header (brackets stripped, domain lower-cased)."""
    raw = raw_header(part, name)
    if raw is None:
        return None
    value = repair(unfold(raw)).strip()
    m = _ANGLE_ID.search(value)
    if m:
        return normalize_message_id(m.group(1))
    token = value.split()[0] if value.split() else ""
    return normalize_message_id(token) if "@" in token else None


def id_list(part: Message, name: str) -> list[str]:
    """Every ``<id>`` of a References-like header, normalised, in order."""
    ids: list[str] = []
    for raw in raw_headers(part, name):
        for found in _ANGLE_ID.findall(repair(raw)):
            norm = normalize_message_id(found)
            if norm:
                ids.append(norm)
    return ids


def _rfc5322_date(value: str) -> datetime | None:
    """``parsedate_to_datetime(value)`` for the canonical form (``Thu, 01 Jan 2026 00:17:00
    +0100``; a four-digit year from 1000, a numeric zone other than ``-0000``), computed as it
    does; None for any other form. Raises what it raises (ValueError) on impossible values."""
    m = _CANONICAL_DATE.fullmatch(value)
    if m is None:
        return None
    day, month, year, hour, minute, second, sign, zone_h, zone_m = m.groups()
    if sign == "-" and zone_h == zone_m == "00":
        return None  # -0000: no zone (parsedate_to_datetime returns a naive datetime)
    offset = int(zone_h) * 3600 + int(zone_m) * 60
    return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second),
                    tzinfo=timezone(timedelta(seconds=-offset if sign == "-" else offset)))


def date(part: Message, name: str = "Date") -> datetime | None:
    """The Date header as an aware datetime (no zone or ``-0000`` read as UTC), or None when it is
    missing, unreadable or outside 1970–2200."""
    raw = raw_header(part, name)
    if not raw:
        return None
    value = collapse(repair(raw))
    try:
        parsed = _rfc5322_date(value) or email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed if 1970 <= parsed.year <= 2200 else None
