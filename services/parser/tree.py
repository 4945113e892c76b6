"""The MIME tree of a message, built by the stdlib parser, fast on large encoded bodies.

The stdlib feed parser moves ~30 MB/s because it handles every line of every body in Python.
Long runs of lines made only of base64 characters (``A-Z a-z 0-9 + / =``) can never be a header,
a header continuation, a boundary or a blank line, so the parser treats such a run as opaque body
text whatever state it is in. Before parsing, each long run is swapped for one placeholder line
of the same character class; the parser then builds exactly the tree it would have built from the
original bytes, and a part's payload gets its run back (as bytes, never as a str copy) when the
part is decoded. The tree therefore has ``policy.default``'s structure and defects, while the bulk
of the bytes only pass through C code (``bytes.find``, pybase64's SIMD decoder).

The tree is parsed with ``compat32`` (header values kept raw; no header-registry work while
parsing) unless a Content-Type header is not simple, in which case it is parsed with
``policy.default`` so structural decisions (boundaries, content types) are the same as
``policy.default``'s on any input — except where recover.py restores what a lenient reader reads
(an unquoted boundary holding ``=``, parts after a reused boundary, base64 of invalid length;
docs/parser.md, "Deliberate differences from policy.default").
"""

from __future__ import annotations

import binascii
import email
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.errors import InvalidBase64LengthDefect
from email.message import Message
from email.parser import BytesParser

import pybase64

from ..common.errors import PoisonMessage
from .constants import BASE64_ALPHABET, MIN_RUN_BYTES, RUN_PREFIX, SIMPLE_CT, TOKEN_RE
from .cpython_email import decode_b, raw_payload
from .limits import TOO_DEEP, TOO_MANY_PARTS, Budget, ParseLimits
from .recover import quote_boundaries, reclaim_epilogue, salvage_base64
from .split import FastMessage, split

_SHAPE = bytes(ord("a") if b in BASE64_ALPHABET else b if b in b"\r\n" else ord("#") for b in range(256))
# The end of a line with at least 60 alphabet characters: the marker ends with a line end so the
# search skips ahead (a marker of repeated ``a`` alone would make bytes.find crawl).
_LONG_LINE_ENDS = (b"a" * 60 + b"\r\n", b"a" * 60 + b"\n")
_TOKEN_PREFIX = RUN_PREFIX.encode()
_TOKEN = re.compile(_TOKEN_PREFIX.decode() + r"(\d+)Z")
_TOKEN_B = re.compile(_TOKEN_PREFIX + rb"(\d+)Z")


