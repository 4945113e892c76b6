"""The MIME tree of a message, built by the stdlib parser, fast on large encoded bodies.

The stdlib feed parser moves ~30 MB/s because it handles every line of every body in Python.
Long runs of lines made only of base64 characters (``A-Z a-z 0-9 + / =``) can never be a header,
a header continuation, a boundary or a blank line, so the parser treats such a run as opaque body
text whatever state it is in. Before parsing, each long run is swapped for one placeholder line
of the same character class; the parser then builds exactly the tree it would have built from the
original bytes, and a part's payload gets its run back (as bytes, never as a str copy) when the
part is decoded. The tree therefore has ``policy.default``'s structure and defects, while the bulk
of the bytes only pass through C code (``bytes.find``, ``binascii``).

The tree is parsed with ``compat32`` (header values kept raw; no header-registry work while
parsing) unless a Content-Type header is not simple, in which case it is parsed with
``policy.default`` so structural decisions (boundaries, content types) are the same as
``policy.default``'s on any input.
"""

from __future__ import annotations

import binascii
import email
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email._encoded_words import decode_b  # type: ignore[import-untyped]
from email.message import Message
from email.parser import BytesParser

from ..common.errors import PoisonMessage
from .limits import TOO_DEEP, TOO_MANY_PARTS, Budget, ParseLimits

MIN_RUN_BYTES = 4096  # shorter runs cost more to swap than to parse
_RUN = re.compile(rb"(?:^[A-Za-z0-9+/=]+\r?\n)+", re.MULTILINE)
_TOKEN_PREFIX = b"MailpipeRunQ7x"
_TOKEN = re.compile(_TOKEN_PREFIX.decode() + r"(\d+)Z")
_TOKEN_B = re.compile(_TOKEN_PREFIX + rb"(\d+)Z")
# A Content-Type whose meaning compat32 and policy.default read alike: type/subtype, then
# token or plain quoted parameters (no comments, escapes, encoded words or RFC 2231 forms).
_TOKEN_RE = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_SIMPLE_CT = re.compile(rf'\s*{_TOKEN_RE}/{_TOKEN_RE}\s*(?:;\s*[A-Za-z0-9-]+=(?:{_TOKEN_RE}|"[^"\\\r\n]*")\s*)*;?\s*')


@dataclass
class Tree:
    """A parsed message: the stdlib Message tree plus the byte runs its payloads refer to."""

    root: Message
    source: bytes = b""
    runs: list[tuple[int, int]] = field(default_factory=list)  # spans of ``source``, never copied up front

    def payload_bytes(self, part: Message) -> bytes:
        """The part's transfer-encoded body as bytes, runs restored (what the parser saw)."""
        payload = part._payload  # raw: get_payload() re-decodes 8-bit text with the charset
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
        payload = part._payload
        if not isinstance(payload, str):
            return b""
        cte = transfer_encoding(part)
        fast = self._single_run(payload) if cte == "base64" else None
        if fast is not None:
            budget.spend(len(fast) * 3 // 4)
            with fast:
                return binascii.a2b_base64(fast)
        raw = self.payload_bytes(part)
        budget.spend(len(raw))
        if cte == "base64":
            value, defects = decode_b(b"".join(raw.splitlines()))
            part.defects.extend(defects)
            return bytes(value)
        if cte == "quoted-printable":
            return quopri.decodestring(raw)
        if cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
            restored = raw.decode("ascii", "surrogateescape")
            probe = Message(policy=policy.compat32)
            probe["Content-Transfer-Encoding"] = cte
            probe.set_payload(restored)
            value = probe.get_payload(decode=True)
            return value if isinstance(value, bytes) else raw
        return raw

    def _single_run(self, payload: str) -> memoryview | None:
        """The run when the payload is exactly one clean base64 run (the common attachment):
        ``=`` only at the end and whole quads, so ``a2b_base64`` gives what ``decode_b`` gives."""
        if not self.runs or not payload.startswith(_TOKEN_PREFIX.decode()):
            return None
        m = _TOKEN.fullmatch(payload.rstrip("\r\n"))
        if m is None:
            return None
        start, end = self.runs[int(m.group(1))]
        src = self.source
        pad = src.find(b"=", start, end)
        if pad >= 0 and (end - pad > 8 or src[pad:end].strip(b"=\r\n")):
            return None
        chars = end - start - src.count(b"\n", start, end) - src.count(b"\r", start, end)
        return memoryview(src)[start:end] if chars % 4 == 0 else None


def transfer_encoding(part: Message) -> str:
    """The Content-Transfer-Encoding token, lower-cased, as policy.default reads it."""
    raw = raw_header(part, "content-transfer-encoding")
    if raw is None:
        return ""
    value = raw.strip().lower()
    if _TOKEN_ONLY.fullmatch(value):
        return value
    return str(policy.default.header_fetch_parse("Content-Transfer-Encoding", raw)).strip().lower()


_TOKEN_ONLY = re.compile(_TOKEN_RE)


def raw_header(part: Message, name: str) -> str | None:
    """The first raw (undecoded, unfolded-as-stored) value of header ``name``, or None."""
    lname = name.lower()
    for k, v in part._headers:  # the stored source values under both policies
        if k.lower() == lname:
            return str(v)
    return None


def raw_headers(part: Message, name: str) -> list[str]:
    """Every raw value of header ``name``."""
    lname = name.lower()
    return [str(v) for k, v in part._headers if k.lower() == lname]


def parse_tree(raw: bytes, limits: ParseLimits, headers_only: bool = False) -> Tree:
    """Parse ``raw`` into a Tree; raises PoisonMessage past the part and depth limits. With
    ``headers_only`` the bytes are a header block alone and no body structure is parsed."""
    if headers_only:
        return Tree(BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True))
    skeleton, runs = _swap_runs(raw)
    try:
        root = email.message_from_bytes(skeleton, policy=policy.compat32)
        if not all(_simple_content_type(p) for p in walk(root)):
            root = email.message_from_bytes(skeleton, policy=policy.default)
    except RecursionError as exc:
        raise PoisonMessage(TOO_DEEP, "MIME nesting deeper than the parser can follow") from exc
    _check_shape(root, limits)
    return Tree(root, raw, runs)


def _swap_runs(raw: bytes) -> tuple[bytes, list[tuple[int, int]]]:
    if len(raw) < MIN_RUN_BYTES or _TOKEN_PREFIX in raw:
        return raw, []
    runs: list[tuple[int, int]] = []
    pieces: list[bytes] = []
    last = 0
    for m in _RUN.finditer(raw):
        start, end = m.span()
        if end - start < MIN_RUN_BYTES:
            continue
        eol = b"\r\n" if raw[end - 2:end] == b"\r\n" else b"\n"
        pieces += [raw[last:start], _TOKEN_PREFIX + str(len(runs)).encode() + b"Z" + eol]
        runs.append((start, end))
        last = end
    if not runs:
        return raw, []
    pieces.append(raw[last:])
    return b"".join(pieces), runs


def _simple_content_type(part: Message) -> bool:
    raw = raw_header(part, "content-type")
    return raw is None or _SIMPLE_CT.fullmatch(raw) is not None


def walk(root: Message) -> Iterator[Message]:
    """Every part, depth first, without recursion (a hostile tree can be deep)."""
    stack = [root]
    while stack:
        part = stack.pop()
        yield part
        payload = part.get_payload()
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
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))

