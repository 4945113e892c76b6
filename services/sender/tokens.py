"""The access token an XOAUTH2 SMTP login needs: the one stored with the account while it is
valid, else a refreshed one (``common/oauth2.py``), sealed back into the account so the fetcher
and the next send reuse it. Blocks on PostgreSQL and the token endpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..common import oauth2
from ..common.secretbox import SealedBox
from ..common.smtp import SmtpFailure


@dataclass(frozen=True)
class OAuthGrant:
    """An account's OAuth2 grant: where to refresh it, and its secrets as stored (plain, in memory)."""

    account_id: str
    token_url: str
    client_id: str
    scope: str | None
    secrets: dict[str, Any] = field(repr=False)

    def token(self, conn: Any, box: SealedBox, timeout: float, now: float | None = None) -> str:
        """A current access token. Raises SmtpFailure: configuration (field ``oauth2``) when the
        provider refuses the refresh or nothing can be refreshed, transient when it cannot be
        reached."""
        now = time.time() if now is None else now
        current = self.secrets.get("oauth2_access_token")
        if current and (self.secrets.get("oauth2_expires_at") or 0) - oauth2.EARLY_REFRESH_SECONDS > now:
            return str(current)
        refresh_token = self.secrets.get("oauth2_refresh_token")
        if not refresh_token:
            if current:  # no way to refresh: try the token there is
                return str(current)
            raise SmtpFailure("configuration", "auth", "oauth2", "no OAuth2 refresh token stored")
        try:
            got = oauth2.refresh(self.token_url, self.client_id, self.secrets.get("oauth2_client_secret"),
                                 refresh_token, self.scope, timeout)
        except oauth2.TokenRefused as exc:
            raise SmtpFailure("configuration", "auth", "oauth2", str(exc)) from None
        except oauth2.TokenEndpointUnreachable as exc:
            raise SmtpFailure("transient", "connection", "oauth2", str(exc)) from None
        updated = {**self.secrets, "oauth2_access_token": got.access_token, "oauth2_expires_at": now + got.expires_in,
                   **({"oauth2_refresh_token": got.refresh_token} if got.refresh_token else {})}
        # the secrets only: no updated_at bump, which would lift stopped mailboxes' stops
        conn.execute("UPDATE mailbox_accounts SET secrets = %s WHERE mailbox_id = %s",
                     (box.seal_json(updated), self.account_id))
        return got.access_token
