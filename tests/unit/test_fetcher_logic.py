"""The fetcher's pure logic: ports, plans, batches, folder roles, records, specs, secrets, OAuth2."""

from __future__ import annotations

import json
import ssl
import threading
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cryptography.fernet import Fernet
from mailpipe.common.errors import ConfigError
from mailpipe.common.messages import Sighting
from mailpipe.fetcher.accounts.model import Account, AccountSecrets
from mailpipe.fetcher.accounts.presets import guess_port, preset_for_host
from mailpipe.fetcher.accounts.secrets import SecretBox, SecretsSettings
from mailpipe.fetcher.accounts.spec import load_specs, merge_secrets, same_secrets
from mailpipe.fetcher.checkpoint import Cursor
from mailpipe.fetcher.connect import describe_greeting, translate
from mailpipe.fetcher.folders import ServerFolder, role_of, selection
from mailpipe.fetcher.leases import backoff_seconds
from mailpipe.fetcher.oauth import access_token
from mailpipe.fetcher.plan import batches, plan_folder
from mailpipe.fetcher.records import Fetched, ledger_entry, message_id_of, raw_record
from mailpipe.fetcher.tools import months_back
from pydantic import SecretStr, ValidationError


def acc(**fields: object) -> Account:
    return Account.model_validate({"id": "box", "server": "mail.example.com", "username": "u@example.com", **fields})


@pytest.mark.parametrize("protocol, security, host, port", [
    ("imap", "tls", "mail.example.com", 993), ("imap", "starttls", "mail.example.com", 143),
    ("imap", "none", "mail.example.com", 143), ("pop3", "tls", "mail.example.com", 995),
    ("pop3", "starttls", "mail.example.com", 110), ("pop3", "none", "mail.example.com", 110),
    ("imap", "starttls", "imap.gmail.com", 993), ("pop3", "none", "outlook.office365.com", 995),
    ("imap", "tls", "IMAP.MAIL.YAHOO.COM", 993),
])
def test_port_guessing(protocol: str, security: str, host: str, port: int) -> None:
    assert guess_port(protocol, security, host) == port  # type: ignore[arg-type]
    assert acc(protocol=protocol, security=security, server=host).effective_port == port
    assert acc(protocol=protocol, security=security, server=host, port=2525).effective_port == 2525


def test_presets_and_account_rules() -> None:
    assert preset_for_host("imap.gmail.com").name == "gmail"  # type: ignore[union-attr]
    assert preset_for_host("mail.example.com") is None
    with pytest.raises(ValidationError, match="oauth2"):
        acc(auth="oauth2")
    with pytest.raises(ValidationError, match="IDLE"):
        acc(protocol="pop3", push=True)
    with pytest.raises(ValidationError):
        acc(id="has:colon")
    a = acc(email="Sales@Example.com", options={"copy_files": "task"})
    config = a.mailbox_config()
    assert config.own_addresses == ["sales@example.com"] and config.options.copy_files == "task"
    assert "mail.example.com" not in config.model_dump_json() and "u@example.com" not in config.model_dump_json()
    assert acc(protocol="pop3", folders=[{"name": "Other"}]).sync_folders == ["INBOX"]


def test_folder_plan_and_batches() -> None:
    assert plan_folder(None, 7, 2).mode == "initial"
    assert plan_folder(Cursor(7, 41, None), 7, 2) == plan_folder(Cursor(7, 41, None), 7, 2)
    inc = plan_folder(Cursor(7, 41, None), 7, 2)
    assert (inc.mode, inc.after_uid) == ("incremental", 41)
    resync = plan_folder(Cursor(7, 41, datetime(2026, 3, 10, 8, tzinfo=UTC)), 8, 2)
    assert (resync.mode, resync.since) == ("resync", date(2026, 3, 8))
    assert plan_folder(Cursor(7, 41, None), 8, 2).since is None

    class Item:
        def __init__(self, size: int) -> None:
            self.size = size

    sizes = [[i.size for i in b] for b in batches([Item(s) for s in (5, 5, 5, 50, 5, 5)], 3, 20)]  # type: ignore[arg-type]
    assert sizes == [[5, 5, 5], [50], [5, 5]]
    assert list(batches([], 3, 20)) == []


