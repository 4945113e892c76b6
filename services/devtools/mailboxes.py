"""Putting mail into the local Dovecot over IMAP APPEND (the way a server receives it), and
accounts for it into a test's own database."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable
from typing import Any

from imapclient import IMAPClient
from pydantic import SecretStr

from ..common import clients
from ..common.settings import PostgresSettings
from ..fetcher.accounts.model import Account, AccountSecrets
from ..fetcher.accounts.ops import save_sealed


def stack_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: start the stack with `make up` and load .state/stack.env")
    return value


def connect(user: str) -> IMAPClient:
    """A TLS connection to the local Dovecot (verified against the stack's certificate), logged in."""
    ctx = ssl.create_default_context(cafile=stack_env("MAILPIPE_STACK_TLS_CA"))
    client = IMAPClient("127.0.0.1", port=int(stack_env("MAILPIPE_STACK_IMAPS_PORT")), ssl=True, ssl_context=ctx)
    client._imap.debug = 0
    client.login(user, stack_env("MAILPIPE_STACK_MAIL_PASSWORD"))
    return client


def append(user: str, messages: Iterable[bytes], folder: str = "INBOX") -> int:
    """Append every message to ``folder`` of ``user`` (created when missing); returns the count."""
    n = 0
    with connect(user) as client:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for raw in messages:
            client.append(folder, raw)
            n += 1
    return n


def count(user: str, folder: str = "INBOX") -> int:
    with connect(user) as client:
        if not client.folder_exists(folder):
            return 0
        return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])


def local_smtp() -> dict[str, Any]:
    """The local Postfix's submission port (STARTTLS verified against the stack's CA, AUTH with the
    mailbox's login): an account's ``smtp`` for sending through the stack."""
    return {"host": "localhost", "port": int(stack_env("MAILPIPE_STACK_SUBMISSION_PORT")), "security": "starttls",
            "ca_file": stack_env("MAILPIPE_STACK_TLS_CA")}


def latest_autoreply(user: str) -> Any:
    """The newest message marked Auto-Submitted in ``user``'s INBOX (an email.message.EmailMessage), or None."""
    import email
    from email import policy

    with connect(user) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["HEADER", "Auto-Submitted", "auto-replied"])
        if not uids:
            return None
        raw = client.fetch([max(uids)], ["BODY.PEEK[]"])[max(uids)][b"BODY[]"]
    return email.message_from_bytes(bytes(raw), policy=policy.default)


def local_account(user: str, mailbox_id: str, **fields: Any) -> Account:
    """An account for ``user`` on the local Dovecot, over IMAPS verified against the stack's CA."""
    base: dict[str, Any] = dict(id=mailbox_id, server="localhost", port=int(stack_env("MAILPIPE_STACK_IMAPS_PORT")),
                                username=user, security="tls", ca_file=stack_env("MAILPIPE_STACK_TLS_CA"))
    return Account.model_validate({**base, **fields})


def save_account(dsn: str, account: Account, password: str | None = None, smtp_password: str | None = None) -> None:
    """Store ``account`` (its password sealed with the stack's key) in the database at ``dsn``,
    without the connection check of ``mailpipe accounts add`` and without publishing to
    ``mail.mailboxes`` (a test names its own scratch database and may have no Kafka): the fetcher's
    ``save_sealed``, the path ``mailpipe accounts`` stores through too."""
    secrets = AccountSecrets(password=SecretStr(password or stack_env("MAILPIPE_STACK_MAIL_PASSWORD")),
                             smtp_password=SecretStr(smtp_password) if smtp_password else None)
    with clients.connect_postgres(PostgresSettings(dsn=SecretStr(dsn)), autocommit=True) as conn:
        save_sealed(conn, account, secrets, SecretStr(stack_env("MAILPIPE_SECRETS__KEYS")))
