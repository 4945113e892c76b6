"""A MIME splitter for well-formed mail: the stdlib feed parser's tree, built with bytes operations.

``email.message_from_bytes(raw, policy=compat32)`` reads a message line by line in Python
(``BufferedSubFile`` and a regex compiled per boundary), which is most of the cost of parsing
small mail. ``split`` builds the very same ``Message`` tree (same headers, payload strings,
preambles, epilogues, default types) from the raw bytes with ``bytes.find`` and one regex per
header block, for the shape nearly all mail has:

- uniform line ends (all CRLF, or all LF with no CR anywhere);
- header blocks of ``name: value`` lines and their continuations, ended by a blank line;
- every Content-Type simple (see constants.SIMPLE_CT), no ``message/*`` part, no ``multipart/digest``;
- multiparts with a boundary, a 7bit/8bit/binary (or no) transfer encoding, a first boundary
  line, no two boundary lines in a row, and a close boundary line.

Anything else returns None and the caller uses the stdlib parser, so the result is always the
stdlib's. Where the feed parser would record a defect, the input is "anything else": a tree
built here has no defects. Decisions the feed parser takes through ``Message`` methods
(content type, boundary, transfer encoding) are taken here through the same methods.
"""

from __future__ import annotations

import re
from email import policy
from email.message import Message

from .constants import BASE64_ALPHABET, FIELD_NAME_BYTES, MIN_RUN_BYTES, RUN_PREFIX, SIMPLE_CT
from .cpython_email import adopt_headers, base_params, route_params

MAX_DEPTH = 40  # deeper trees go to the stdlib parser (which enforces its own limits)
# Bodies of at least MIN_RUN_BYTES of these are kept in ``raw`` rather than copied (see split);
# RUN_PREFIX<n>Z is the placeholder payload of such a body (tree.py restores it).
_BASE64_LINES = BASE64_ALPHABET + b"\r\n"
_CHECK_SLICE = 1 << 20
_EOL_BYTES = b"\r\n"
_COMPAT32 = policy.compat32
_HEADER_BLOCK = {eol: re.compile(rb"(?:" + FIELD_NAME_BYTES + rb":[^\r\n]*" + eol
                                  + rb"(?:[ \t][^\r\n]*" + eol + rb")*)*")
                 for eol in (b"\r\n", b"\n")}
_HEADER_FIELD = {eol: re.compile(rb"(" + FIELD_NAME_BYTES + rb"):[ \t]*([^\r\n]*(?:" + eol + rb"[ \t][^\r\n]*)*)" + eol)
                 for eol in (b"\r\n", b"\n")}
_CLOSE_REST = re.compile(rb"(--)?[ \t]*")


class FastMessage(Message):
    """A compat32 ``Message`` whose header lookups are answered from an index built once (the
    tree is never changed after parsing). Under compat32 every answer equals ``Message``'s:
    ``get`` returns the first raw value as ``compat32.header_fetch_parse`` does for a value
    without surrogates (other values take ``Message.get``); parameter lists and the content type
    are computed by ``Message``'s code once and remembered. Under any other policy (the parser
    switches a part to policy.default to read a filename) ``Message``'s methods answer."""

    _mailpipe_index: dict[str, list[str]]

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        super().__init__(_COMPAT32)
        adopt_headers(self, headers)
        index: dict[str, list[str]] = {}
        for k, v in headers:
            index.setdefault(k.lower(), []).append(v)
        self._mailpipe_index = index
        self._mailpipe_ctype: str | None = None

    def get(self, name, failobj=None):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
        if self.policy is not _COMPAT32:
            return super().get(name, failobj)
        values = self._mailpipe_index.get(name.lower())
        if not values:
            return failobj
        value = values[0]
        if value.isascii():
            return value
        return super().get(name, failobj)  # surrogates make compat32 return a Header object

    def get_content_type(self) -> str:
        if self.policy is not _COMPAT32:
            return super().get_content_type()
        if self._mailpipe_ctype is None:
            self._mailpipe_ctype = super().get_content_type()
        return self._mailpipe_ctype

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._mailpipe_index

    def cached_params(self, failobj, header):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
        """Message's parameter list of ``header``: a pure function of the header's value, so it
        is computed once per distinct value (``text/plain; charset=utf-8`` recurs in most mail).
        Message's parameter methods call it (cpython_email.route_params)."""
        if self.policy is not _COMPAT32:
            return base_params(self, failobj, header)
        value = self.get(header, _MISSING)  # type: ignore[no-untyped-call]
        if value is _MISSING:
            return failobj
        if not isinstance(value, str):
            return base_params(self, failobj, header)
        if len(value) > _PARAMS_VALUE_CHARS:  # hostile values are not kept
            return base_params(self, failobj, header)
        params = _PARAMS.get(value)
        if params is None:
            params = tuple(base_params(self, failobj, header))
            if len(_PARAMS) >= _PARAMS_KEPT:
                _PARAMS.clear()
            _PARAMS[value] = params
        return list(params)


