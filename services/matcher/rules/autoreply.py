"""Autoresponse rules (reference 002): only active rules, every condition AND-ed, the first rule
that holds answers; its template takes ``{sender_name}``, ``{subject}`` and ``{case_number}``,
rendered as plain text or HTML (values escaped in HTML). A response naming a catalogue template
is written in the reader's language: the matched person's, else the email's Content-Language,
else the mailbox's (reference 002, translations)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from ...common.messages import AutoresponseRule, OutOfOffice, ParsedEmail, Template, TemplateVariant
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


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    format: Literal["plain", "html"]
    language: str | None  # the variant's language; None for a response's own text


def choose_variant(variants: Mapping[str, TemplateVariant], wanted: Iterable[str | None]
                   ) -> tuple[str, TemplateVariant]:
    """The first wanted language a variant has, by exact tag and then by primary tag (``de-at``
    takes ``de``); else the first variant. ``variants`` is not empty (the model requires one)."""
    tags = {tag.lower(): tag for tag in variants}
    for lang in wanted:
        if not lang:
            continue
        lang = lang.lower()
        for candidate in (lang, lang.split("-")[0]):
            if candidate in tags:
                return tags[candidate], variants[tags[candidate]]
        primary = next((t for t in tags if t.split("-")[0] == lang.split("-")[0]), None)
        if primary is not None:
            return tags[primary], variants[tags[primary]]
    first = next(iter(variants))
    return first, variants[first]


def render_response(response: AutoresponseRule | OutOfOffice, templates: Mapping[str, Template],
                    languages: Iterable[str | None], sender_name: str, subject: str,
                    case_number: str | None) -> Rendered | None:
    """The response's text in the first of ``languages`` its template has; None when it names a
    template the catalogue lacks (the caller suppresses the response and says so)."""
    language: str | None = None
    text = TemplateVariant(subject=response.subject, body=response.body, format=response.format)
    if response.template is not None:
        template = templates.get(response.template)
        if template is None:
            return None
        language, text = choose_variant(template.variants, languages)
    values = {"sender_name": sender_name, "subject": subject, "case_number": case_number or ""}
    return Rendered(render(text.subject, values, False), render(text.body, values, text.format == "html"),
                    text.format, language)