@dataclass
class Tree:
    """A parsed message: the stdlib Message tree plus the byte runs its payloads refer to."""

    root: Message
    source: bytes = b""
    runs: list[tuple[int, int]] = field(default_factory=list)  # spans of ``source``, never copied up front

    def payload_bytes(self, part: Message) -> bytes:
        """The part's transfer-encoded body as bytes, runs restored (what the parser saw)."""
        payload = raw_payload(part)  # raw: get_payload() re-decodes 8-bit text with the charset
        if not isinstance(payload, str):
            return b""
        raw = payload.encode("ascii", "surrogateescape")
        if not self.runs or _TOKEN_PREFIX not in raw:
            return raw
        return _TOKEN_B.sub(lambda m: self._run(int(m.group(1))), raw)

    def restore(self, data: bytes) -> bytes:
        """Put the runs back into bytes generated from (a part of) the tree."""
        if not self.runs or _TOKEN_PREFIX not in data:
            return data
        return _TOKEN_B.sub(lambda m: self._run(int(m.group(1))), data)

    def _run(self, index: int) -> bytes:
        start, end = self.runs[index]
        cut = 2 if self.source[end - 2:end] == b"\r\n" else 1  # the line end stays in the payload
        return self.source[start:end - cut]

    def decoded(self, part: Message, budget: Budget) -> bytes:
        """The part's body with its Content-Transfer-Encoding undone, as ``policy.default``'s
        ``get_payload(decode=True)`` does (same bytes, same defects registered on the part)."""
        payload = raw_payload(part)
        if not isinstance(payload, str):
            return b""
        cte = transfer_encoding(part)
        fast = self._single_run(payload) if cte == "base64" else None
        if fast is not None:
            view, padding = fast
            budget.spend(len(view) * 3 // 4)
            try:
                # a2b_base64's bytes on a run of base64 lines (tests/unit/test_base64_run.py) at
                # 5x its speed: both drop the line ends and stop at the final padding
                value = pybase64.b64decode(view)
            except binascii.Error:
                value = None
            # Whole quads decode to a multiple of 3 bytes less the padding: then this and
            # decode_b agree; anything else takes decode_b's path (and its defects).
            if value is not None and len(value) % 3 == (0, 2, 1)[padding]:
                return value
        raw = self.payload_bytes(part)
        budget.spend(len(raw))
        if cte == "base64":
            encoded = b"".join(raw.splitlines())
            value, defects = decode_b(encoded)
            part.defects.extend(defects)
            if any(isinstance(d, InvalidBase64LengthDefect) for d in defects):
                return salvage_base64(encoded)  # decode_b returned the text itself: recover the bytes
            return bytes(value)
        if cte == "quoted-printable":
            return quopri.decodestring(raw)
        if cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
            restored = raw.decode("ascii", "surrogateescape")
            probe = Message(policy=policy.compat32)
            probe["Content-Transfer-Encoding"] = cte
            probe.set_payload(restored)
            decoded = probe.get_payload(decode=True)
            return decoded if isinstance(decoded, bytes) else raw
        return raw

    def _single_run(self, payload: str) -> tuple[memoryview, int] | None:
        """The run and its padding when the payload is exactly one base64 run (the common
        attachment) with ``=`` only at its end."""
        if not self.runs or not payload.startswith(_TOKEN_PREFIX.decode()):
            return None
        m = _TOKEN.fullmatch(payload.rstrip("\r\n"))
        if m is None:
            return None
        start, end = self.runs[int(m.group(1))]
        src = self.source
        pad = src.find(b"=", start, end)
        if pad < 0:
            return memoryview(src)[start:end], 0
        tail = src[pad:end].rstrip(b"\r\n")
        if len(tail) > 2 or tail.strip(b"="):
            return None
        return memoryview(src)[start:end], len(tail)


def transfer_encoding(part: Message) -> str:
    """The Content-Transfer-Encoding token, lower-cased, as policy.default reads it."""
    raw = raw_header(part, "content-transfer-encoding")
    if raw is None:
        return ""
    value = raw.strip().lower()
    if _TOKEN_ONLY.fullmatch(value):
        return value
    return str(policy.default.header_fetch_parse("Content-Transfer-Encoding", raw)).strip().lower()


_TOKEN_ONLY = re.compile(TOKEN_RE)


def raw_header(part: Message, name: str) -> str | None:
    """The first raw (undecoded, as stored by the parser) value of header ``name``, or None."""
    values = _index(part).get(name.lower())
    return values[0] if values else None


def raw_headers(part: Message, name: str) -> list[str]:
    """Every raw value of header ``name``."""
    return _index(part).get(name.lower(), [])


def _index(part: Message) -> dict[str, list[str]]:
    """Header name → raw values, built once per part (parts are not changed after parsing)."""
    index: dict[str, list[str]] | None = getattr(part, "_mailpipe_index", None)
    if type(part) is FastMessage:
        return part._mailpipe_index  # built with the tree, which never changes
    if index is None or len(part) != sum(map(len, index.values())):  # len(): the number of header fields
        index = {}
        for k, v in part.raw_items():  # the stored source values under both policies
            index.setdefault(k.lower(), []).append(str(v))
        part._mailpipe_index = index  # type: ignore[attr-defined]
    return index


def parse_tree(raw: bytes, limits: ParseLimits, headers_only: bool = False) -> Tree:
    """Parse ``raw`` into a Tree; raises PoisonMessage past the part and depth limits. With
    ``headers_only`` the bytes are a header block alone and no body structure is parsed."""
    if headers_only:
        return Tree(BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True))
    runs: list[tuple[int, int]] = []
    fast = split(raw, runs)  # well-formed mail: the same tree without the line-by-line parser
    if fast is not None:  # (never a reused boundary: split declines a multipart without its boundary lines)
        _check_shape(fast, limits)
        return Tree(fast, raw, runs)
    skeleton, runs = _swap_runs(raw)
    skeleton = quote_boundaries(skeleton)  # a boundary the registry would cut at "=" (recover.py)
    try:
        root = email.message_from_bytes(skeleton, policy=policy.compat32)
        if not all(_simple_content_type(p) for p in walk(root)):
            root = email.message_from_bytes(skeleton, policy=policy.default)
        _reclaim(root)
    except RecursionError as exc:
        raise PoisonMessage(TOO_DEEP, "MIME nesting deeper than the parser can follow") from exc
    _check_shape(root, limits)
    return Tree(root, raw, runs)


