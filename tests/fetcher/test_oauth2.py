"""XOAUTH2 end to end: the fetcher refreshes the access token at the provider's token endpoint,
logs in to Dovecot with it (Dovecot asks our introspection endpoint whether it is valid), reads
the mailbox, and stores the refreshed token sealed. A revoked grant is named on the oauth2 field."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from mailpipe.devtools import mailboxes
from mailpipe.fetcher.accounts import store
from mailpipe.fetcher.accounts.check import check_account
from mailpipe.fetcher.accounts.model import AccountSecrets
from mailpipe.fetcher.errors import MailboxUnavailable
from pydantic import SecretStr

from tests.conftest import stack_env
from tests.fetcher.conftest import FetchWorld, message

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.s3, pytest.mark.imap]


class Provider(BaseHTTPRequestHandler):
    """A token endpoint (refresh grant) and the introspection endpoint Dovecot calls."""

    refresh_tokens: dict[str, str] = {}  # refresh token -> user
    access_tokens: dict[str, str] = {}  # access token -> user
    issued = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        form = dict(parse_qsl(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()))
        cls = type(self)
        if self.path == "/token":
            user = cls.refresh_tokens.get(form.get("refresh_token", ""))
            if user is None or form.get("client_id") != "mailpipe-test-client":
                return self._json(400, {"error": "invalid_grant", "error_description": "Token has been revoked"})
            cls.issued += 1
            token = f"at-{cls.issued}-{user}"
            cls.access_tokens[token] = user
            return self._json(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})
        user = cls.access_tokens.get(form.get("token", ""))
        return self._json(200, {"active": True, "username": user} if user else {"active": False})

    def _json(self, status: int, doc: dict[str, object]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", int(stack_env("MAILPIPE_STACK_OAUTH_INTROSPECTION_PORT"))), Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/token"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_xoauth2_refresh_login_and_fetch(world: FetchWorld, provider: str, protocol: str) -> None:
    user, box = world.user(f"oauth-{protocol}"), f"oauth-{protocol}-{world.unique}"
    Provider.refresh_tokens[f"rt-{box}"] = user
    port = stack_env("MAILPIPE_STACK_IMAPS_PORT" if protocol == "imap" else "MAILPIPE_STACK_POP3S_PORT")
    account = mailboxes.local_account(user, box, protocol=protocol, port=int(port), auth="oauth2",
                                      oauth2={"token_url": provider, "client_id": "mailpipe-test-client"})
    secrets = AccountSecrets(oauth2_refresh_token=SecretStr(f"rt-{box}"))
    report = check_account(account, secrets, timeout=10)
    assert report.secrets.oauth2_access_token is not None, "the check did not refresh the token"

    mailboxes.save_account(world.dsn, account)  # sealed with a password; replace with the OAuth2 secrets
    store.update_secrets(world.conn, box, world.box.seal(secrets))
    mailboxes.append(user, [message(n, world.unique) for n in range(2)])
    assert world.run(box) == "complete"
    assert len(world.records(box)) == 2
    stored = world.box.open(store.get(world.conn, box).sealed_secrets)  # type: ignore[union-attr]
    assert stored.oauth2_access_token is not None and stored.oauth2_expires_at is not None
    issued = Provider.issued
    mailboxes.append(user, [message(2, world.unique)])
    world.run(box)
    assert len(world.records(box)) == 3 and Provider.issued == issued, "a valid access token was refreshed again"

    forged = AccountSecrets(oauth2_access_token=SecretStr("forged-token"), oauth2_expires_at=4e9)
    with pytest.raises(MailboxUnavailable) as caught:
        check_account(account, forged, timeout=10)
    assert (caught.value.kind, caught.value.field) == ("auth_failed", "oauth2"), "Dovecot let a forged token in"

    del Provider.refresh_tokens[f"rt-{box}"]
    with pytest.raises(MailboxUnavailable) as caught:
        check_account(account, secrets, timeout=10)
    assert (caught.value.kind, caught.value.field) == ("auth_failed", "oauth2") and "revoked" in caught.value.cause
