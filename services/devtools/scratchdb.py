"""A throwaway, migrated PostgreSQL database beside the stack's own, for tests and benchmarks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def scratch_database(base_dsn: str, prefix: str = "scratch", name: str | None = None) -> Iterator[str]:
    """Create a database on the server of ``base_dsn`` (named ``name``, else ``prefix`` plus a
    random suffix), apply every migration, yield its DSN, and drop it on exit even when
    connections are still open (``WITH (FORCE)``). Blocks on the server; raises psycopg errors."""
    import psycopg

    from ..common import db

    server = base_dsn.rpartition("/")[0]
    name = name or f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"{server}/{name}"
    try:
        with psycopg.connect(dsn) as conn:
            db.migrate(conn)
        yield dsn
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
