"""``mailpipe emails serve``: the reads of ``reads.list_emails`` as a small read-only HTTP API with
an OpenAPI description, for CRM backends that are not written in Python (the reference CRMs are
PHP) so that none of them has to copy the access-level SQL of reference 001.

The CRM owns its users, so the caller states the user (``as_user``, ``access``, ``user_address``,
``user_team``); the API therefore trusts its caller and demands a shared bearer token
(``MAILPIPE_STORAGE__API_TOKEN``): it is for CRM backends on the internal network, never for
browsers. One PostgreSQL session per request in a read-only transaction, on the bounded server of
``httpserver`` (fixed worker threads, socket timeouts).

Parameters are strict, because a lenient reading here widens what a user sees: a repeated
single-valued parameter is refused (``access=own&access=all`` read as ``all`` showed everything),
as are an empty value (``as_user=`` meant no access check at all), access parameters without
``as_user``, a NUL byte, invalid UTF-8 and a value the database refuses: each a 400 naming the
parameter where it is known. 503 only when the database is unreachable. ``/healthz`` and ``/readyz``
(``probes``) answer on the same port without the token."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg

from ..common.adapters.postgres_errors import TRANSIENT, kind_of, translate
from .httpserver import BoundedHTTPServer, TimedRequestHandler
from .probes import PATHS as PROBE_PATHS
from .probes import liveness, readiness
from .reads import Viewer, list_emails
from .stage import REFUSALS

log = logging.getLogger(__name__)
MAX_LIMIT = 1000
REPEATABLE = frozenset({"user_address", "user_team"})
_NEED_USER = ("access", "user_address", "user_team")  # meaningless, so refused, without as_user
_STRING = {"type": "string"}
_QUERY = [
    ("entity", _STRING, "TYPE:ID, e.g. company:42 (person, company, task, case, lead, opportunity)"),
    ("mailbox", _STRING, "only emails this mailbox saw"),
    ("date", {"type": "string", "format": "date"}, "only emails sent that day (UTC)"),
    ("as_user", _STRING, "apply this user's access level (reference 001) and the mailboxes' access lists "
     "(reference 002); absent: no access check"),
    ("access", {"type": "string", "enum": ["no", "own", "team", "all"], "default": "own"},
     "the user's level (needs as_user)"),
    ("user_address", {"type": "array", "items": _STRING}, "an address of the user (repeatable; needs as_user)"),
    ("user_team", {"type": "array", "items": _STRING}, "a team of the user (repeatable; needs as_user)"),
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
            "400": {"description": "a query parameter is unknown, empty, repeated (only user_address and "
                                   "user_team repeat), not valid UTF-8, holds a NUL byte, or has a value the "
                                   "database refuses; access, user_address and user_team need as_user"},
            "401": {"description": "missing or wrong bearer token"},
            "500": {"description": "an internal error (logged)"},
            "503": {"description": "the database is unavailable; retry later"}}}},
              **PROBE_PATHS},
}


class BadRequest(ValueError):
    """A query parameter the API cannot use."""


def parse_fields(query: str) -> dict[str, list[str]]:
    """The values of each parameter of a query string; raises BadRequest naming the parameter for a
    name not in the description, an empty value, a NUL byte, invalid UTF-8 or a repeated
    single-valued parameter."""
    if not query.isascii():  # raw bytes in the request line: a client that does not percent-encode
        raise BadRequest("the query string must be percent-encoded ASCII")
    fields: dict[str, list[str]] = {}
    known = {name for name, _, _ in _QUERY}
    for name, value in parse_qsl(query, keep_blank_values=True, errors="surrogateescape"):
        if name not in known:
            raise BadRequest(f"unknown parameter: {name!r}")
        if not value:
            raise BadRequest(f"{name}: empty")
        if "\0" in value:
            raise BadRequest(f"{name}: contains a NUL byte")
        try:
            value.encode()  # bytes that are not UTF-8 came back as lone surrogates
        except UnicodeEncodeError:
            raise BadRequest(f"{name}: not valid UTF-8") from None
        fields.setdefault(name, []).append(value)
    for name, values in fields.items():
        if len(values) > 1 and name not in REPEATABLE:
            raise BadRequest(f"{name}: given {len(values)} times; only user_address and user_team repeat")
    return fields


def parse_query(query: str) -> dict[str, Any]:
    """The keyword arguments of ``list_emails`` from a query string; raises BadRequest."""
    q = parse_fields(query)
    one = {k: v[0] for k, v in q.items()}
    entity = None
    if "entity" in one:
        etype, sep, eid = one["entity"].partition(":")
        if not sep or not etype or not eid:
            raise BadRequest("entity: expected TYPE:ID, e.g. company:42")
        entity = (etype, eid)
    day = None
    if "date" in one:
        try:
            day = date.fromisoformat(one["date"])
        except ValueError:
            raise BadRequest("date: expected YYYY-MM-DD") from None
        if day == date.max:  # the day after it, the end of the range, is not a date
            raise BadRequest("date: out of range")
    limit = one.get("limit", "100")
    if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= MAX_LIMIT):
        raise BadRequest(f"limit: a whole number from 1 to {MAX_LIMIT}")
    viewer = None
    if "as_user" in one:
        access = one.get("access", "own")
        if access not in ("no", "own", "team", "all"):
            raise BadRequest("access: no, own, team or all")
        viewer = Viewer(one["as_user"], access, tuple(q.get("user_address", [])),  # type: ignore[arg-type]
                        tuple(q.get("user_team", [])))
    elif without := [name for name in _NEED_USER if name in q]:
        raise BadRequest(f"{', '.join(without)}: only with as_user")
    return {"viewer": viewer, "entity": entity, "mailbox": one.get("mailbox"), "day": day, "limit": int(limit)}


def authorized(header: str, token: bytes) -> bool:
    """Whether an Authorization header carries the token under the Bearer scheme, whose name is
    case-insensitive (RFC 7235 section 2.1); the token is compared in constant time."""
    scheme, _, credentials = header.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.lstrip(" ").encode(), token)


def make_server(host: str, port: int, token: str, connect: Callable[[], Any], *, workers: int = 8,
                socket_timeout_seconds: float = 10, max_connections: int = 256,
                ready_check: Callable[[], None] | None = None) -> BoundedHTTPServer:
    """A server answering ``GET /emails``, ``/openapi.json``, ``/healthz`` and ``/readyz``;
    ``serve_forever`` blocks. ``/emails`` needs ``Authorization: Bearer <token>``. ``workers``
    threads handle requests; see ``httpserver`` for the timeout, ``max_connections`` and the
    drain. ``ready_check`` (default: ``SELECT 1`` on a ``connect()`` session) raises psycopg
    errors when PostgreSQL cannot serve; it should be bounded (``probes.postgres_check``)."""
    if not token:
        raise ValueError("an API token is required")
    expected = token.encode()

    def select_one() -> None:
        with connect() as conn:
            conn.execute("SELECT 1")

    check = ready_check or select_one

    class Handler(TimedRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlsplit(self.path)
            if url.path == "/openapi.json":
                return self._send(200, OPENAPI)
            if url.path == "/healthz":
                return self._send(*liveness(self.server.health))
            if url.path == "/readyz":
                return self._send(*readiness(self.server.health, self.server.draining.is_set(), check))
            if url.path != "/emails":
                return self._send(404, {"error": "not found"})
            if not authorized(self.headers.get("Authorization", ""), expected):
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
            except REFUSALS as exc:  # before OperationalError: ProgramLimitExceeded is one
                return self._send(400, {"error": f"a parameter value the database refuses ({type(exc).__name__})"})
            except psycopg.Error as exc:  # the PostgreSQL adapter's table decides: away, or our fault
                if kind_of(exc) == TRANSIENT:  # unreachable, restarting, overloaded: the caller may retry
                    return self._send(503, {"error": "the database is unavailable; retry later"})
                # our schema or configuration; translate() redacts psycopg's text, which can hold the DSN
                log.error("emails API: the database refused the read", extra={
                    "error": type(exc).__name__, "sqlstate": exc.sqlstate, "cause": str(translate(exc))})
                return self._send(500, {"error": "internal error"})
            except Exception:
                log.exception("emails API: the read failed")
                return self._send(500, {"error": "internal error"})
            self._send(200, rows)

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", "Bearer")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # no request lines with user addresses in the logs

    return BoundedHTTPServer((host, port), Handler, workers=workers, socket_timeout_seconds=socket_timeout_seconds,
                             max_connections=max_connections)
