"""Each dependency's exceptions translated into mailpipe's kinds where they are raised.

One table per adapter (``s3_errors``, ``postgres_errors``, ``kafka_errors``; the fetcher's
``connect`` does the same for IMAP and POP3) maps the library's real exception types, and the
codes they carry, to one of:

- ``PoisonMessage``: this record can never be written (a value over a limit); dead-letter it;
- ``TransientError``: the dependency is away or busy; retry, then exit without committing;
- ``DependencyConfigError``: the dependency refuses our configuration; stop without committing.

``translate`` is the runtime's safety net for an exception that escaped an adapter untranslated;
it consults the same tables, by type, never by a class name written as a string.
"""

from __future__ import annotations

from ..errors import ConfigError, PoisonMessage, TransientError
from . import kafka_errors, postgres_errors, s3_errors

Translated = PoisonMessage | TransientError | ConfigError
_TABLES = (s3_errors.translate, postgres_errors.translate, kafka_errors.translate)


def translate(exc: BaseException) -> Translated | None:
    """The kind of ``exc``: itself when it already is one, the adapter tables' verdict for a
    library exception, TransientError for a plain socket failure, None for anything else (a bug,
    which the runtime dead-letters as ``unhandled``). Pure; never raises."""
    if isinstance(exc, PoisonMessage | TransientError | ConfigError):
        return exc
    for table in _TABLES:
        kind = table(exc)
        if kind is not None:
            return kind
    if isinstance(exc, ConnectionError | TimeoutError):
        return TransientError(f"connection failed: {type(exc).__name__}: {exc}")
    return None