route_params(FastMessage, FastMessage.cached_params)
_PARAMS: dict[str, tuple[tuple[str, object], ...]] = {}
_PARAMS_KEPT = 4096
_PARAMS_VALUE_CHARS = 300  # at most ~1.2 M characters kept
_MISSING = object()


class _Unusual(Exception):
    """The input needs the stdlib parser."""


def split(raw: bytes, runs: list[tuple[int, int]] | None = None) -> Message | None:
    """The compat32 ``Message`` tree of ``raw``, or None when ``raw`` is not of the well-formed
    shape above (the caller then parses with the stdlib).

    With ``runs``, a subpart body of at least MIN_RUN_BYTES made only of base64-alphabet bytes
    and line ends is not copied into a string: its payload is the placeholder ``RUN_PREFIX<n>Z``
    and ``runs[n]`` its span of ``raw`` (line end included), as tree.Tree expects; a payload
    string holding RUN_PREFIX itself makes the split decline (it would read as a placeholder)."""
    first_nl = raw.find(b"\n")
    if first_nl < 0:
        return None
    eol = b"\r\n" if raw.startswith(b"\r", first_nl - 1) else b"\n"
    try:
        return _Splitter(raw, eol, runs).part(0, len(raw), 0, root=True)
    except _Unusual:
        return None


