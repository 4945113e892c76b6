"""XOAUTH2 access tokens: reuse the stored one while it is valid, else refresh it at the
provider's token endpoint (RFC 6749 §6) and hand back the new secrets to seal and store
(providers may rotate the refresh token too). Blocks on HTTP for at most ``timeout`` seconds."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

from pydantic import SecretStr

from .accounts.model import Account, AccountSecrets
from .errors import MailboxUnavailable

EARLY_REFRESH_SECONDS = 120  # refresh this long before expiry: a token must outlive the login


def access_token(account: Account, secrets: AccountSecrets, timeout: float,
                 now: float | None = None) -> tuple[str, AccountSecrets | None]:
    """The access token to log in with, and the updated secrets when a refresh happened (else None).
    Raises MailboxUnavailable("auth_failed", "oauth2") when the provider refuses the refresh."""
    now = time.time() if now is None else now
    if secrets.oauth2_access_token and (secrets.oauth2_expires_at or 0) - EARLY_REFRESH_SECONDS > now:
        return secrets.oauth2_access_token.get_secret_value(), None
    if account.oauth2 is None or secrets.oauth2_refresh_token is None:
        if secrets.oauth2_access_token:  # no way to refresh: try the token we have
            return secrets.oauth2_access_token.get_secret_value(), None
        raise MailboxUnavailable("auth_failed", "oauth2", "no OAuth2 refresh token stored")
    form = {"grant_type": "refresh_token", "refresh_token": secrets.oauth2_refresh_token.get_secret_value(),
            "client_id": account.oauth2.client_id}
    if secrets.oauth2_client_secret:
        form["client_secret"] = secrets.oauth2_client_secret.get_secret_value()
    if account.oauth2.scope:
        form["scope"] = account.oauth2.scope
    request = urllib.request.Request(account.oauth2.token_url, data=urllib.parse.urlencode(form).encode(),
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = _error_of(exc.read())
        raise MailboxUnavailable("auth_failed", "oauth2", f"token refresh refused ({exc.code}): {detail}") from exc
    except (OSError, ValueError) as exc:
        raise MailboxUnavailable("connection_lost", "oauth2", f"token endpoint unreachable: {exc}") from exc
    token = body.get("access_token")
    if not token:
        raise MailboxUnavailable("auth_failed", "oauth2", "token endpoint answered without an access_token")
    updated = secrets.model_copy(update={
        "oauth2_access_token": SecretStr(token),
        "oauth2_expires_at": now + float(body.get("expires_in", 3600)),
        "oauth2_refresh_token": SecretStr(body["refresh_token"]) if body.get("refresh_token")
        else secrets.oauth2_refresh_token,
    })
    return token, updated


def _error_of(body: bytes) -> str:
    try:
        doc = json.loads(body)
        return str(doc.get("error_description") or doc.get("error") or "")[:300]
    except ValueError:
        return body[:300].decode("utf-8", "replace")
