"""Database migrations: ``schemas/postgres/NNN_name.sql`` applied once each, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .topics import SCHEMAS_DIR

MIGRATIONS_DIR = SCHEMAS_DIR / "postgres"
_LOCK_ID = 0x6D61696C  # serialises concurrent `db migrate` runs (Helm hook and a developer, say)


def migrate(conn: Any, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every migration not yet recorded, each in its own transaction; returns the names
    applied. Blocks on an advisory lock while another migrator runs; raises psycopg errors."""
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                     "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        applied = []
        for path in sorted(directory.glob("*.sql")):
            if path.name in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text())
                conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.name,))
            applied.append(path.name)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
