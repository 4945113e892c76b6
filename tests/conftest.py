"""Test wiring: the stack's addresses, the backend guard, and fixtures for real backends.

Integration tests declare the real backends they touch with markers (kafka, postgres, s3,
imap); an autouse fixture makes every client factory of an undeclared backend fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailpipe.common import clients

ENV_FILE = Path(__file__).resolve().parents[1] / ".state" / "stack.env"
if ENV_FILE.exists():
    for line in ENV_FILE.read_text().splitlines():
        key, _, value = line.partition("=")
        os.environ.setdefault(key, value)


class BackendNotDeclared(AssertionError):
    pass


def _refuse(backend: str):  # type: ignore[no-untyped-def]
    def refuse(*args: object, **kwargs: object) -> None:
        raise BackendNotDeclared(f"this test touches {backend} without @pytest.mark.{backend}")
    return refuse


GUARDED = {
    "kafka": [(clients, "make_consumer"), (clients, "make_producer"), (clients, "make_admin")],
    "postgres": [(clients, "connect_postgres")],
    "s3": [(clients, "make_s3")],
}


@pytest.fixture(autouse=True)
def _block_undeclared_backends(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    for backend, targets in GUARDED.items():
        if request.node.get_closest_marker(backend) is None:
            for module, name in targets:
                monkeypatch.setattr(module, name, _refuse(backend))
    if request.node.get_closest_marker("imap") is None:
        import imapclient
        import mailpipe.devtools.mailboxes as mailboxes

        monkeypatch.setattr(imapclient, "IMAPClient", _refuse("imap"))
        monkeypatch.setattr(mailboxes, "IMAPClient", _refuse("imap"))


def stack_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: the local stack is not up (run `make up`)")
    return value


def stack_s3() -> tuple[object, str]:
    """An S3 client for the stack's store (made by the one factory) and its bucket."""
    from mailpipe.common.settings import S3Settings

    settings = S3Settings(endpoint_url=stack_env("MAILPIPE_S3__ENDPOINT_URL"),
                          access_key_id=stack_env("MAILPIPE_S3__ACCESS_KEY_ID"),
                          secret_access_key=stack_env("MAILPIPE_S3__SECRET_ACCESS_KEY"),  # type: ignore[arg-type]
                          bucket=stack_env("MAILPIPE_S3__BUCKET"))
    return clients.make_s3(settings), settings.bucket


@pytest.fixture
def unique() -> str:
    """A short unique token for topic, group, mailbox and database names."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def pg_dsn(unique: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test; dropped afterwards."""
    from mailpipe.devtools.scratchdb import scratch_database

    with scratch_database(stack_env("MAILPIPE_POSTGRES__DSN"), name=f"test_{unique}") as dsn:
        yield dsn


@pytest.fixture
def oauth_provider() -> Iterator[str]:
    """A token endpoint and Dovecot's introspection endpoint (tests/support/oauth_provider.py); the
    token URL."""
    from tests.support.oauth_provider import serve

    yield from serve()
