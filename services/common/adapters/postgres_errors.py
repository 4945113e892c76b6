"""PostgreSQL (psycopg 3) exceptions → poison, transient or configuration.

psycopg raises one class per SQLSTATE, grouped under the DB-API classes, but the groups do not
follow the kinds: ``ProgramLimitExceeded`` (an index row over 8191 bytes: one record's value) is an
``OperationalError`` like a lost connection, and ``InvalidPassword`` is one too. So the table names
the specific classes first and falls back to the DB-API class; the first row that matches wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg

from ..errors import DependencyConfigError, PoisonMessage, TransientError
from ..redact import redact

DSN = "MAILPIPE_POSTGRES__DSN"
POISON, TRANSIENT, CONFIG = "poison", "transient", "config"

TABLE: tuple[tuple[type[BaseException], str], ...] = (
    # One record's value the database cannot hold: the same statement fails on every retry.
    (pg.ProgramLimitExceeded, POISON),  # 54000: e.g. an index row over 8191 bytes
    (pg.StatementTooComplex, POISON),  # 54001 (psycopg's class-54 errors share no base class)
    (pg.TooManyColumns, POISON),  # 54011
    (pg.TooManyArguments, POISON),  # 54023: an array of values too long for a function
    (psycopg.DataError, POISON),  # 22xxx: CharacterNotInRepertoire, NumericValueOutOfRange, ...
    (psycopg.IntegrityError, POISON),  # 23xxx: a constraint this record breaks
    # Concurrency and a server going away or under load: the same statement later succeeds.
    (pg.SerializationFailure, TRANSIENT),
    (pg.DeadlockDetected, TRANSIENT),
    (pg.LockNotAvailable, TRANSIENT),
    (pg.QueryCanceled, TRANSIENT),  # statement_timeout, or an operator's cancel
    (pg.OperatorIntervention, TRANSIENT),  # 57P01 admin shutdown, 57P03 cannot connect now, ...
    (pg.InsufficientResources, TRANSIENT),  # 53xxx: disk full, out of memory, too many connections
    (pg.ConnectionException, TRANSIENT),  # 08xxx
    (pg.IdleInTransactionSessionTimeout, TRANSIENT),
    # Who we are or where we point: fixing the configuration is the only way on.
    (pg.InvalidAuthorizationSpecification, CONFIG),  # 28000
    (pg.InvalidPassword, CONFIG),  # 28P01 (no subclass of 28000 in psycopg)
    (pg.InvalidCatalogName, CONFIG),  # 3D000: the database in the DSN does not exist
    (pg.InsufficientPrivilege, CONFIG),  # 42501
    (pg.UndefinedTable, CONFIG),  # 42P01: `mailpipe db migrate` was not run
    (pg.UndefinedColumn, CONFIG),
    (pg.UndefinedFunction, CONFIG),
    (psycopg.ProgrammingError, CONFIG),  # a statement no record can pass: schema out of date
    (psycopg.NotSupportedError, CONFIG),
    # What is left is the connection itself (no SQLSTATE: refused, reset, closed) or the server.
    (psycopg.OperationalError, TRANSIENT),
    (psycopg.InterfaceError, TRANSIENT),  # "the connection is closed" after a lost server
    (psycopg.InternalError, TRANSIENT),
    (psycopg.Error, TRANSIENT),
)
# What one record's values can cause: a stage isolates these (savepoints) and dead-letters the record.
POISON_TYPES: tuple[type[BaseException], ...] = tuple(cls for cls, kind in TABLE if kind == POISON)
_CONFIG_HINT = {
    pg.UndefinedTable: "run `mailpipe db migrate`",
    pg.UndefinedColumn: "run `mailpipe db migrate`",
    pg.UndefinedFunction: "run `mailpipe db migrate`",
}


def kind_of(exc: BaseException) -> str | None:
    """``poison``, ``transient`` or ``config`` for a psycopg exception, None otherwise. Pure."""
    for cls, kind in TABLE:
        if isinstance(exc, cls):
            return kind
    return None


def translate(exc: BaseException) -> PoisonMessage | TransientError | DependencyConfigError | None:
    """What ``kind_of`` says, as the exception the runtime acts on; None for non-psycopg errors."""
    kind = kind_of(exc)
    if kind is None:
        return None
    state = getattr(exc, "sqlstate", None)
    text = redact(f"{type(exc).__name__}{f' ({state})' if state else ''}: {exc}".strip())
    if kind == POISON:
        return PoisonMessage("database_refused", text)
    if kind == CONFIG:
        hint = next((h for cls, h in _CONFIG_HINT.items() if isinstance(exc, cls)), None)
        return DependencyConfigError("postgres", (DSN,), f"{text}; {hint}" if hint else text)
    return TransientError(f"PostgreSQL unavailable: {text}", dependency="postgres")


@contextmanager
def postgres_boundary() -> Iterator[None]:
    """Run PostgreSQL work, raising what ``translate`` makes of a psycopg exception (the original
    chained). Raises PoisonMessage, TransientError or DependencyConfigError."""
    try:
        yield
    except psycopg.Error as exc:
        kind = translate(exc)
        assert kind is not None
        raise kind from exc
