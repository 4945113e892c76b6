"""An OAuth2 provider for tests: a token endpoint (refresh grant) and the introspection endpoint the
stack's Dovecot asks whether an XOAUTH2 token is valid (for IMAP, POP3, and SMTP through Postfix's
SASL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from tests.conftest import stack_env


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


def serve() -> Iterator[str]:
    """Serve the provider on the introspection port the stack's Dovecot asks; yields the token URL."""
    server = ThreadingHTTPServer(("127.0.0.1", int(stack_env("MAILPIPE_STACK_OAUTH_INTROSPECTION_PORT"))), Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/token"
    server.shutdown()
    server.server_close()
