"""Mailbox secrets encrypted at rest: the shared ``SealedBox`` (``common/secretbox.py``: Fernet,
keys from ``MAILPIPE_SECRETS__KEYS``, rotation, the key check row) typed with the account's
secrets."""

from __future__ import annotations

from ...common.secretbox import KEYS_VARIABLE, SealedBox, SecretsSettings, generate_key
from .model import AccountSecrets

__all__ = ["KEYS_VARIABLE", "SecretBox", "SecretsSettings", "generate_key"]


class SecretBox(SealedBox):
    """Seals and opens an account's secrets (see SealedBox for the errors)."""

    def seal(self, secrets: AccountSecrets) -> bytes:
        return self.seal_json(secrets.reveal())

    def open(self, token: bytes) -> AccountSecrets:
        return AccountSecrets.model_validate(self.open_json(token))
