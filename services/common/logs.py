"""JSON-lines logging. Fields come from ``extra=``; use ``email_id``, ``mailbox_id``, ``stage``.
Never pass a password, token or a full body; as a last net, every line is redacted
(``redact.redact``: registered secrets and URL or key=value credentials masked)."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from .redact import redact

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
log = logging.getLogger("mailpipe")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then every ``extra`` field; an
    exception's traceback goes in the ``traceback`` field, never on lines of its own."""

    def format(self, record: logging.LogRecord) -> str:
        content: dict[str, Any] = {"msg": record.getMessage()}
        content.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            content["traceback"] = self.formatException(record.exc_info)
        entry = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, **_redacted(content)}
        return json.dumps(entry, default=str, ensure_ascii=False)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))  # what json.dumps would print with default=str


def configure(level: str = "INFO") -> None:
    """Route every logger to stderr as JSON lines at ``level``; quiet chatty libraries; make an
    uncaught exception (main thread or any other) one JSON line instead of a bare traceback."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("kafka", "botocore", "urllib3", "imapclient"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    sys.excepthook = _uncaught
    threading.excepthook = lambda args: _uncaught(args.exc_type, args.exc_value or args.exc_type(),
                                                  args.exc_traceback, thread=args.thread.name if args.thread else None)


def _uncaught(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
              thread: str | None = None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        return
    log.critical("uncaught exception", exc_info=(exc_type, exc, tb), extra={"thread": thread, **fault_fields(exc)})


def fault_fields(exc: BaseException) -> dict[str, Any]:
    """The fields an exit line carries: ``error_kind`` (configuration, transient, poison_ratio,
    bug), ``error`` (redacted), and ``dependency`` and ``variables`` when the configuration of a
    dependency is at fault. Pure."""
    from .adapters import translate
    from .errors import ConfigError, DeadLetterRatioExceeded, DependencyConfigError, TransientError

    kind = exc if isinstance(exc, DeadLetterRatioExceeded) else translate(exc)
    fields: dict[str, Any] = {"error": redact(f"{type(exc).__name__}: {exc}")}
    if isinstance(kind, DependencyConfigError):
        fields.update(error_kind="configuration", dependency=kind.dependency, variables=list(kind.variables))
    elif isinstance(kind, ConfigError):
        fields.update(error_kind="configuration", variables=_variables_in(str(kind)))
    elif isinstance(kind, TransientError):
        fields["error_kind"] = "transient"
        if kind.dependency:
            fields["dependency"] = kind.dependency
    elif isinstance(kind, DeadLetterRatioExceeded):
        fields["error_kind"] = "poison_ratio"
    else:
        fields["error_kind"] = "bug"
    if kind is not None and kind is not exc:
        fields["error"] = redact(str(kind))
    return fields


def _variables_in(text: str) -> list[str]:
    return sorted(set(re.findall(r"\bMAILPIPE_[A-Z0-9_]+", text)))