class _Splitter:
    def __init__(self, raw: bytes, eol: bytes, runs: list[tuple[int, int]] | None) -> None:
        self.raw, self.eol, self.n, self.runs = raw, eol, len(eol), runs
        self.block, self.field = _HEADER_BLOCK[eol], _HEADER_FIELD[eol]

    def part(self, start: int, end: int, depth: int, root: bool = False) -> Message:
        """The part whose lines are ``raw[start:end]`` (for a subpart: up to, not including, the
        next boundary line; its last line end still included)."""
        if depth > MAX_DEPTH:
            raise _Unusual
        raw, eol, n = self.raw, self.eol, self.n
        headers: list[tuple[str, str]] = []
        if raw.startswith(eol, start):
            body = start + n  # no header at all: the blank line opens the body
        else:
            stop = raw.find(eol + eol, start, end)
            if stop < 0:
                raise _Unusual  # headers up to the end (or up to a boundary): rare, left to the stdlib
            head_end = stop + n
            if self.block.fullmatch(raw, start, head_end) is None:
                raise _Unusual  # a line that is not a header field (or another line end): a defect
            headers = [(name.decode("ascii"), value.decode("ascii", "surrogateescape"))
                       for name, value in self.field.findall(raw, start, head_end)]
            body = head_end + n
        msg = FastMessage(headers)
        raw_ct = msg._mailpipe_index.get("content-type")
        if raw_ct and SIMPLE_CT.fullmatch(raw_ct[0]) is None:  # the first one is the one the stdlib reads
            raise _Unusual
        ctype = msg.get_content_type()
        maintype = ctype.partition("/")[0]
        if maintype == "message" or ctype == "multipart/digest":
            raise _Unusual
        if maintype == "multipart":
            self.multipart(msg, body, end, depth)
        else:
            stop = end if root else end - n if end - n >= body else end  # less the line end before a boundary
            if not root and self.runs is not None and stop - body >= MIN_RUN_BYTES and _only_base64(raw, body, stop):
                msg.set_payload(f"{RUN_PREFIX}{len(self.runs)}Z")
                self.runs.append((body, end))
            else:
                text = raw[body:stop].decode("ascii", "surrogateescape")
                msg.set_payload(text)  # a str and no charset: stored as it is
                if self.runs is not None and RUN_PREFIX in text:
                    raise _Unusual  # text that reads like a placeholder: left to the older path
        return msg

    def multipart(self, msg: Message, start: int, end: int, depth: int) -> None:
        boundary = msg.get_boundary()
        if boundary is None or not boundary.isascii():
            raise _Unusual
        if str(msg.get("content-transfer-encoding", "8bit")).lower() not in ("7bit", "8bit", "binary"):
            raise _Unusual
        raw, eol, n = self.raw, self.eol, self.n
        sep = b"--" + boundary.encode("ascii")
        lines: list[tuple[int, int, bool]] = []  # boundary lines: start, end (after the line end), close
        at = start
        while True:
            line = raw.find(sep, at, end)
            if line < 0:
                break
            at = line + 1
            if line > start:  # not the body's first line: is it at the start of a line?
                before = raw[line - 1]
                if before not in _EOL_BYTES:
                    continue
                if not raw.startswith(eol, line - n) or (n == 1 and raw.startswith(b"\r", line - 2)):
                    raise _Unusual  # a line end other than the message's: the stdlib's reading differs
            m = _CLOSE_REST.match(raw, line + len(sep), end)
            after = m.end()  # type: ignore[union-attr]  # the pattern matches the empty string
            if raw.startswith(eol, after):
                line_end = after + n
            elif after == len(raw):
                line_end = after  # the last line of the message, without a line end
            elif raw[after] in _EOL_BYTES or after == end:
                raise _Unusual
            else:
                continue  # a line that only starts like a boundary
            close = m.group(1) is not None  # type: ignore[union-attr]
            lines.append((line, line_end, close))
            if close:
                break
        if not lines or not lines[-1][2] or lines[0][2]:
            raise _Unusual  # no first boundary, or no close boundary: defects
        first = lines[0][0]
        if first > start:
            msg.preamble = raw[start:first - n].decode("ascii", "surrogateescape")
        parts: list[Message | str] = []  # set_payload's type (a list of parts)
        eol_text = eol.decode()
        for (_, part_start, _), (next_line, _, _) in zip(lines, lines[1:], strict=False):
            if part_start == next_line:
                raise _Unusual  # boundary lines in a row: the stdlib swallows them
            child = self.part(part_start, next_line, depth + 1)
            if child.is_multipart():
                epilogue = child.epilogue
                if epilogue == "":
                    child.epilogue = None
                elif epilogue is not None and epilogue.endswith(eol_text):
                    child.epilogue = epilogue[:-n]
            parts.append(child)
        msg.set_payload(parts)
        msg.epilogue = raw[lines[-1][1]:end].decode("ascii", "surrogateescape")


def _only_base64(raw: bytes, start: int, end: int) -> bool:
    """True when ``raw[start:end]`` holds only base64-alphabet bytes and line ends (checked in
    slices: no copy of a large body)."""
    for at in range(start, end, _CHECK_SLICE):
        if raw[at:min(at + _CHECK_SLICE, end)].translate(None, _BASE64_LINES):
            return False
    return True
