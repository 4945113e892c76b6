"""``mailpipe accounts add/set/apply`` refuse a pattern that cannot run, naming the field and the
reason, and save nothing (before, it was saved and silently matched nothing). The model-level
refusals are in tests/unit/test_pattern_refusals.py."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from mailpipe import cli
from mailpipe.fetcher.accounts import store
from mailpipe.fetcher.accounts.model import Account

from tests.unit.test_pattern_refusals import ACCOUNT, LOOKAHEAD, OPTIONS


@pytest.mark.postgres
def test_accounts_cli_refuses_and_saves_nothing(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MAILPIPE_POSTGRES__DSN", pg_dsn)
    monkeypatch.setenv("BOX_PASSWORD", "pw")
    options = tmp_path / "options.yaml"
    options.write_text(json.dumps(OPTIONS))
    spec = tmp_path / "accounts.yaml"
    spec.write_text(json.dumps({"accounts": [{**ACCOUNT, "password_env": "BOX_PASSWORD"}]}))
    flags = ["--server", "imap.example", "--username", "u@example.org", "--password-env", "BOX_PASSWORD",
             "--no-check", "--options-file", str(options)]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for argv in (["accounts", "add", "box", *flags], ["accounts", "apply", "-f", str(spec), "--no-check"]):
            assert cli.main(argv) == 2
            err = capsys.readouterr().err
            assert "options.filters.0.conditions.1.value: Value error, " in err and LOOKAHEAD in err, err
            assert "options.exclude_filters.1: Value error, " in err
            assert conn.execute("SELECT count(*) FROM mailbox_accounts").fetchone() == (0,)
        # an account saved without those options: `set` refuses them and leaves it as it was
        store.save(conn, Account.model_validate({**ACCOUNT, "options": {}}), b"sealed")
        assert cli.main(["accounts", "set", "box", "--no-check", "--options-file", str(options)]) == 2
        assert "options.autoresponse_rules.0.conditions.0.value" in capsys.readouterr().err
        assert conn.execute("SELECT config -> 'options' -> 'filters' FROM mailbox_accounts").fetchone() == ([],)
