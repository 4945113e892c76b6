"""OAuth2 refresh (RFC 6749 §6): a new access token for a refresh token at the provider's token
endpoint. The fetcher's IMAP/POP3 logins and the sender's SMTP logins (XOAUTH2) both use it; each
keeps the refreshed secrets sealed with the account. Blocks on HTTP for at most ``timeout``."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

EARLY_REFRESH_SECONDS = 120  # refresh this long before expiry: a token must outlive the login


class TokenRefused(Exception):
    """The provider refused the refresh (a revoked grant, a wrong client): the message says why."""


class TokenEndpointUnreachable(Exception):
    """The token endpoint did not answer usably (network, a server error page): try again later."""


@dataclass(frozen=True)
class Refreshed:
    access_token: str = field(repr=False)
    expires_in: float
    refresh_token: str | None = field(repr=False, default=None)  # a rotated one, when the provider sent it


def refresh(token_url: str, client_id: str, client_secret: str | None, refresh_token: str, scope: str | None,
            timeout: float) -> Refreshed:
    """Trade ``refresh_token`` for a new access token. Raises TokenRefused or
    TokenEndpointUnreachable; neither message holds a token or a secret."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if client_secret:
        form["client_secret"] = client_secret
    if scope:
        form["scope"] = scope
    request = urllib.request.Request(token_url, data=urllib.parse.urlencode(form).encode(),
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise TokenRefused(f"token refresh refused ({exc.code}): {_error_of(exc.read())}") from None
    except (OSError, ValueError) as exc:
        raise TokenEndpointUnreachable(f"token endpoint unreachable: {exc}") from None
    token = body.get("access_token")
    if not token:
        raise TokenRefused("token endpoint answered without an access_token")
    return Refreshed(token, float(body.get("expires_in", 3600)), body.get("refresh_token") or None)


def _error_of(body: bytes) -> str:
    try:
        doc = json.loads(body)
        return str(doc.get("error_description") or doc.get("error") or "")[:300]
    except ValueError:
        return body[:300].decode("utf-8", "replace")
