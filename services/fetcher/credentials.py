"""The secret to log in with: the password, or a current XOAUTH2 access token (refreshed and
stored sealed again when it was about to expire)."""

from __future__ import annotations

from typing import Any

from .accounts import store
from .accounts.model import Account
from .accounts.secrets import SecretBox
from .errors import MailboxUnavailable
from .oauth import access_token


def login_secret(conn: Any, box: SecretBox, account: Account, sealed: bytes, timeout: float) -> str:
    """Raises MailboxUnavailable("auth_failed") when nothing usable is stored or the refresh fails."""
    secrets = box.open(sealed)
    if account.auth == "password":
        if secrets.password is None:
            raise MailboxUnavailable("auth_failed", "password", "no password stored")
        return secrets.password.get_secret_value()
    token, updated = access_token(account, secrets, timeout)
    if updated is not None:
        store.update_secrets(conn, account.id, box.seal(updated))
    return token
