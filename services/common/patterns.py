"""Patterns mailbox owners write, run in time linear in the text whatever the pattern.

Two places take them, in one language:
- file name filters (reference 000): ``/regex/`` or ``/regex/i`` is a regular expression searched in
  the name (``^``/``$`` anchor it); otherwise a wildcard when it contains ``*`` (``*`` any run of
  characters, ``?`` one, over the whole name); otherwise the literal name;
- the ``matches`` operator of filter and autoresponse conditions (references 001, 002):
  ``/regex/`` as above, otherwise a wildcard over the whole value (``*`` and ``?``; without them the
  value must equal the pattern).
Case is ignored everywhere (file names come from clients that treat ``Photo.JPG`` and ``photo.jpg``
as one name, and the other operators ignore case too), so ``/i`` changes nothing; it is accepted
because owners write it.

Everything runs on RE2 (google-re2): Python's ``re`` backtracks with no timeout (a ``matches``
wildcard took cubic time, about 40 minutes on one 64 KiB body; ``/(a+)+$/`` runs for minutes on 30
characters), while RE2 guarantees time linear in the text for every pattern it accepts and refuses
the rest. Regular expressions are RE2 syntax: Python's and Perl's without lookaround,
backreferences, atomic groups, possessive repeats or ``\\Z`` (``\\z`` ends the text), repeats up to
1000; ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII (``\\pL`` is any letter, ``\\pN`` any digit).

A pattern RE2 cannot run raises PatternError when it is compiled; the configuration models
(``messages.MailboxOptions``, ``Condition``) compile every pattern when a configuration is built, so
it is refused when it is saved, naming the field. Only configurations stored before that check
existed can still hold one: ``filename_matches`` and ``value_matches`` treat it as matching nothing
and log the reason once."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import re2  # google-re2; untyped

log = logging.getLogger(__name__)

MAX_PATTERN_CHARS = 1000
# RE2's memory budget per pattern (program and DFA cache); a program over it is refused. A DFA that
# fills it falls back to RE2's NFA, still linear. Each cached pattern keeps its DFA cache (measured:
# ~0.6 MB after a 64 KiB body under a 2 MiB budget), so budget x cache size bounds the memory
# patterns can hold: 512 KiB x 512 = 256 MiB at worst.
MAX_MEMORY_BYTES = 512 << 10
CACHED_PATTERNS = 512
# The form of the validation context under which models accept patterns stored before the
# save-time check existed (they match nothing): ``Model.model_validate(doc, context=AS_STORED)``.
AS_STORED = {"patterns": "as_stored"}

Use = Literal["filename", "condition"]


class PatternError(ValueError):
    """The pattern cannot be run: its message says why (no closing ``/``, an unknown flag, syntax
    RE2 lacks such as a lookaround or a backreference, too large)."""


def _options() -> Any:
    opts = re2.Options()
    opts.case_sensitive = False
    opts.never_capture = True  # a yes/no answer needs no groups, and without them RE2 runs its DFA only
    opts.log_errors = False  # RE2 would print parse errors to stderr, outside the JSON log
    opts.max_mem = MAX_MEMORY_BYTES
    return opts


_OPTIONS = _options()


def _literal(text: str) -> str:
    """``text`` as RE2 literals: ASCII punctuation, spaces and controls as ``\\x{..}``."""
    return "".join(c if c.isalnum() or not c.isascii() else f"\\x{{{ord(c):x}}}" for c in text)


def _wildcard(pattern: str) -> str:
    """``*`` any run (newlines too), ``?`` one character, over the whole text."""
    body = "".join(".*" if c == "*" else "." if c == "?" else _literal(c) for c in pattern)
    return f"(?s)\\A(?:{body})\\z"


def filter_kind(pattern: str) -> str:
    """regex, wildcard or literal, for a file name filter (reference 000: in that order)."""
    if pattern.startswith("/"):
        return "regex"
    return "wildcard" if "*" in pattern else "literal"


def split_regex_filter(pattern: str) -> tuple[str, str] | None:
    """``/body/flags`` as (body, flags); None when there is no closing ``/``."""
    body, slash, flags = pattern[1:].rpartition("/")
    return (body, flags) if slash else None


def _regex(pattern: str) -> str:
    parts = split_regex_filter(pattern)
    if parts is None:
        raise PatternError("a regular expression starts and ends with / (/body/ or /body/i): no closing /")
    body, flags = parts
    if unknown := sorted(set(flags) - {"i"}):
        raise PatternError(f"unknown flag {''.join(unknown)!r} after the closing / (only i is accepted)")
    return body


def _source(pattern: str, use: Use) -> str:
    """The RE2 pattern a user's pattern stands for."""
    if pattern.startswith("/"):
        return _regex(pattern)
    if use == "filename" and "*" not in pattern:
        return f"\\A{_literal(pattern)}\\z"
    return _wildcard(pattern)


