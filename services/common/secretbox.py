"""Secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256), keys from
``MAILPIPE_SECRETS__KEYS``: a comma-separated list, the first encrypts, all decrypt, so keys can
be rotated (``mailpipe accounts rotate-key``). A key check row in PostgreSQL makes a wrong key a
clear error at start instead of a failure at the first mailbox.

The fetcher's accounts seal a mailbox's secrets with it; the sender opens them to log in to the
mailbox's outgoing server. The sealed value is a JSON object of plain strings."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import Field, SecretStr

from .errors import ConfigError
from .settings import Section

KEYS_VARIABLE = "MAILPIPE_SECRETS__KEYS"
_CHECK_PLAINTEXT = b"mailpipe secrets key check"


class SecretsSettings(Section):
    keys: SecretStr = Field(description="comma-separated Fernet keys (urlsafe base64 of 32 bytes); first encrypts")


def generate_key() -> str:
    """A fresh key for ``MAILPIPE_SECRETS__KEYS``."""
    return Fernet.generate_key().decode()


class SealedBox:
    """Seals and opens JSON objects of secrets. Construction raises ConfigError naming the
    variable when a key is malformed; ``open_json`` raises ConfigError when no key fits (a wrong
    or rotated-out key). Pure but for ``verify``, which reads and writes PostgreSQL."""

    def __init__(self, settings: SecretsSettings) -> None:
        parts = [k.strip() for k in settings.keys.get_secret_value().split(",") if k.strip()]
        if not parts:
            raise ConfigError(f"{KEYS_VARIABLE}: empty; generate one with `mailpipe accounts generate-key`")
        fernets = []
        for i, key in enumerate(parts, 1):
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError:
                raise ConfigError(f"{KEYS_VARIABLE}: key {i} is not a Fernet key (urlsafe base64 of 32 bytes); "
                                  "generate one with `mailpipe accounts generate-key`") from None
        self._box = MultiFernet(fernets)

    def seal_json(self, plain: dict[str, Any]) -> bytes:
        return self._box.encrypt(json.dumps(plain).encode())

    def open_json(self, token: bytes) -> dict[str, Any]:
        try:
            plain = self._box.decrypt(bytes(token))
        except InvalidToken:
            raise ConfigError(f"{KEYS_VARIABLE}: no key decrypts the stored mailbox secrets "
                              "(wrong key, or the key that sealed them was removed)") from None
        value: dict[str, Any] = json.loads(plain)
        return value

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt ``token`` with the first key."""
        return self._box.rotate(bytes(token))

    def verify(self, conn: Any) -> None:
        """Check the keys against the database's key check row (made on first use). Blocks on
        PostgreSQL; raises ConfigError when none of the keys opens it."""
        row = conn.execute("SELECT token FROM secrets_key_check WHERE id = 1").fetchone()
        if row is None:
            conn.execute("INSERT INTO secrets_key_check (id, token) VALUES (1, %s) ON CONFLICT (id) DO NOTHING",
                         (self._box.encrypt(_CHECK_PLAINTEXT),))
            return
        try:
            self._box.decrypt(bytes(row[0]))
        except InvalidToken:
            raise ConfigError(f"{KEYS_VARIABLE}: none of the keys is the one this database's mailbox secrets "
                              "were sealed with (wrong key?)") from None
        conn.execute("UPDATE secrets_key_check SET token = %s WHERE id = 1", (self._box.rotate(bytes(row[0])),))
