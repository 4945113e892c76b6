"""Malformed MIME structure a lenient reader recovers and ``policy.default`` loses (issue 14).

Each function repairs one shape, is a no-op (and cheap) on mail without it, and is listed with its
reason in docs/parser.md, "Deliberate differences from policy.default":

- ``obsolete_field_names``: RFC 5322 §4.5.3 obs-optional (``Subject\\t: hi``), which the feed
  parser takes for the end of the header block (or, for ``From  :`` on the first line, for a
  Unix-From line);
- ``after_unix_from``: where the header starts after a leading mbox ``From `` envelope line;
- ``quote_boundaries``: an unquoted ``boundary=----=_NextPart_...``, which the header registry
  cuts at the ``=`` (compat32 and mail clients read the whole token);
- ``reclaim_epilogue``: parts after a close delimiter that a nested multipart reusing its
  parent's boundary consumed early;
- ``salvage_base64``: base64 one character past a whole quad, which the stdlib keeps undecoded.
"""

from __future__ import annotations

import binascii
import email
import re
from email.message import Message

from .constants import FIELD_NAME_BYTES

_OBSOLETE_FIELD = re.compile(rb"(" + FIELD_NAME_BYTES + rb")[ \t]+:")
_HEADER_LINE = re.compile(FIELD_NAME_BYTES + rb":|[ \t]")  # a field, or a continuation line
_UNIX_FROM = b"From "
# A boundary parameter whose unquoted value holds "=" (RFC 2045 requires quotes; Outlook and
# Outlook Express long wrote ----=_NextPart_... without them), matched after "b".
_UNQUOTED_VALUE = re.compile(rb'(?i)oundary[ \t]*=[ \t]*([^\s;"\\]*=[^\s;"\\]*)')
_CONTENT_TYPE_START = re.compile(rb"(?i)content-type[ \t]*:")
_NOT_BASE64 = bytes(b for b in range(256) if not (chr(b).isascii() and (chr(b).isalnum() or chr(b) in "+/")))
MAX_RECLAIM_ROUNDS = 4  # per multipart: each round parses the rest of the epilogue once


def obsolete_field_names(raw: bytes, start: int, max_header_bytes: int) -> bytes | None:
    """``raw`` with ``name WSP :`` read as ``name:`` in the top-level header block (until the
    blank line or the first line that is neither a field, a continuation, nor such an obsolete
    field), or None when the block has none (the common case: two ``bytes.find`` calls)."""
    limit = min(len(raw), start + max_header_bytes)
    first = raw.find(b"\n", start, limit)
    blank = b"\n\r\n" if first > 0 and raw[first - 1] == 0x0D else b"\n\n"  # the first line's line end
    stop = raw.find(blank, start, limit)  # (searching both would scan a large message to its end)
    end = limit if stop < 0 else stop + 1  # with other line ends the loop below still stops at the blank line
    if raw.find(b" :", start, end) < 0 and raw.find(b"\t:", start, end) < 0:
        return None
    lines = raw[start:end].split(b"\n")
    changed = False
    for n, line in enumerate(lines):
        m = _OBSOLETE_FIELD.match(line)
        if m is not None:
            lines[n] = m.group(1) + b":" + line[m.end():]
            changed = True
        elif not (_HEADER_LINE.match(line) or (n == 0 and line.startswith(_UNIX_FROM))):
            break  # the header block ends here for the stdlib too
    if not changed:
        return None
    return raw[:start] + b"\n".join(lines) + raw[end:]


def after_unix_from(raw: bytes, start: int) -> int:
    """Where the header fields start: after a leading mbox ``From `` envelope line (the feed
    parser's Unix-From line; ``>From`` quoting in bodies stays, as the stdlib leaves it)."""
    if not raw.startswith(_UNIX_FROM, start):
        return start
    eol = raw.find(b"\n", start)
    return len(raw) if eol < 0 else eol + 1


def quote_boundaries(raw: bytes) -> bytes:
    """``raw`` with each unquoted boundary value holding ``=`` quoted, in Content-Type fields
    only; ``raw`` itself when there is none. Found with ``bytes.find`` (a case-insensitive regex
    over the whole message would cost ~40 ms a megabyte)."""
    values: list[tuple[int, int]] = []  # spans of the values to quote
    for marker in (b"oundary", b"OUNDARY"):  # boundary, Boundary, BOUNDARY
        at = raw.find(marker)
        while at > 0:
            m = _UNQUOTED_VALUE.match(raw, at)
            if m is not None and raw[at - 1:at] in (b"b", b"B") and _in_content_type(raw, at):
                values.append(m.span(1))
            at = raw.find(marker, at + 1)
    if not values:
        return raw
    pieces, last = [], 0
    for start, end in sorted(values):
        pieces += [raw[last:start], b'"', raw[start:end], b'"']
        last = end
    return b"".join(pieces) + raw[last:]


def _in_content_type(raw: bytes, at: int) -> bool:
    """Whether position ``at`` lies in a Content-Type header field (its first line or a
    continuation line of it)."""
    line = raw.rfind(b"\n", 0, at) + 1
    while raw[line:line + 1] in (b" ", b"\t") and line > 0:
        line = raw.rfind(b"\n", 0, line - 1) + 1  # a continuation: the field starts further up
    return _CONTENT_TYPE_START.match(raw, line) is not None


def reclaim_epilogue(part: Message) -> list[Message]:
    """Parts a multipart's epilogue still holds: when a child multipart declares the part's own
    boundary and the epilogue starts with that delimiter line, the child's close delimiter ended
    this part early (mail clients match the innermost boundary first and keep those parts).
    The epilogue is parsed as the rest of this multipart (with ``part``'s policy) and its parts
    appended; returns the parts added. Run placeholders in the text (tree.py) stay placeholders."""
    added: list[Message] = []
    for _ in range(MAX_RECLAIM_ROUNDS):
        epilogue, boundary = part.epilogue, part.get_boundary()
        if not epilogue or not boundary or '"' in boundary or "\\" in boundary or not part.is_multipart():
            break
        first = epilogue.lstrip("\r\n").split("\n", 1)[0].rstrip()
        if first != f"--{boundary}" or not _reuses(part, boundary):
            break  # a delimiter after the close with no nested reuse: an epilogue, as clients show it
        eol = "\r\n" if "\r\n" in epilogue else "\n"
        text = f'Content-Type: multipart/mixed; boundary="{boundary}"{eol}{eol}{epilogue}'
        rest = email.message_from_bytes(text.encode("ascii", "surrogateescape"), policy=part.policy)
        children = rest.get_payload()
        if not isinstance(children, list) or not children:
            break
        for child in children:
            part.attach(child)
        added += children
        part.defects.extend(rest.defects)
        part.epilogue = rest.epilogue
    return added


def _reuses(part: Message, boundary: str) -> bool:
    """Whether a child of ``part`` is a multipart declaring ``part``'s own boundary."""
    children = part.get_payload()
    return isinstance(children, list) and any(
        isinstance(c, Message) and c.get_content_maintype() == "multipart" and c.get_boundary() == boundary
        for c in children)


def salvage_base64(encoded: bytes) -> bytes:
    """What a lenient decoder makes of base64 the stdlib cannot decode (a dangling character
    after the last whole quad): the alphabet characters, less the dangling one, decoded."""
    data = encoded.translate(None, _NOT_BASE64)
    data = data[: len(data) - 1] if len(data) % 4 == 1 else data
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:  # pragma: no cover  # only alphabet characters in whole quads remain
        return b""
