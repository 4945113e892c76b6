"""Header values as ``policy.default`` decodes them, computed only for the headers we need.

The tree keeps raw header values; a value is decoded through ``policy.default``'s header registry
(RFC 2047 encoded words, address lists, groups, comments), except where the raw value is plain
ASCII of a shape the registry would return unchanged, which skips the registry's cost (it is most
of ``policy.default``'s slowness on small mail). Raw 8-bit bytes are read as UTF-8 when they are
UTF-8, else with a detected charset, before the registry sees them (``policy.default`` would
keep them as surrogates or replacement characters) — except inside an encoded word, where they
stay bytes so the word decodes them with its own charset, as ``policy.default`` does.

Two deliberate differences from ``policy.default``, both RFC readings of address lists (see
``rfc_phrases``): an unquoted address before an angle-addr is the display name, the angle-addr
the address (RFC 5322 §3.4); white space between adjacent encoded words of a display name is
dropped (RFC 2047 §6.2).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import Message

from ..common.identity import normalize_message_id
from ..common.messages import Address
from .bodies import detect
from .charsets import normalize_encoded_words
from .constants import FALLBACK_CHARSET
from .cpython_email import decode_encoded_word
from .tree import raw_header, raw_headers

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_LINESEP = re.compile(r"\r\n|\r|\n")
_PLAIN = re.compile(r"[\x20-\x7e\t]*")
# An address list policy.default reads exactly as a split on commas would: no quotes, comments,
# groups, escapes, encoded words or route syntax.
_SIMPLE_ADDR_LIST = re.compile(r"[^\"()\\;:\[\]]*")
_ADDR_SPEC = r"[^<>@\s]+@[^<>@\s]+"
_SIMPLE_MAILBOX = re.compile(rf"\s*(?:([A-Za-z0-9!#$%&'*+/=?^_`{{|}}~. -]*?)\s*<({_ADDR_SPEC})>|({_ADDR_SPEC}))\s*")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_CANONICAL_DATE = re.compile(rf"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{{1,2}}) ({'|'.join(_MONTH_NAMES)})"
                             r" ([1-9]\d{3}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")
_ATEXT = r"[^@\s<>(),;:\"\[\]\\]+"
_VALID_ADDRESS = re.compile(rf'(?:{_ATEXT}|"[^"\r\n]*")@{_ATEXT}')
# The headers policy.default's registry reads as address lists (others are unstructured to it).
_ADDRESS_HEADERS = {"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender", "resent-to",
                    "resent-cc", "resent-bcc"}
_SALVAGE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# The fast decoders' grammar (see fast_unstructured and fast_mailboxes): RFC 2047 encoded words
# in their strict form, atoms, plain quoted strings and dot-atom addresses.
# (Raw 8-bit bytes in the text, kept as surrogate escapes, are the registry's too: see repair_outside_words.)
_EW = r"=\?[A-Za-z0-9!#$%&'+^_`{}~-]+\?[BbQq]\?[!->@-~\udc80-\udcff]+\?="
_EW_RE = re.compile(_EW)
_Q_EQUALS = re.compile(r"=(?![0-9A-Fa-f]{2})")
_WSP_SPLIT = re.compile(r"([ \t]\s*)")  # get_fws: a space or tab, then all white space
_WSP_RUN = re.compile(r"[ \t]+")
_ATOM = r'[^ \t"(),:;<>@\[\]\\]+'
_WORD = rf'(?:({_EW})|"([^"\\]*)"|({_ATOM}))'
_WORD_RE = re.compile(_WORD)
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_WORD_NC = rf'(?:{_EW}|"[^"\\]*"|{_ATOM})'
_MAILBOX = re.compile(rf"[ \t]*(?:(?P<phrase>{_WORD_NC}(?:[ \t]+{_WORD_NC})*)?[ \t]*"
                      rf"<(?P<angle>{_DOT_ATOM}@{_DOT_ATOM})>|(?P<bare>{_DOT_ATOM}@{_DOT_ATOM}))[ \t]*(?:,|$)")
# A token shaped like an encoded word whose text may hold raw 8-bit bytes (surrogate escapes).
_EW_RAW = re.compile(r"(?<![^\s\"(),:;<>])=\?[^?\s]+\?[BbQq]\?[^?\s]+\?=(?![^\s\"(),:;<>])")
_SURROGATES = re.compile("[\udc80-\udcff]")
# rfc_phrases: quoted strings and comments (masked, so nothing inside them is rewritten); white
# space between two encoded words that are tokens of their own; a mailbox's text up to its "<"
# when it holds an "@" (one scan per segment between , : ; < >: linear on hostile values); an
# unquoted word with "@" in that text.
_QUOTED_OR_COMMENT = re.compile(r'"(?:[^"\\]|\\.)*"|\((?:[^()\\]|\\.)*\)')
_EW_GAP = re.compile(rf"(?<![^ \t,:;<>])({_EW})[ \t]+(?={_EW}(?![^ \t,:;<>]))")
_EW_GAP_QUICK = re.compile(r"\?=[ \t]+=\?")  # the quick test for _EW_GAP (searched from its literal)
_AT_BEFORE_ANGLE = re.compile(r"(?<![^,:;<>])[^,:;<>@]*@[^,:;<>]*<")
_AT_BEFORE_ANGLE_QUICK = re.compile(r"@[^,:;<>@]*<")  # the quick test for _AT_BEFORE_ANGLE
_AT_WORD = re.compile(r'(?<![^\s,:;<>])[^\s\x00\\"()]*@[^\s\x00\\"()]*(?![^\s])')
# address_warnings: an address written in a display name (quotes, brackets, punctuation around it excluded).
DISPLAY_NAME_IS_ADDRESS = "display_name_is_address"
_NAME_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+")


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
    if "=?" not in raw and _PLAIN.fullmatch(_unfold(raw)):
        return collapse(raw)
    value = repair_outside_words(normalize_encoded_words(raw))  # labels the stdlib lacks: charsets.py
    fast = fast_unstructured(_unfold(value))
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
        if not _EW_RE.fullmatch(piece):
            return None
        text = _decode_word(piece)
        if text is None:
            return None
        if last_ew == len(out) - 2 and last_ws == len(out) - 1:
            out[-1] = ""  # white space between two encoded words
        out.append(text)
        last_ew = len(out) - 1
    return "".join(out)


def _decode_word(word: str) -> str | None:
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


def fast_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """The (display name, address) pairs policy.default's registry reads from an unfolded address
    list made of plain mailboxes (``name <local@domain>`` or ``local@domain``; names of atoms,
    plain quoted strings and strictly formed encoded words); None for anything else. Display
    names come as the registry gives them up to white space (words joined by one space; the
    caller collapses white space)."""
    out: list[tuple[str, str]] = []
    pos, end = 0, len(value)
    while pos < end:
        m = _MAILBOX.match(value, pos)
        if m is None or m.end() == pos:
            return None
        addr = m.group("angle") or m.group("bare")
        if "=?" in addr:
            return None
        phrase = m.group("phrase")
        words: list[str] = []
        if phrase and '"' not in phrase and "=?" not in phrase:
            if phrase[0] == "." or phrase[-1] == ".":
                return None  # the registry fails on these (an obsolete phrase at its edge)
            words.append(phrase)  # atoms only: the same text once the caller collapses white space
        elif phrase:
            if phrase[0] == "." or phrase[-1] == ".":
                return None
            at = 0
            while at < len(phrase):
                w = _WORD_RE.match(phrase, at)
                if w is None:
                    return None
                ew, quoted, atom = w.groups()
                at = w.end()
                gap = _WSP_RUN.match(phrase, at)
                if gap is None and at < len(phrase):
                    return None  # words not separated by white space
                at = gap.end() if gap else at
                if ew is not None:
                    text = _decode_word(ew)
                    if text is None:
                        return None
                    words.append(text)
                elif "=?" in (quoted if quoted is not None else atom):
                    return None
                else:
                    words.append(quoted if quoted is not None else atom)
        out.append((" ".join(words), addr))
        pos = m.end()
        if value.endswith(",", 0, pos) and pos == end:
            return None  # a trailing comma: an empty entry
    return out


def _unfold(raw: str) -> str:
    if "\n" not in raw and "\r" not in raw:
        return raw
    return "".join(_LINESEP.split(raw))


def _registry_text(name: str, value: str) -> str:
    try:
        return repair(str(policy.default.header_fetch_parse(name, _unfold(value))))
    except Exception:  # the registry raises on a few malformed values; fall back to the raw text
        return value


def addresses(part: Message, name: str) -> list[Address]:
    """Every mailbox of every ``name`` header, addresses lower-cased, duplicates dropped, groups
    flattened, entries without ``@`` (e.g. ``undisclosed-recipients:;``) left out. Phrases are
    read as the RFCs say (``rfc_phrases``), then as policy.default reads them."""
    seen: dict[str, Address] = {}
    registry_reads = name.lower() in _ADDRESS_HEADERS
    for raw in raw_headers(part, name):
        value = rfc_phrases(repair_outside_words(normalize_encoded_words(_unfold(raw))))
        fast = fast_mailboxes(value) if registry_reads else None
        if fast is not None:  # dot-atom addresses: no white space or controls, always valid
            valid = [(collapse(d) if d else "", a.lower()) for d, a in fast]
        else:
            found = [(collapse(d), collapse(a).lower()) for d, a in _mailboxes(name, value)]
            valid = [(d, a) for d, a in found if _VALID_ADDRESS.fullmatch(a)]
            if not valid and found:  # unreadable to the registry: salvage what looks like addresses
                valid = [("", a.lower()) for a in _SALVAGE.findall(repair(raw))]
        for display, addr in valid:
            if addr not in seen:
                seen[addr] = Address(name=display, address=addr)
    return list(seen.values())


def _mailboxes(name: str, value: str) -> list[tuple[str, str]]:
    """The (display name, address) pairs of an unfolded value (raw bytes left only inside
    encoded words, see repair_outside_words)."""
    if "=?" not in value and _PLAIN.fullmatch(value) and _SIMPLE_ADDR_LIST.fullmatch(value):
        pairs = []
        for item in value.split(","):
            if not item.strip():
                continue
            m = _SIMPLE_MAILBOX.fullmatch(item)
            if m is None:
                break
            pairs.append((m.group(1) or "", m.group(2) or m.group(3)))
        else:
            return pairs
    try:
        header = policy.default.header_fetch_parse(name, value)
        found = [(repair(a.display_name), repair(a.addr_spec)) for a in header.addresses]
    except Exception:  # malformed beyond the registry: fall back to the lenient stdlib splitter
        found = email.utils.getaddresses([repair(value)])
    return found


def rfc_phrases(value: str) -> str:
    """An unfolded address list rewritten so that policy.default's registry reads its display
    names as the RFCs define them (nothing inside quoted strings or comments is touched):

    - an unquoted word holding ``@`` in the text before an angle-addr is quoted: RFC 5322 §3.4
      makes the angle-addr the mailbox and that text its display name, so
      ``ceo@corp.example <attacker@evil.example>`` is attacker's mailbox (the registry would read
      ``ceo@corp.example`` and drop the rest: a spoofing vector; see address_warnings);
    - white space between two adjacent encoded words is removed: RFC 2047 §6.2 says it is not
      displayed (the registry drops it in unstructured text but keeps it in phrases, so
      ``=?utf-8?Q?C?= =?utf-8?Q?arol?=`` would read "C arol").

    Values without either shape come back unchanged (the same object)."""
    gaps = "?=" in value and _EW_GAP_QUICK.search(value) is not None
    ats = _AT_BEFORE_ANGLE_QUICK.search(value) is not None
    if not (gaps or ats):
        return value
    masked = value
    if '"' in value or "(" in value:
        masked = _QUOTED_OR_COMMENT.sub(lambda m: "\x00" * len(m.group()), value)
    edits: list[tuple[int, int, str]] = []
    if gaps:
        edits += [(m.end(1), m.end(), "") for m in _EW_GAP.finditer(masked)]
    if ats:
        for segment in _AT_BEFORE_ANGLE.finditer(masked):
            for word in _AT_WORD.finditer(masked, segment.start(), segment.end() - 1):
                if not _EW_RE.fullmatch(word.group()):
                    edits.append((word.start(), word.end(), f'"{word.group()}"'))
    if not edits:
        return value
    out, at = [], 0
    for start, end, text in sorted(edits):
        out += [value[at:start], text]
        at = end
    out.append(value[at:])
    return "".join(out)


def address_warnings(found: Iterable[Address]) -> set[str]:
    """``{"display_name_is_address"}`` when a display name carries an address other than its
    mailbox's own (``"ceo@corp.example" <attacker@evil.example>``, however written: quoted,
    unquoted, encoded): the name a mail client shows is not the sender. A name that is the
    mailbox's own address (``'bob@example.com' <bob@example.com>``, as Outlook writes it) is
    not one. Empty otherwise."""
    for address in found:
        if "@" not in address.name:
            continue
        for written in _NAME_ADDRESS.findall(address.name):
            candidate = written.strip(".").lower()
            if "." in candidate.partition("@")[2] and candidate != address.address:
                return {DISPLAY_NAME_IS_ADDRESS}
    return set()


def message_id(part: Message, name: str = "Message-ID") -> str | None:
    """The normalised id of a Message-ID-like header (brackets stripped, domain lower-cased)."""
    raw = raw_header(part, name)
    if raw is None:
        return None
    value = repair(_unfold(raw)).strip()
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
