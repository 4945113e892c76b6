"""Address headers (From, To, Cc, ...) as ``policy.default`` reads them, through the fast path of
``headers.py`` where the value allows it.

Two deliberate differences from ``policy.default``, both RFC readings of address lists (see
``rfc_phrases``): an unquoted address before an angle-addr is the display name, the angle-addr
the address (RFC 5322 §3.4); white space between adjacent encoded words of a display name is
dropped (RFC 2047 §6.2). ``address_warnings`` names the first, a spoofing vector.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable
from email import policy
from email.message import Message

from ..common.messages import Address
from .charsets import normalize_encoded_words
from .headers import ATOM, EW, EW_RE, PLAIN, WSP_RUN, collapse, decode_word, repair, repair_outside_words, unfold
from .tree import raw_headers

# An address list policy.default reads exactly as a split on commas would: no quotes, comments,
# groups, escapes, encoded words or route syntax.
_SIMPLE_ADDR_LIST = re.compile(r"[^\"()\\;:\[\]]*")
_ADDR_SPEC = r"[^<>@\s]+@[^<>@\s]+"
_SIMPLE_MAILBOX = re.compile(rf"\s*(?:([A-Za-z0-9!#$%&'*+/=?^_`{{|}}~. -]*?)\s*<({_ADDR_SPEC})>|({_ADDR_SPEC}))\s*")
_ATEXT = r"[^@\s<>(),;:\"\[\]\\]+"
_VALID_ADDRESS = re.compile(rf'(?:{_ATEXT}|"[^"\r\n]*")@{_ATEXT}')
# The headers policy.default's registry reads as address lists (others are unstructured to it).
_ADDRESS_HEADERS = {"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender", "resent-to",
                    "resent-cc", "resent-bcc"}
_SALVAGE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_WORD = rf'(?:({EW})|"([^"\\]*)"|({ATOM}))'
_WORD_RE = re.compile(_WORD)
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_WORD_NC = rf'(?:{EW}|"[^"\\]*"|{ATOM})'
_MAILBOX = re.compile(rf"[ \t]*(?:(?P<phrase>{_WORD_NC}(?:[ \t]+{_WORD_NC})*)?[ \t]*"
                      rf"<(?P<angle>{_DOT_ATOM}@{_DOT_ATOM})>|(?P<bare>{_DOT_ATOM}@{_DOT_ATOM}))[ \t]*(?:,|$)")
# rfc_phrases: quoted strings and comments (masked, so nothing inside them is rewritten); white
# space between two encoded words that are tokens of their own; a mailbox's text up to its "<"
# when it holds an "@" (one scan per segment between , : ; < >: linear on hostile values); an
# unquoted word with "@" in that text.
_QUOTED_OR_COMMENT = re.compile(r'"(?:[^"\\]|\\.)*"|\((?:[^()\\]|\\.)*\)')
_EW_GAP = re.compile(rf"(?<![^ \t,:;<>])({EW})[ \t]+(?={EW}(?![^ \t,:;<>]))")
_EW_GAP_QUICK = re.compile(r"\?=[ \t]+=\?")  # the quick test for _EW_GAP (searched from its literal)
_AT_BEFORE_ANGLE = re.compile(r"(?<![^,:;<>])[^,:;<>@]*@[^,:;<>]*<")
_AT_BEFORE_ANGLE_QUICK = re.compile(r"@[^,:;<>@]*<")  # the quick test for _AT_BEFORE_ANGLE
_AT_WORD = re.compile(r'(?<![^\s,:;<>])[^\s\x00\\"()]*@[^\s\x00\\"()]*(?![^\s])')
# address_warnings: an address written in a display name (quotes, brackets, punctuation around it excluded).
DISPLAY_NAME_IS_ADDRESS = "display_name_is_address"
_NAME_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+")


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
                gap = WSP_RUN.match(phrase, at)
                if gap is None and at < len(phrase):
                    return None  # words not separated by white space
                at = gap.end() if gap else at
                if ew is not None:
                    text = decode_word(ew)
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


def addresses(part: Message, name: str) -> list[Address]:
    """Every mailbox of every ``name`` header, addresses lower-cased, duplicates dropped, groups
    flattened, entries without ``@`` (e.g. ``undisclosed-recipients:;``) left out. Phrases are
    read as the RFCs say (``rfc_phrases``), then as policy.default reads them."""
    seen: dict[str, Address] = {}
    registry_reads = name.lower() in _ADDRESS_HEADERS
    for raw in raw_headers(part, name):
        value = rfc_phrases(repair_outside_words(normalize_encoded_words(unfold(raw))))
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
    if "=?" not in value and PLAIN.fullmatch(value) and _SIMPLE_ADDR_LIST.fullmatch(value):
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
                if not EW_RE.fullmatch(word.group()):
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
