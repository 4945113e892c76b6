"""XOAUTH2 access tokens: reuse the stored one while it is valid, else refresh it at the
provider's token endpoint (``common/oauth2.py``) and hand back the new secrets to seal and store
(providers may rotate the refresh token too). Blocks on HTTP for at most ``timeout`` seconds."""

from __future__ import annotations

import time

from pydantic import SecretStr

from ..common import oauth2
from ..common.oauth2 import EARLY_REFRESH_SECONDS
from .accounts.model import Account, AccountSecrets
from .errors import MailboxUnavailable


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
    try:
        got = oauth2.refresh(account.oauth2.token_url, account.oauth2.client_id,
                             secrets.oauth2_client_secret.get_secret_value() if secrets.oauth2_client_secret else None,
                             secrets.oauth2_refresh_token.get_secret_value(), account.oauth2.scope, timeout)
    except oauth2.TokenRefused as exc:
        raise MailboxUnavailable("auth_failed", "oauth2", str(exc)) from None
    except oauth2.TokenEndpointUnreachable as exc:
        raise MailboxUnavailable("connection_lost", "oauth2", str(exc)) from None
    updated = secrets.model_copy(update={
        "oauth2_access_token": SecretStr(got.access_token),
        "oauth2_expires_at": now + got.expires_in,
        "oauth2_refresh_token": SecretStr(got.refresh_token) if got.refresh_token else secrets.oauth2_refresh_token,
    })
    return got.access_token, updated
