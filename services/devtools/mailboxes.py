"""Putting mail into the local Dovecot over IMAP APPEND (the way a server receives it)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable

from imapclient import IMAPClient


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


def mailbox_env(user: str, mailbox_id: str) -> dict[str, str]:
    """The fetcher settings for ``user`` on the local Dovecot, over IMAPS with verification."""
    return {
        "MAILPIPE_MAILBOX__ID": mailbox_id,
        "MAILPIPE_MAILBOX__HOST": "localhost",
        "MAILPIPE_MAILBOX__PORT": stack_env("MAILPIPE_STACK_IMAPS_PORT"),
        "MAILPIPE_MAILBOX__USERNAME": user,
        "MAILPIPE_MAILBOX__PASSWORD": stack_env("MAILPIPE_STACK_MAIL_PASSWORD"),
        "MAILPIPE_MAILBOX__SECURITY": "tls",
        "MAILPIPE_MAILBOX__CA_FILE": stack_env("MAILPIPE_STACK_TLS_CA"),
    }
