"""What the accounts commands share: settings, the secret box, a database connection and a
producer, opened lazily (``generate-key`` needs none of them) and closed at the end; and
``save_sealed``, the public way to store an account from outside these commands (demo and test
seeding in ``mailpipe.devtools``), which ``Ops.save`` builds on."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cached_property
from typing import Any

from pydantic import SecretStr

from ...common import clients
from ...common.errors import ConfigError
from ...common.runtime.kafka_ports import KafkaProducerPort
from ...common.settings import load
from ..errors import MailboxUnavailable
from ..settings import FetcherSettings
from . import publish, store
from .check import CheckReport, check_account
from .model import Account, AccountSecrets
from .secrets import SecretBox, SecretsSettings


def save_sealed(conn: Any, account: Account, secrets: AccountSecrets, keys: SecretStr) -> bool:
    """Store ``account`` with ``secrets`` sealed by ``keys`` (``MAILPIPE_SECRETS__KEYS``' form: the
    first key encrypts) in the database of ``conn`` (autocommit psycopg), due for a fetch at once;
    True when the account is new. No connection check and nothing published to ``mail.mailboxes``:
    ``mailpipe accounts add`` does those. Blocks on PostgreSQL; raises ConfigError for a malformed
    key or one this database's secrets were not sealed with (nothing is stored then)."""
    box = SecretBox(SecretsSettings(keys=keys))
    box.verify(conn)  # a key nobody else here can open would strand the account's secrets
    return store.save(conn, account, box.seal(secrets))


class Ops:
    """Use as a context manager. Raises ConfigError for bad settings or a wrong secrets key."""

    def __enter__(self) -> Ops:
        try:
            _ = self.box  # every command checks the key first: a wrong one fails before anything is read
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if "conn" in self.__dict__:
            self.conn.close()
        if "producer" in self.__dict__:
            self.producer.close()

    @cached_property
    def settings(self) -> FetcherSettings:
        return load(FetcherSettings)

    @cached_property
    def box(self) -> SecretBox:
        box = SecretBox(self.settings.secrets)
        box.verify(self.conn)
        return box

    @cached_property
    def conn(self) -> Any:
        return clients.connect_postgres(self.settings.postgres, autocommit=True)

    @cached_property
    def producer(self) -> KafkaProducerPort:
        return KafkaProducerPort(clients.make_producer(self.settings.kafka))

    @cached_property
    def s3(self) -> Any:
        return clients.make_s3(self.settings.s3)

    def stored(self, mailbox_id: str) -> store.StoredAccount:
        found = store.get(self.conn, mailbox_id)
        if found is None:
            raise LookupError(f"no account {mailbox_id!r} (see `mailpipe accounts list`)")
        return found

    def secrets(self, stored: store.StoredAccount) -> AccountSecrets:
        return self.box.open(stored.sealed_secrets)

    def check(self, account: Account, secrets: AccountSecrets) -> CheckReport:
        return check_account(account, secrets, timeout=min(self.settings.fetch.timeout_seconds, 20.0))

    def save(self, account: Account, secrets: AccountSecrets) -> bool:
        """Store the account (secrets sealed) and publish its options; True when new. Raises
        ConfigError when it would be a second default outbound account."""
        if account.sending.default_account:
            other = next((s.account.id for s in store.all_accounts(self.conn)
                          if s.account.sending.default_account and s.account.id != account.id), None)
            if other is not None:
                raise ConfigError(f"sending.default_account: {other} is the default outbound account already; "
                                  f"turn it off there first (`mailpipe accounts set {other} --sending-file ...`)")
        # the same path as seeding (its key check repeats __enter__'s: one row read and rewritten)
        created = save_sealed(self.conn, account, secrets, self.settings.secrets.keys)
        publish.send_and_wait(self.producer, [publish.mailbox_record(account, "mailpipe accounts")])
        return created

    def remove(self, mailbox_id: str) -> bool:
        removed = store.remove(self.conn, mailbox_id)
        publish.send_and_wait(self.producer, [publish.tombstone(mailbox_id)])
        return removed


def failure_text(exc: MailboxUnavailable) -> str:
    return f"check failed: {exc.field}: {exc.cause}"


EXIT_NOT_FOUND, EXIT_CHECK_FAILED = 1, 3


def with_ops(fn: Callable[[Ops], int | None]) -> int:
    """Run a command body with an Ops; an unknown account exits 1, a mailbox that cannot be read
    exits 3, each with its message on stderr (ConfigError propagates: the CLI exits 2)."""
    try:
        with Ops() as ops:
            return int(fn(ops) or 0)
    except LookupError as exc:
        print(f"mailpipe accounts: {exc.args[0]}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except MailboxUnavailable as exc:
        print(f"mailpipe accounts: {failure_text(exc)}", file=sys.stderr)
        return EXIT_CHECK_FAILED
