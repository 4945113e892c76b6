"""Conditions (references 001, 002): a field of the email, an operator, a value; every condition of
a filter or an autoresponse rule must hold (AND). Comparisons ignore case. ``matches`` is a
wildcard over the whole value: ``*`` any run of characters, ``?`` one character.

Address fields (from, to, cc, bcc) hold a list: a positive operator holds when one address (or its
``Name <address>`` form) satisfies it; ``not_contains`` holds when none contains the value.

File name filters (reference 000, storage's copy options) are here too: ``/regex/``, a wildcard
when the text holds ``*``, else a literal name."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from functools import lru_cache

from ...common import filenames as _filenames
from ...common.messages import Condition, MailFilter, ParsedEmail


@lru_cache(maxsize=4096)
def wildcard(pattern: str) -> re.Pattern[str]:
    parts = ("." if ch == "?" else ".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


_TAG = re.compile(r"<[^>]*>")


def body_text(email: ParsedEmail) -> str:
    return email.text_body or html.unescape(_TAG.sub(" ", email.html_body))


def field_values(email: ParsedEmail, field: str) -> list[str]:
    if field == "subject":
        return [email.subject]
    if field == "body":
        return [body_text(email)]
    group = {"from": email.from_, "to": email.to, "cc": email.cc, "bcc": email.bcc}[field]
    out: list[str] = []
    for a in group:
        out.append(a.address)
        if a.name:
            out.append(f"{a.name} <{a.address}>")
    return out


def _test(op: str, value: str, wanted: str) -> bool:
    v, w = value.casefold(), wanted.casefold()
    if op == "contains":
        return w in v
    if op == "equals":
        return v.strip() == w.strip()
    if op == "starts_with":
        return v.startswith(w)
    if op == "ends_with":
        return v.endswith(w)
    if op == "matches":
        return wildcard(wanted).fullmatch(value) is not None
    raise ValueError(f"unknown operator {op}")


def condition_holds(email: ParsedEmail, c: Condition) -> bool:
    values = field_values(email, c.field)
    if c.op == "not_contains":
        return not any(c.value.casefold() in v.casefold() for v in values)
    return any(_test(c.op, v, c.value) for v in values)


def all_hold(email: ParsedEmail, conditions: Iterable[Condition]) -> bool:
    return all(condition_holds(email, c) for c in conditions)


def first_matching_filter(email: ParsedEmail, filters: Iterable[MailFilter]) -> MailFilter | None:
    for f in filters:
        if f.conditions and all_hold(email, f.conditions):
            return f
    return None


# File-name filters (reference 000) live in common.filenames: storage applies the same ones, and
# there they run in bounded time whatever regular expression a mailbox owner writes.
filename_matches = _filenames.filename_matches
filename_passes = _filenames.filename_passes
