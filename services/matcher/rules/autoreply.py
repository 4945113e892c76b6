"""Autoresponse rules (reference 002): only active rules, every condition AND-ed, the first rule
that holds answers; its template takes ``{sender_name}``, ``{subject}`` and ``{case_number}``,
rendered as plain text or HTML (values escaped in HTML)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from ...common.messages import AutoresponseRule, ParsedEmail
from .filters import all_hold

_PLACEHOLDER = re.compile(r"\{(sender_name|subject|case_number)\}")


def first_rule(email: ParsedEmail, rules: Iterable[AutoresponseRule]) -> AutoresponseRule | None:
    for rule in rules:
        if rule.active and all_hold(email, rule.conditions):
            return rule
    return None


def render(template: str, values: dict[str, str], as_html: bool) -> str:
    """Replace the known placeholders; other braces stay as written."""
    def sub(m: re.Match[str]) -> str:
        v = values.get(m.group(1), "")
        return html.escape(v) if as_html else v
    return _PLACEHOLDER.sub(sub, template)


def render_rule(rule: AutoresponseRule, sender_name: str, subject: str, case_number: str | None) -> tuple[str, str]:
    """(subject, body) of the response."""
    values = {"sender_name": sender_name, "subject": subject, "case_number": case_number or ""}
    return render(rule.subject, values, False), render(rule.body, values, rule.format == "html")
