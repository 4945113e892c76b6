"""The read-only HTTP API (``mailpipe emails serve``) against the real PostgreSQL: the token, the
parameters, the access levels and the OpenAPI description."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from mailpipe.common.messages import Address, Link, MailboxOptions, MatchedEmail
from mailpipe.storage.http import OPENAPI, make_server
from mailpipe.storage.repository import save_matched

from tests.integration.test_storage_store import T0, parsed

TOKEN = "s3cret-token"


@pytest.fixture
def api(pg_dsn: str) -> Iterator[str]:
    boxes = {"alice-box": MailboxOptions(owner_user="alice", team="sales"), "support": MailboxOptions(team="support")}
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        save_matched(conn, MatchedEmail(email=parsed(1, "alice-box", 1), links=[
            Link(entity_type="company", entity_id="42", reason="host")]), T0, boxes["alice-box"])
        save_matched(conn, MatchedEmail(email=parsed(2, "support", 2).model_copy(update={
            "cc": [Address(address="carol@mailpipe.test")]})), T0, boxes["support"])
    server = make_server("127.0.0.1", 0, TOKEN, lambda: psycopg.connect(pg_dsn))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(url: str, token: str | None = TOKEN) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.postgres
def test_emails_under_access_levels_with_a_token(api: str) -> None:
    assert get(f"{api}/emails", token=None)[0] == 401
    assert get(f"{api}/emails", token="wrong")[0] == 401
    status, rows = get(f"{api}/emails")
    assert status == 200 and sorted(r["subject"].split()[1] for r in rows) == ["1", "2"]
    assert [r["subject"] for r in get(f"{api}/emails?entity=company:42")[1]] == ["Report 1 [Task#101]"]
    own = get(f"{api}/emails?as_user=carol&access=own&user_address=carol@mailpipe.test")[1]
    assert [r["subject"].split()[1] for r in own] == ["2"]
    team = get(f"{api}/emails?as_user=dave&access=team&user_team=sales&user_team=x")[1]
    assert [r["subject"].split()[1] for r in team] == ["1"]
    assert get(f"{api}/emails?as_user=dave&access=no")[1] == []
    assert get(f"{api}/emails?date=2026-11-01&mailbox=support")[1][0]["sent_at"].startswith("2026-11-01")


@pytest.mark.postgres
@pytest.mark.parametrize("query", ["entity=company", "date=yesterday", "limit=0", "access=some&as_user=u", "x=1"])
def test_bad_parameters_are_400(api: str, query: str) -> None:
    status, body = get(f"{api}/emails?{query}")
    assert status == 400 and body["error"]


@pytest.mark.postgres
def test_the_openapi_description_names_every_parameter(api: str) -> None:
    status, body = get(f"{api}/openapi.json", token=None)
    assert status == 200 and body == json.loads(json.dumps(OPENAPI))
    names = {p["name"] for p in body["paths"]["/emails"]["get"]["parameters"]}
    assert names == {"entity", "mailbox", "date", "as_user", "access", "user_address", "user_team", "limit"}
