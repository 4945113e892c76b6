"""Conditions (references 001, 002): a field of the email, an operator, a value; every condition of
a filter or an autoresponse rule must hold (AND). Comparisons ignore case. ``matches`` takes a
pattern (common/patterns.py): ``/regex/`` searched in the value, else a wildcard over the whole value
(``*`` any run of characters, ``?`` one character), in time linear in the value whatever the pattern.

Address fields (from, to, cc, bcc) hold a list: a positive operator holds when one address (or its
``Name <address>`` form) satisfies it; ``not_contains`` holds when none contains the value.

File name filters (reference 000, storage's copy options) come from the same module:
``/regex/``, a wildcard when the text holds ``*``, else a literal name."""

from __future__ import annotations

import html
from collections.abc import Iterable

from ...common import patterns
from ...common.messages import Condition, MailFilter, ParsedEmail


def strip_tags(markup: str) -> str:
    """Each ``<...>`` (from a ``<`` to the first ``>`` after it) as one space: what
    ``re.sub("<[^>]*>", " ", markup)`` gives, in linear time (that regex retries from every ``<``
    when no ``>`` follows: seconds on a 64 KiB body of ``<``)."""
    out: list[str] = []
    start = 0
    while (lt := markup.find("<", start)) >= 0 and (gt := markup.find(">", lt + 1)) >= 0:
        out += (markup[start:lt], " ")
        start = gt + 1
    out.append(markup[start:])
    return "".join(out)


def body_text(email: ParsedEmail) -> str:
    return email.text_body or html.unescape(strip_tags(email.html_body))


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
        return patterns.value_matches(value, wanted)
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


# File-name filters (reference 000) live in common.patterns with the ``matches`` operator: storage
# applies the same ones, and all run in time linear in the name whatever a mailbox owner writes.
filename_matches = patterns.filename_matches
filename_passes = patterns.filename_passes