@dataclass(frozen=True)
class Pattern:
    """A compiled user pattern. ``matches`` takes time linear in ``text``; it never raises."""

    text: str
    _regexp: Any

    def matches(self, text: str) -> bool:
        # bytes, not str: text from JSON may hold a lone surrogate, which str -> UTF-8 refuses
        return self._regexp.search(text.encode("utf-8", "surrogatepass")) is not None


@lru_cache(maxsize=CACHED_PATTERNS)
def _compiled(pattern: str, use: Use) -> Pattern | PatternError:
    if len(pattern) > MAX_PATTERN_CHARS:
        return PatternError(f"longer than {MAX_PATTERN_CHARS} characters")
    try:
        source = _source(pattern, use)
        return Pattern(pattern, re2.compile(source.encode("utf-8", "surrogatepass"), _OPTIONS))
    except PatternError as exc:
        return exc
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        return PatternError(f"not a regular expression RE2 can run in linear time: {reason}")


def compile_pattern(pattern: str, use: Use) -> Pattern:
    """The compiled pattern (cached). Raises PatternError saying why it cannot run. Never blocks."""
    result = _compiled(pattern, use)
    if isinstance(result, PatternError):
        raise PatternError(str(result))
    return result


def check_pattern(pattern: str, use: Use, context: object = None) -> str:
    """``pattern`` unchanged when it can run; raises PatternError otherwise, unless ``context`` is
    AS_STORED (a pydantic validation context). The models' validators call this."""
    if not (isinstance(context, dict) and context.get("patterns") == AS_STORED["patterns"]):
        compile_pattern(pattern, use)
    return pattern


@lru_cache(maxsize=256)
def _refused(pattern: str, use: Use, reason: str) -> None:
    """Logged once per pattern: a stored pattern that cannot run matches nothing."""
    log.warning("a stored pattern cannot run and matches nothing; save the mailbox again to fix it",
                extra={"pattern_use": use, "reason": reason})


def _matches(text: str, pattern: str, use: Use) -> bool:
    result = _compiled(pattern, use)
    if isinstance(result, PatternError):
        _refused(pattern, use, str(result))
        return False
    return result.matches(text)


def value_matches(value: str, pattern: str) -> bool:
    """The ``matches`` operator of a condition: ``/regex/`` searched in ``value``, else a wildcard
    over the whole of it; case ignored."""
    return _matches(value, pattern, "condition")


def filename_matches(name: str, pattern: str) -> bool:
    """One file name filter of reference 000 against ``name``; case ignored."""
    return _matches(name, pattern, "filename")


def filename_passes(name: str, include: Iterable[str], exclude: Iterable[str]) -> bool:
    """Kept when it matches one include filter (an empty list includes all) and no exclude filter.
    The matcher (``rules.filecopy``) and storage both use this one."""
    included = [filename_matches(name, p) for p in include]
    return (not included or any(included)) and not any(filename_matches(name, p) for p in exclude)