def _reclaim(root: Message) -> None:
    """Give each multipart back the parts a reused boundary left in its epilogue (recover.py)."""
    stack = [p for p in walk(root) if p.epilogue]
    while stack:
        stack.extend(p for child in reclaim_epilogue(stack.pop()) for p in walk(child) if p.epilogue)


def _swap_runs(raw: bytes) -> tuple[bytes, list[tuple[int, int]]]:
    """Replace each long run of base64-alphabet lines with a placeholder line.

    The search runs on a translated copy (alphabet → ``a``, other bytes except CR/LF → ``#``), so
    finding a run's start and end is ``bytes.find`` at memory speed rather than a regex per byte.
    A run starts at a line ending in at least 60 alphabet characters and ends before the first line
    holding anything else; a blank line (``\n\n``, ``\n\r``, ``\r\r``) also ends it, since a blank
    line is structure (the end of a header block)."""
    if len(raw) < MIN_RUN_BYTES or _TOKEN_PREFIX in raw:
        return raw, []
    shape = raw.translate(_SHAPE)
    runs: list[tuple[int, int]] = []
    pieces: list[bytes] = []
    last, pos = 0, 0
    hits = {marker: -1 for marker in _LONG_LINE_ENDS}
    while True:
        for marker, at in hits.items():  # each marker is searched again only once passed
            if 0 <= at < pos:
                hits[marker] = shape.find(marker, pos)
            elif at == -1 and pos == 0:
                hits[marker] = shape.find(marker)
        found = [at for at in hits.values() if at >= pos]
        if not found:
            break
        hit = min(found)
        start = shape.rfind(b"\n", 0, hit) + 1
        if shape.find(b"#", start, hit) >= 0:
            pos = hit + 1  # the line has other characters before its last 60
            continue
        other = shape.find(b"#", start)
        stop = len(shape) if other < 0 else other
        end = shape.rfind(b"\n", start, stop) + 1
        for blank in (b"\n\n", b"\n\r", b"\r\r"):
            k = shape.find(blank, start, end)
            if k >= 0:
                end = k + 1
        if end - start >= MIN_RUN_BYTES:
            eol = b"\r\n" if raw[end - 2:end] == b"\r\n" else b"\n"
            pieces += [raw[last:start], _TOKEN_PREFIX + str(len(runs)).encode() + b"Z" + eol]
            runs.append((start, end))
            last = end
        pos = max(end, hit + 1)
    if not runs:
        return raw, []
    pieces.append(raw[last:])
    return b"".join(pieces), runs


def _simple_content_type(part: Message) -> bool:
    raw = raw_header(part, "content-type")
    return raw is None or SIMPLE_CT.fullmatch(raw) is not None


def walk(root: Message) -> Iterator[Message]:
    """Every part, depth first, without recursion (a hostile tree can be deep)."""
    stack = [root]
    while stack:
        part = stack.pop()
        yield part
        payload = raw_payload(part)  # what get_payload() returns for a multipart (and no list otherwise)
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))


def _check_shape(root: Message, limits: ParseLimits) -> None:
    count = 0
    stack: list[tuple[Message, int]] = [(root, 0)]
    while stack:
        part, depth = stack.pop()
        count += 1
        if count > limits.max_parts:
            raise PoisonMessage(TOO_MANY_PARTS, f"more than {limits.max_parts} MIME parts")
        if depth > limits.max_depth:
            raise PoisonMessage(TOO_DEEP, f"MIME nesting deeper than {limits.max_depth}")
        payload = raw_payload(part)
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))

