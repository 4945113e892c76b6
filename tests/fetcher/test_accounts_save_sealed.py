"""``ops.save_sealed``: the one public way to store an account outside ``mailpipe accounts`` (demo
and test seeding), against a real PostgreSQL. Marked ``postgres`` only: the autouse guard fails the
test if the operation touched Kafka (it must not publish to ``mail.mailboxes``) or a mail server
(it must not run the connection check)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mailpipe.common import clients
from mailpipe.common.errors import ConfigError
from mailpipe.common.settings import PostgresSettings
from mailpipe.fetcher.accounts import store
from mailpipe.fetcher.accounts.model import Account, AccountSecrets
from mailpipe.fetcher.accounts.ops import save_sealed
from mailpipe.fetcher.accounts.secrets import SecretBox, SecretsSettings, generate_key
from pydantic import SecretStr

pytestmark = pytest.mark.postgres


@pytest.fixture
def conn(pg_dsn: str) -> Iterator[Any]:
    with clients.connect_postgres(PostgresSettings(dsn=SecretStr(pg_dsn)), autocommit=True) as c:
        yield c


def _account(mailbox_id: str, **fields: Any) -> Account:
    # a server nobody listens on: a connection check would fail, so passing proves there was none
    return Account.model_validate({"id": mailbox_id, "server": "127.0.0.1", "port": 9, "username": "u@x.test",
                                   "security": "none", **fields})


def test_saves_sealed_with_the_first_key_and_reports_new_then_updated(conn: Any) -> None:
    first, older = generate_key(), generate_key()
    keys = SecretStr(f"{first},{older}")
    assert save_sealed(conn, _account("box-a"), AccountSecrets(password=SecretStr("pw-1")), keys) is True
    stored = store.get(conn, "box-a")
    assert stored is not None and b"pw-1" not in stored.sealed_secrets
    only_first = SecretBox(SecretsSettings(keys=SecretStr(first)))
    assert only_first.open(stored.sealed_secrets).password == SecretStr("pw-1")
    assert stored.status.next_run_at is not None  # scheduled: a fetcher replica picks it up

    assert save_sealed(conn, _account("box-a", name="renamed"), AccountSecrets(password=SecretStr("pw-2")),
                       keys) is False
    again = store.get(conn, "box-a")
    assert again is not None and again.account.name == "renamed"
    assert only_first.open(again.sealed_secrets).password == SecretStr("pw-2")


def test_a_key_this_database_was_not_sealed_with_is_refused_and_nothing_is_stored(conn: Any) -> None:
    save_sealed(conn, _account("box-a"), AccountSecrets(password=SecretStr("pw")), SecretStr(generate_key()))
    with pytest.raises(ConfigError, match="MAILPIPE_SECRETS__KEYS"):
        save_sealed(conn, _account("box-b"), AccountSecrets(password=SecretStr("pw")), SecretStr(generate_key()))
    assert store.get(conn, "box-b") is None