def test_folder_roles_and_selection() -> None:
    server = [ServerFolder("INBOX"), ServerFolder("Sent Items"), ServerFolder("Stuff", (b"\\Trash",)),
              ServerFolder("[Gmail]/Spam", (), "/"), ServerFolder("INBOX.Kladder", (), "."),
              ServerFolder("Parent", (b"\\Noselect",)), ServerFolder("Projects")]
    assert [role_of(f) for f in server] == ["inbox", "sent", "trash", "junk", "drafts", None, None]
    chosen = selection(server, ["INBOX", "Projects"], {"Projects": "archive"})
    assert [(f.name, f.role) for f in chosen] == [("INBOX", "inbox"), ("Projects", "archive")]
    assert [f.name for f in selection(server)] == ["INBOX"]
    with pytest.raises(ValueError, match="Parent"):
        selection(server, ["Parent"])


def test_greetings_and_error_translation() -> None:
    assert describe_greeting(b"* OK [CAPABILITY IMAP4rev1] ready\r\n") == "IMAP"
    assert describe_greeting(b"+OK Dovecot ready.\r\n") == "POP3"
    assert describe_greeting(b"220 smtp.example.com ESMTP\r\n") == "SMTP or FTP"
    assert "nothing" in describe_greeting(b"")
    a = acc(security="none", port=143)
    assert translate(ConnectionRefusedError(), a).kind == "connection_refused"
    assert translate(TimeoutError(), a).field == "server"
    assert translate(ssl.SSLError(1, "x"), a).kind == "tls_handshake"
    assert translate(ConnectionResetError(), a).metric_kind == "connection"


def test_message_id_is_read_from_the_header_block_only() -> None:
    """A Message-ID line in the body (a quoted or forwarded message) is not the message's own,
    whichever line ending the header block uses."""
    for eol in (b"\r\n", b"\n"):
        raw = eol.join([b"Subject: fwd", b"", b"Message-ID: <quoted@example.com>", b""])
        assert message_id_of(raw) is None
        raw = eol.join([b"Message-ID: <own@example.com>", b"", b"Message-ID: <quoted@example.com>"])
        assert message_id_of(raw) == "own@example.com"
    # a bare-LF blank line inside a CRLF header block still ends it, as before
    assert message_id_of(b"Subject: x\n\nMessage-ID: <late@example.com>\r\n\r\n") is None


def test_raw_record_and_ledger_entry() -> None:
    s = Sighting(mailbox_id="box", folder="INBOX", uidvalidity=9, uid=4)
    raw = b"Subject: x\r\nMessage-ID:\r\n <Abc@Example.COM>\r\n\r\nbody"
    assert message_id_of(raw) == "Abc@example.com" and message_id_of(b"Subject: x\r\n\r\n") is None
    full = Fetched(s, raw, len(raw), datetime(2026, 1, 2, tzinfo=UTC))
    out = raw_record(full)
    assert out.key == b"box:INBOX:9:4" and out.value == raw and ("fetch-outcome", b"headers_only") not in out.headers
    claimed = raw_record(full, "raw/sha256/ab/abc")
    assert claimed.value == b"" and ("claim-check", b"raw/sha256/ab/abc") in claimed.headers
    head = Fetched(s, b"Subject: x\r\n\r\n", 99_000_000, None, "over_size_limit")
    assert ("fetch-reason", b"over_size_limit") in raw_record(head).headers
    assert ledger_entry(head, False).outcome == "headers_only" and ledger_entry(full, True).outcome == "claim_checked"


