"""File name filters (reference 000) in bounded time, whatever a mailbox owner writes.

A filter is a regular expression when it starts with ``/`` (``/pattern/`` or ``/pattern/i``), a
wildcard when it contains ``*`` (``*`` any run of characters, ``?`` one character, matched against
the whole name), else a literal name. Every comparison ignores case: file names come from Windows
and macOS mail clients that treat ``Photo.JPG`` and ``photo.jpg`` as one name, and the matcher's
other conditions ignore case too (so ``/i`` changes nothing; it is accepted because owners write it).

Python's ``re`` backtracks (``/(a+)+$/`` on 30 ``a``s and a ``!`` runs for minutes) and has no
timeout, so neither ``re`` nor a glob translated to ``re`` runs here:
- a regular expression is parsed by Python's own parser (same syntax) and run as a Thompson NFA,
  one set of states per character: time O(len(name) x states), states capped at ``MAX_STATES``.
  Backreferences, lookarounds, conditionals, atomic groups and possessive repeats have no NFA form;
  a filter using them (or over the cap, or not parseable) is invalid and matches nothing;
- a wildcard runs the two-pointer glob algorithm: O(len(name) x len(pattern)).
The regex is searched (anywhere in the name, ``^``/``$`` anchor it), as ``re.search`` would."""

from __future__ import annotations

import re
import re._constants as C  # noqa: N812 -- the parser's opcode names
import re._parser as sre
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

MAX_STATES = 2000
MAX_PATTERN_CHARS = 1000

CharTest = Callable[[str], bool]


class UnsupportedPattern(ValueError):
    """The regular expression cannot be run in linear time (or is too large)."""


def _variants(c: str) -> tuple[str, ...]:
    return (c, c.lower(), c.upper(), c.casefold())


_CATEGORIES: dict[object, CharTest] = {
    C.CATEGORY_DIGIT: str.isdecimal, C.CATEGORY_NOT_DIGIT: lambda c: not c.isdecimal(),
    C.CATEGORY_SPACE: str.isspace, C.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    C.CATEGORY_WORD: lambda c: c.isalnum() or c == "_", C.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
}


def _equals(lit: str) -> CharTest:
    return lambda c: c == lit


def _in_range(lo: int, hi: int) -> CharTest:
    return lambda c: lo <= ord(c) <= hi


def _char_class(items: list[tuple[object, object]]) -> CharTest:
    negate = bool(items) and items[0][0] is C.NEGATE
    tests: list[CharTest] = []
    for op, av in items[1:] if negate else items:
        if op is C.LITERAL:
            tests.append(_equals(chr(cast(int, av))))
        elif op is C.RANGE:
            lo, hi = cast(tuple[int, int], av)
            tests.append(_in_range(lo, hi))
        elif op is C.CATEGORY:
            tests.append(_CATEGORIES[av])
        else:
            raise UnsupportedPattern(f"character class item {op}")

    def test(c: str) -> bool:
        hit = any(t(v) for v in _variants(c) for t in tests)
        return hit != negate
    return test


# Program: a list of instructions, each ("char", test) | ("split", a, b) | ("jmp", a) | ("at", code) | ("match",)
Instr = tuple[object, ...]


class _Compiler:
    def __init__(self) -> None:
        self.prog: list[Instr] = []

    def emit(self, *ins: object) -> int:
        if len(self.prog) >= MAX_STATES:
            raise UnsupportedPattern(f"more than {MAX_STATES} states")
        self.prog.append(ins)
        return len(self.prog) - 1

    def seq(self, items: Iterable[tuple[object, object]]) -> None:
        for op, av in items:
            self.node(op, av)

    def node(self, op: object, av: object) -> None:
        if op is C.LITERAL:
            lit = {v for v in _variants(chr(av))}  # type: ignore[arg-type]
            self.emit("char", lambda c, lit=lit: any(v in lit for v in _variants(c)))
        elif op is C.NOT_LITERAL:
            lit = {v for v in _variants(chr(av))}  # type: ignore[arg-type]
            self.emit("char", lambda c, lit=lit: not any(v in lit for v in _variants(c)))
        elif op is C.ANY:
            self.emit("char", lambda c: c != "\n")
        elif op is C.IN:
            self.emit("char", _char_class(av))  # type: ignore[arg-type]
        elif op is C.AT:
            self.emit("at", av)
        elif op is C.SUBPATTERN:
            self.seq(av[3])  # type: ignore[index]
        elif op is C.BRANCH:
            self.branch(av[1])  # type: ignore[index]
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):  # greedy or lazy: the same set of matches
            lo, hi, body = cast(tuple[int, int, Any], av)
            self.repeat(lo, hi, body)
        else:
            raise UnsupportedPattern(f"{op} has no linear-time form")

    def branch(self, alternatives: list[object]) -> None:
        jumps = []
        for alt in alternatives[:-1]:
            split = self.emit("split", 0, 0)
            self.prog[split] = ("split", split + 1, None)
            self.seq(alt)  # type: ignore[arg-type]
            jumps.append(self.emit("jmp", None))
            self.prog[split] = ("split", split + 1, len(self.prog))
        self.seq(alternatives[-1])  # type: ignore[arg-type]
        for j in jumps:
            self.prog[j] = ("jmp", len(self.prog))

    def repeat(self, lo: int, hi: int, body: object) -> None:
        for _ in range(lo):
            self.seq(body)  # type: ignore[arg-type]
        if hi is C.MAXREPEAT or hi == C.MAXREPEAT:
            split = self.emit("split", None, None)
            self.seq(body)  # type: ignore[arg-type]
            self.emit("jmp", split)
            self.prog[split] = ("split", split + 1, len(self.prog))
            return
        splits = []
        for _ in range(hi - lo):
            splits.append(self.emit("split", None, None))
            self.seq(body)  # type: ignore[arg-type]
        for s in splits:
            self.prog[s] = ("split", s + 1, len(self.prog))


