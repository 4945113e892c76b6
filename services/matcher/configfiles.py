"""The matcher's configuration files: global filters for the service
(``MAILPIPE_MATCHER__GLOBAL_FILTERS_FILE``), the template catalogue
(``MAILPIPE_MATCHER__TEMPLATES_FILE``) and the mailboxes file of ``mailpipe match``. Both
spell the global filters the same way, so one file serves both. A filter or mailbox the models refuse
(a pattern that cannot run, among others) stops the reader with the field and the reason, e.g.
``global_filters[0].conditions[1].value: ...``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..common.errors import ConfigError
from ..common.messages import MailboxConfig, MailFilter, Template

FILTER_KEYS = ("global_filters", "filters")


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())  # YAML is a superset of JSON


def _field_path(where: str, loc: tuple[int | str, ...]) -> str:
    """``where`` and a pydantic error location as one path: ``mailboxes[0].options.filters[1]``."""
    return where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def _each(model: type[MailFilter | MailboxConfig | Template], items: Any, where: str, path: Path) -> list[Any]:
    if not isinstance(items, list):
        raise ConfigError(f"{path}: {where}: expected a list, found {type(items).__name__}")
    out, problems = [], []
    for i, item in enumerate(items):
        try:
            out.append(model.model_validate(item))
        except ValidationError as exc:
            problems += [f"{_field_path(f'{where}[{i}]', e['loc'])}: {e['msg']}" for e in exc.errors()]
    if problems:
        raise ConfigError(f"{path}:\n  " + "\n  ".join(problems))
    return out


def _filters(items: Any, path: Path) -> list[MailFilter]:
    return _each(MailFilter, items or [], "global_filters", path)


def read_filters(path: Path | None) -> list[MailFilter]:
    """Global filters from a YAML or JSON list, or a mapping with ``global_filters`` (or
    ``filters``). Raises ConfigError naming the file for anything else, so a misspelt key never
    means silently no filters."""
    if path is None:
        return []
    try:
        doc = _load(path)
    except Exception as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if isinstance(doc, dict):
        key = next((k for k in FILTER_KEYS if k in doc), None)
        if key is None:
            raise ConfigError(f"{path}: expected a list of filters or a mapping with one of {FILTER_KEYS}, "
                              f"found keys {sorted(doc)}")
        doc = doc[key]
    return _filters(doc, path)


def read_mailbox_config(path: Path | None) -> tuple[list[MailboxConfig], list[MailFilter]]:
    """(mailboxes, global filters) from a mailbox (the ``mail.mailboxes`` payload), a list of them,
    or ``{mailboxes: [...], global_filters: [...]}``. Raises ConfigError naming the file."""
    if path is None:
        return [], []
    try:
        doc = _load(path)
    except Exception as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if isinstance(doc, dict) and ("mailboxes" in doc or any(k in doc for k in FILTER_KEYS)):
        boxes = doc.get("mailboxes") or []
        filters: Any = next((doc[k] for k in FILTER_KEYS if k in doc), [])
    else:
        boxes, filters = (doc if isinstance(doc, list) else [doc]), []
    return _each(MailboxConfig, boxes, "mailboxes", path), _filters(filters, path)


def read_templates(path: Path | None) -> dict[str, Template]:
    """The template catalogue: a list of templates, or ``{templates: [...]}``, by name. Raises
    ConfigError naming the file and field for a template the model refuses or a name given twice."""
    if path is None:
        return {}
    try:
        doc = _load(path)
    except Exception as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    items = doc.get("templates") if isinstance(doc, dict) else doc
    templates: list[Template] = _each(Template, items, "templates", path)
    names = [t.name for t in templates]
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigError(f"{path}: templates: {', '.join(twice)} given twice")
    return {t.name: t for t in templates}
