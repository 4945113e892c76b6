"""``mailpipe emails serve``: the reads of ``reads.list_emails`` as a small read-only HTTP API with
an OpenAPI description, for CRM backends that are not written in Python (the reference CRMs are
PHP) so that none of them has to copy the access-level SQL of reference 001.

The CRM owns its users, so the caller states the user (``as_user``, ``access``, ``user_address``,
``user_team``); the API therefore trusts its caller and demands a shared bearer token
(``MAILPIPE_STORAGE__API_TOKEN``): it is for CRM backends on the internal network, never for
browsers. Standard library server, one PostgreSQL session per request in a read-only transaction."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .reads import Viewer, list_emails

MAX_LIMIT = 1000
_STRING = {"type": "string"}
_QUERY = [
    ("entity", _STRING, "TYPE:ID, e.g. company:42 (person, company, task, case, lead)"),
    ("mailbox", _STRING, "only emails this mailbox saw"),
    ("date", {"type": "string", "format": "date"}, "only emails sent that day (UTC)"),
    ("as_user", _STRING, "apply this user's access level (reference 001); absent: no access check"),
    ("access", {"type": "string", "enum": ["no", "own", "team", "all"], "default": "own"}, "the user's level"),
    ("user_address", {"type": "array", "items": _STRING}, "an address of the user (repeatable)"),
    ("user_team", {"type": "array", "items": _STRING}, "a team of the user (repeatable)"),
    ("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100}, "at most this many"),
]
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "mailpipe email store (read-only)", "version": "1"},
    "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    "security": [{"token": []}],
    "paths": {"/emails": {"get": {
        "summary": "Stored emails, newest first, as the given user may see them",
        "parameters": [{"name": n, "in": "query", "schema": s, "description": d} for n, s, d in _QUERY],
        "responses": {
            "200": {"description": "the emails", "content": {"application/json": {"schema": {
                "type": "array", "items": {"type": "object", "properties": {
                    "email_id": {"type": "string", "format": "uuid"}, "message_id": {"type": ["string", "null"]},
                    "subject": _STRING, "from_address": {"type": ["string", "null"]},
                    "sent_at": {"type": ["string", "null"], "format": "date-time"}}}}}}},
            "400": {"description": "a query parameter is invalid"},
            "401": {"description": "missing or wrong bearer token"},
            "503": {"description": "the database is unavailable; retry later"}}}}},
}


class BadRequest(ValueError):
    """A query parameter the API cannot use."""


def parse_query(query: str) -> dict[str, Any]:
    """The keyword arguments of ``list_emails`` from a query string; raises BadRequest."""
    q = parse_qs(query, keep_blank_values=False)
    one = {k: v[-1] for k, v in q.items()}
    unknown = set(q) - {name for name, _, _ in _QUERY}
    if unknown:
        raise BadRequest(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    entity = None
    if "entity" in one:
        etype, sep, eid = one["entity"].partition(":")
        if not sep or not etype or not eid:
            raise BadRequest("entity: expected TYPE:ID, e.g. company:42")
        entity = (etype, eid)
    try:
        day = date.fromisoformat(one["date"]) if "date" in one else None
        limit = int(one.get("limit", 100))
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit: 1 to {MAX_LIMIT}")
    viewer = None
    if "as_user" in one:
        access = one.get("access", "own")
        if access not in ("no", "own", "team", "all"):
            raise BadRequest("access: no, own, team or all")
        viewer = Viewer(one["as_user"], access, tuple(q.get("user_address", [])),  # type: ignore[arg-type]
                        tuple(q.get("user_team", [])))
    return {"viewer": viewer, "entity": entity, "mailbox": one.get("mailbox"), "day": day, "limit": limit}


def make_server(host: str, port: int, token: str, connect: Callable[[], Any]) -> ThreadingHTTPServer:
    """A server answering ``GET /emails`` and ``GET /openapi.json``; ``serve_forever`` blocks.
    Every request but the description needs ``Authorization: Bearer <token>``."""
    if not token:
        raise ValueError("an API token is required")
    expected = f"Bearer {token}".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlsplit(self.path)
            if url.path == "/openapi.json":
                return self._send(200, OPENAPI)
            if url.path != "/emails":
                return self._send(404, {"error": "not found"})
            if not hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected):
                return self._send(401, {"error": "missing or wrong bearer token"})
            try:
                kwargs = parse_query(url.query)
            except BadRequest as exc:
                return self._send(400, {"error": str(exc)})
            try:
                with connect() as conn:
                    conn.read_only = True
                    with conn.transaction():
                        rows = list_emails(conn, **kwargs)
            except Exception as exc:  # the database is away: the caller may retry
                return self._send(503, {"error": type(exc).__name__})
            self._send(200, rows)

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # no request lines with user addresses in the logs

    return ThreadingHTTPServer((host, port), Handler)