def _is_word(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")


def _at(code: object, text: str, i: int) -> bool:
    if code in (C.AT_BEGINNING, C.AT_BEGINNING_STRING, C.AT_BEGINNING_LINE):
        return i == 0
    if code in (C.AT_END, C.AT_END_LINE):
        return i == len(text) or (i == len(text) - 1 and text[i] == "\n")
    if code is C.AT_END_STRING:
        return i == len(text)
    boundary = _is_word(text, i - 1) != _is_word(text, i)
    if code in (C.AT_BOUNDARY, C.AT_UNI_BOUNDARY, C.AT_LOC_BOUNDARY):
        return boundary
    if code in (C.AT_NON_BOUNDARY, C.AT_UNI_NON_BOUNDARY, C.AT_LOC_NON_BOUNDARY):
        return not boundary
    raise UnsupportedPattern(f"assertion {code}")


@dataclass(frozen=True)
class LinearRegex:
    """A compiled regular expression run as an NFA: ``search`` never backtracks."""

    prog: tuple[Instr, ...]

    @classmethod
    def compile(cls, pattern: str) -> LinearRegex:
        if len(pattern) > MAX_PATTERN_CHARS:
            raise UnsupportedPattern("pattern too long")
        try:
            parsed = sre.parse(pattern, re.IGNORECASE)
        except (re.error, RecursionError, OverflowError) as exc:
            raise UnsupportedPattern(str(exc)) from exc
        comp = _Compiler()
        comp.seq(parsed)
        comp.emit("match")
        return cls(tuple(comp.prog))

    def _closure(self, pcs: Iterable[int], text: str, i: int) -> tuple[set[int], bool]:
        """The states reachable without consuming a character; True when one of them matches."""
        seen: set[int] = set()
        stack = list(pcs)
        chars: set[int] = set()
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            ins = self.prog[pc]
            kind = ins[0]
            if kind == "match":
                return chars, True
            if kind == "char":
                chars.add(pc)
            elif kind == "jmp":
                stack.append(ins[1])  # type: ignore[arg-type]
            elif kind == "split":
                stack += [ins[2], ins[1]]  # type: ignore[list-item]
            elif kind == "at" and _at(ins[1], text, i):
                stack.append(pc + 1)
        return chars, False

    def search(self, text: str) -> bool:
        current: set[int] = set()
        for i in range(len(text) + 1):
            current, matched = self._closure([*current, 0], text, i)  # 0: a match may start here
            if matched:
                return True
            if i == len(text):
                return False
            c = text[i]
            current = {pc + 1 for pc in current if self.prog[pc][1](c)}  # type: ignore[operator]
        return False


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> LinearRegex | None:
    try:
        return LinearRegex.compile(pattern)
    except UnsupportedPattern:
        return None


def glob_matches(name: str, pattern: str) -> bool:
    """``*`` any run, ``?`` one character, the whole name, ignoring case: the two-pointer algorithm
    (backtrack only to the last ``*``), O(len(name) x len(pattern))."""
    n, p = name.casefold(), pattern.casefold()
    i = j = 0
    star, mark = -1, 0
    while i < len(n):
        if j < len(p) and (p[j] == "?" or p[j] == n[i]):
            i, j = i + 1, j + 1
        elif j < len(p) and p[j] == "*":
            star, mark, j = j, i, j + 1
        elif star >= 0:
            mark += 1
            i, j = mark, star + 1
        else:
            return False
    return all(ch == "*" for ch in p[j:])


def filter_kind(pattern: str) -> str:
    """regex, wildcard or literal (reference 000: in that order of precedence)."""
    if pattern.startswith("/"):
        return "regex"
    return "wildcard" if "*" in pattern else "literal"


def split_regex_filter(pattern: str) -> tuple[str, str] | None:
    """``/body/flags`` as (body, flags); None when there is no closing ``/`` (an invalid filter)."""
    body, slash, flags = pattern[1:].rpartition("/")
    return (body, flags) if slash else None


def filename_matches(name: str, pattern: str) -> bool:
    kind = filter_kind(pattern)
    if kind == "regex":
        parts = split_regex_filter(pattern)
        if parts is None or set(parts[1]) - {"i"}:
            return False  # no closing slash, or a flag other than i: an invalid filter
        compiled = _regex(parts[0])
        return compiled is not None and compiled.search(name)
    if kind == "wildcard":
        return glob_matches(name, pattern)
    return name.casefold() == pattern.casefold()


def filename_passes(name: str, include: Iterable[str], exclude: Iterable[str]) -> bool:
    """Kept when it matches one include filter (an empty list includes all) and no exclude filter.
    The matcher (``rules.filters``) and storage both use this one."""
    included = [filename_matches(name, p) for p in include]
    return (not included or any(included)) and not any(filename_matches(name, p) for p in exclude)
