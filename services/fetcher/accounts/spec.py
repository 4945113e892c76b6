"""Pure-ish: accounts from declarative specs (``accounts apply -f accounts.yaml``) and from CLI
flags. Secrets are never literal in a spec: they are read from the environment (``*_env``) or a
file (``*_file``), so the YAML can live in Git. Invalid specs raise ConfigError naming the field."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from ...common.errors import ConfigError
from .model import Account, AccountSecrets

SECRET_FIELDS = ("password", "smtp_password", "oauth2_client_secret", "oauth2_refresh_token")


def build_account(fields: Mapping[str, Any], where: str = "account") -> Account:
    """Validate ``fields`` into an Account; ConfigError lists every bad field."""
    try:
        return Account.model_validate(dict(fields))
    except ValidationError as exc:
        problems = [f"{where}.{'.'.join(str(p) for p in e['loc']) or '(account)'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid account:\n  " + "\n  ".join(problems)) from None


def resolve_secrets(spec: Mapping[str, Any], where: str, env: Mapping[str, str] | None = None) -> dict[str, SecretStr]:
    """The secrets a spec refers to (``password_env: VAR`` or ``password_file: PATH``)."""
    env = os.environ if env is None else env
    out: dict[str, SecretStr] = {}
    for name in SECRET_FIELDS:
        if name in spec:
            raise ConfigError(f"{where}.{name}: secrets may not be written in the file; "
                              f"use {name}_env (an environment variable) or {name}_file (a file)")
        if (var := spec.get(f"{name}_env")) is not None:
            if not env.get(var):
                raise ConfigError(f"{where}.{name}_env: environment variable {var} is not set")
            out[name] = SecretStr(env[var])
        elif (path := spec.get(f"{name}_file")) is not None:
            try:
                out[name] = SecretStr(Path(path).read_text().strip())
            except OSError as exc:
                raise ConfigError(f"{where}.{name}_file: cannot read {path}: {exc.strerror}") from None
    return out


def load_specs(path: Path, env: Mapping[str, str] | None = None) -> list[tuple[Account, dict[str, SecretStr]]]:
    """Every account of an ``accounts.yaml`` (a list, or ``{accounts: [...]}``) with its secrets."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    items = doc.get("accounts", []) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected a list of accounts")
    out, seen = [], set()
    for i, item in enumerate(items):
        where = f"accounts[{i}]" + (f" ({item.get('id')})" if isinstance(item, dict) and item.get("id") else "")
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a mapping")
        refs = {f"{name}{suffix}" for name in SECRET_FIELDS for suffix in ("", "_env", "_file")}
        fields = {k: v for k, v in item.items() if k not in refs}
        fields["folders"] = [{"name": f} if isinstance(f, str) else f for f in fields.get("folders", ["INBOX"])]
        secrets = resolve_secrets(item, where, env)
        account = build_account(fields, where)
        if account.id in seen:
            raise ConfigError(f"{where}: id {account.id} appears twice")
        seen.add(account.id)
        out.append((account, secrets))
    return out


def merge_secrets(current: AccountSecrets | None, given: Mapping[str, SecretStr]) -> AccountSecrets:
    """``current`` with the ``given`` secrets replaced (a new refresh token drops the cached access token)."""
    base = current.model_dump() if current else {}
    base.update(given)
    if "oauth2_refresh_token" in given:
        base.update(oauth2_access_token=None, oauth2_expires_at=None)
    return AccountSecrets.model_validate(base)


def same_secrets(a: AccountSecrets, b: AccountSecrets) -> bool:
    """Equal in the fields an operator sets (the cached access token does not count)."""
    return all(_plain(getattr(a, f)) == _plain(getattr(b, f)) for f in SECRET_FIELDS)


def _plain(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