def test_backoff_and_months() -> None:
    assert [backoff_seconds(n, 30, 600) for n in (1, 2, 3, 6)] == [30, 60, 120, 600]
    assert months_back(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_back(date(2026, 1, 15), 13) == date(2024, 12, 15)


def test_secret_box_seals_rotates_and_names_its_variable() -> None:
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    box = SecretBox(SecretsSettings(keys=SecretStr(k1)))
    token = box.seal(AccountSecrets(password=SecretStr("hunter2")))
    assert b"hunter2" not in token
    assert box.open(token).password.get_secret_value() == "hunter2"  # type: ignore[union-attr]
    both = SecretBox(SecretsSettings(keys=SecretStr(f"{k2},{k1}")))
    rotated = both.rotate(token)
    assert SecretBox(SecretsSettings(keys=SecretStr(k2))).open(rotated).password is not None
    with pytest.raises(ConfigError, match="MAILPIPE_SECRETS__KEYS: no key decrypts"):
        SecretBox(SecretsSettings(keys=SecretStr(k2))).open(token)
    with pytest.raises(ConfigError, match="key 2 is not a Fernet key"):
        SecretBox(SecretsSettings(keys=SecretStr(f"{k1},short")))
    assert "hunter2" not in repr(AccountSecrets(password=SecretStr("hunter2")))


def test_specs_resolve_secrets_from_env_and_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")
    spec = tmp_path / "accounts.yaml"
    spec.write_text(f"""accounts:
  - id: a
    server: imap.example.com
    username: a@example.com
    password_env: A_PW
    folders: [INBOX, {{name: Sent, role: sent}}]
    ca_file: /etc/ssl/ca.pem
  - id: b
    server: pop.example.com
    username: b
    protocol: pop3
    password_file: {secret_file}
""")
    (a, sa), (b, sb) = load_specs(spec, env={"A_PW": "from-env"})
    assert sa["password"].get_secret_value() == "from-env" and sb["password"].get_secret_value() == "from-file"
    assert a.ca_file == "/etc/ssl/ca.pem" and [f.role for f in a.folders] == [None, "sent"]
    with pytest.raises(ConfigError, match=r"accounts\[0\] \(a\)\.password_env: environment variable A_PW"):
        load_specs(spec, env={})
    spec.write_text("accounts:\n  - id: c\n    server: s\n    username: u\n    port: 99999\n    password_env: X\n")
    with pytest.raises(ConfigError, match=r"accounts\[0\] \(c\)\.port"):
        load_specs(spec, env={"X": "1"})
    old = AccountSecrets(password=SecretStr("p"), oauth2_access_token=SecretStr("t"))
    assert same_secrets(old, merge_secrets(old, {})) and not same_secrets(old, merge_secrets(old, {
        "password": SecretStr("q")}))
    assert merge_secrets(old, {"oauth2_refresh_token": SecretStr("r")}).oauth2_access_token is None


class _TokenEndpoint(BaseHTTPRequestHandler):
    calls: list[dict[str, str]] = []
    answer: tuple[int, dict[str, object]] = (200, {})

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        from urllib.parse import parse_qsl

        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).calls.append(dict(parse_qsl(body)))
        status, doc = type(self).answer
        payload = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def test_oauth2_refresh_reuses_valid_tokens_and_names_refusals() -> None:
    server = HTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        account = acc(auth="oauth2", oauth2={"token_url": f"http://127.0.0.1:{server.server_port}/token",
                                             "client_id": "cid"})
        secrets = AccountSecrets(oauth2_refresh_token=SecretStr("rt1"), oauth2_client_secret=SecretStr("cs"))
        _TokenEndpoint.answer = (200, {"access_token": "at1", "expires_in": 3600, "refresh_token": "rt2"})
        token, updated = access_token(account, secrets, timeout=5, now=1000.0)
        assert token == "at1" and updated is not None
        assert _TokenEndpoint.calls[-1] == {"grant_type": "refresh_token", "refresh_token": "rt1",
                                            "client_id": "cid", "client_secret": "cs"}
        assert updated.oauth2_refresh_token.get_secret_value() == "rt2"  # type: ignore[union-attr]
        assert updated.oauth2_expires_at == 4600.0
        calls = len(_TokenEndpoint.calls)
        assert access_token(account, updated, timeout=5, now=2000.0) == ("at1", None)
        assert len(_TokenEndpoint.calls) == calls, "a valid token was refreshed anyway"
        _TokenEndpoint.answer = (400, {"error": "invalid_grant", "error_description": "Token has been revoked"})
        from mailpipe.fetcher.errors import MailboxUnavailable

        with pytest.raises(MailboxUnavailable) as caught:
            access_token(account, updated, timeout=5, now=9000.0)
        assert (caught.value.kind, caught.value.field) == ("auth_failed", "oauth2")
        assert "revoked" in caught.value.cause
    finally:
        server.shutdown()
        server.server_close()


def test_the_mailbox_config_names_each_read_folders_role_for_the_later_stages() -> None:
    imap = Account.model_validate({"id": "a", "server": "imap.example.com", "username": "u",
                                   "folders": [{"name": "INBOX", "role": "inbox"},
                                               {"name": "Sent Items", "role": "sent"}, {"name": "Projects"}]})
    assert imap.mailbox_config().folder_roles == {"INBOX": "inbox", "Sent Items": "sent"}
    pop3 = Account.model_validate({"id": "b", "server": "pop.example.com", "username": "u", "protocol": "pop3"})
    assert pop3.mailbox_config().folder_roles == {"INBOX": "inbox"}
