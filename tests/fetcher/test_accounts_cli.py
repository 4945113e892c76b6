"""``mailpipe accounts``: the commands an operator runs, against the real PostgreSQL, Kafka and
Dovecot. Secrets must never show up in the database in clear, in output or on a topic."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from mailpipe.devtools import mailboxes
from mailpipe.fetcher.accounts.secrets import generate_key

from tests.conftest import stack_env
from tests.fetcher.conftest import FetchWorld, message

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.s3, pytest.mark.imap]
PASSWORD = "mailpipe-test"  # the only password the test Dovecot accepts


def imaps_flags(user: str) -> list[str]:
    return ["--server", "localhost", "--port", stack_env("MAILPIPE_STACK_IMAPS_PORT"), "--username", user,
            "--ca-file", stack_env("MAILPIPE_STACK_TLS_CA")]


def test_add_show_list_set_remove_and_the_secret_stays_sealed(world: FetchWorld, run) -> None:  # type: ignore[no-untyped-def]
    box = f"cli-{world.unique}"
    code, out, err = run("accounts", "add", box, *imaps_flags(world.user("cli")), "--password-env", "BOX_PASSWORD",
                         "--owner", "u7", "--team", "t2", "--access-user", "u9", "--access-team", "t5",
                         "--access-team", "t6")
    assert code == 0, err
    assert json.loads(out)["created"] is True
    config, sealed = world.conn.execute("SELECT config::text, secrets FROM mailbox_accounts WHERE mailbox_id = %s",
                                        (box,)).fetchone()
    assert PASSWORD not in config and PASSWORD.encode() not in bytes(sealed)
    code, out, _ = run("accounts", "show", box)
    shown = json.loads(out)
    assert shown["secrets"]["password"] == "set" and PASSWORD not in out
    assert shown["effective_port"] == int(stack_env("MAILPIPE_STACK_IMAPS_PORT"))
    code, out, _ = run("accounts", "list")
    assert box in out and PASSWORD not in out

    code, _, err = run("accounts", "set", box, "--password-env", "WRONG_PASSWORD")
    assert code == 3 and "password: authentication failed" in err
    assert world.scalar("SELECT secrets FROM mailbox_accounts WHERE mailbox_id = %s", box) == sealed, \
        "a failed check must not save"
    code, _, err = run("accounts", "set", box, "--poll-interval", "60")
    assert code == 0, err
    assert world.scalar("SELECT config ->> 'poll_interval_seconds' FROM mailbox_accounts WHERE mailbox_id = %s",
                        box) == "60"

    published = [r for r in world.kafka.read_all("mail.mailboxes") if r.key == box.encode()]
    assert published and all(PASSWORD.encode() not in (r.value or b"") for r in published)
    latest = json.loads(published[-1].value or b"{}")["payload"]
    assert latest["options"]["owner_user"] == "u7" and "server" not in latest and "username" not in latest
    assert latest["options"]["access_users"] == ["u9"] and latest["options"]["access_teams"] == ["t5", "t6"]

    code, out, _ = run("accounts", "remove", box)
    assert code == 0 and json.loads(out)["removed"] is True
    assert world.scalar("SELECT count(*) FROM mailbox_accounts WHERE mailbox_id = %s", box) == 0
    tail = [r for r in world.kafka.read_all("mail.mailboxes") if r.key == box.encode()][-1]
    assert tail.value is None, "a removed mailbox needs a tombstone on the compacted topic"


def test_apply_is_idempotent_and_refuses_secrets_in_the_file(world: FetchWorld, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "accounts.yaml"
    entry = {"id": f"gitops-{world.unique}", "server": "localhost", "port": int(stack_env("MAILPIPE_STACK_IMAPS_PORT")),
             "username": world.user("gitops"), "ca_file": stack_env("MAILPIPE_STACK_TLS_CA"),
             "password_env": "BOX_PASSWORD", "folders": ["INBOX"], "options": {"copy_files": "task"}}
    spec.write_text(json.dumps({"accounts": [entry]}))
    code, out, err = run("accounts", "apply", "-f", str(spec))
    assert code == 0, err
    assert json.loads(out)["created"] == [entry["id"]]
    stamp = world.scalar("SELECT updated_at FROM mailbox_accounts WHERE mailbox_id = %s", entry["id"])
    code, out, _ = run("accounts", "apply", "-f", str(spec))
    assert json.loads(out)["unchanged"] == [entry["id"]]
    assert world.scalar("SELECT updated_at FROM mailbox_accounts WHERE mailbox_id = %s", entry["id"]) == stamp
    spec.write_text(json.dumps({"accounts": [{**entry, "options": {"copy_files": "both"}}]}))
    code, out, _ = run("accounts", "apply", "-f", str(spec))
    assert json.loads(out)["updated"] == [entry["id"]]
    spec.write_text(json.dumps({"accounts": []}))
    code, out, _ = run("accounts", "apply", "-f", str(spec), "--prune")
    assert json.loads(out)["removed"] == [entry["id"]]
    spec.write_text(json.dumps({"accounts": [{**entry, "password": PASSWORD}]}))
    code, _, err = run("accounts", "apply", "-f", str(spec))
    assert code == 2 and "password: secrets may not be written in the file" in err


def test_a_wrong_or_missing_key_is_a_clear_error_at_start(world: FetchWorld, run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run("accounts", "add", f"k-{world.unique}", *imaps_flags(world.user("k")),
                       "--password-env", "BOX_PASSWORD")
    assert code == 0, err
    monkeypatch.setenv("MAILPIPE_SECRETS__KEYS", generate_key())
    code, _, err = run("accounts", "list")
    assert code == 2 and "MAILPIPE_SECRETS__KEYS" in err and "wrong key" in err
    monkeypatch.setenv("MAILPIPE_SECRETS__KEYS", "not-a-key")
    code, _, err = run("accounts", "list")
    assert code == 2 and "MAILPIPE_SECRETS__KEYS: key 1 is not a Fernet key" in err
    # the service itself, as a process, refuses to start with a wrong key
    env = {**world_env(world), "MAILPIPE_SECRETS__KEYS": generate_key()}
    proc = subprocess.run([sys.executable, "-m", "mailpipe", "run", "fetcher"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "MAILPIPE_SECRETS__KEYS" in proc.stderr


def test_rotate_key_reseals_with_the_new_key_and_old_keys_still_open(world: FetchWorld, run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    box = f"rot-{world.unique}"
    assert run("accounts", "add", box, *imaps_flags(world.user("rot")), "--password-env", "BOX_PASSWORD")[0] == 0
    old = stack_env("MAILPIPE_SECRETS__KEYS")
    new = generate_key()
    monkeypatch.setenv("MAILPIPE_SECRETS__KEYS", f"{new},{old}")
    code, out, _ = run("accounts", "rotate-key")
    assert code == 0 and json.loads(out)["resealed"] == 1
    monkeypatch.setenv("MAILPIPE_SECRETS__KEYS", new)
    assert run("accounts", "check", box)[0] == 0, "after rotation the new key alone must open the secrets"


def test_overview_reindex_download_subscribe_and_purge(world: FetchWorld, run) -> None:  # type: ignore[no-untyped-def]
    user, box = world.user("tools"), f"tools-{world.unique}"
    assert run("accounts", "add", box, *imaps_flags(user), "--password-env", "BOX_PASSWORD")[0] == 0
    old_day = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
    with mailboxes.connect(user) as client:
        client.append("INBOX", message(1, world.unique), msg_time=old_day)
        client.append("INBOX", message(2, world.unique))
        client.create_folder("Other")
        client.append("Other", message(3, world.unique))
    assert world.run(box) == "complete"
    with mailboxes.connect(user) as client:  # arrives after the run: on the server, not imported
        client.append("INBOX", message(4, world.unique), msg_time=old_day)

    code, out, _ = run("accounts", "overview", box, "--date", "2024-03-05", "--json")
    rows = {r["uid"]: r["what_happened"] for r in json.loads(out)}
    assert rows[1].startswith("published at") and rows[3] == "not fetched yet" and set(rows) == {1, 3}

    code, out, _ = run("accounts", "reindex", box, "--folder", "INBOX")
    assert code == 0 and json.loads(out)["published"] == 2
    assert len(world.records(box)) == 4

    code, out, _ = run("accounts", "download", box, "Other")
    assert json.loads(out)["published"] == 1
    code, out, _ = run("accounts", "subscribe", box, "Other")
    assert code == 0
    folders = world.scalar("SELECT config -> 'folders' FROM mailbox_accounts WHERE mailbox_id = %s", box)
    assert [(f["name"], f["sync"]) for f in folders] == [("INBOX", True), ("Other", True)]

    # a message that went downstream header-only (over the size limit) is not imported: kept
    outcome = ("UPDATE fetch_ledger SET outcome = %s WHERE mailbox_id = %s AND folder = 'INBOX' AND uid = 1 "
               "RETURNING uid")
    assert world.scalar(outcome, "headers_only", box) == 1
    code, out, _ = run("accounts", "purge-server", box, "--older-than-months", "1", "--yes-delete-from-server")
    report = json.loads(out)["folders"]["INBOX"]
    assert (report["imported"], report["deleted"], report["kept_not_imported"]) == (0, 0, 2)
    assert world.scalar(outcome, "published", box) == 1

    code, out, _ = run("accounts", "purge-server", box, "--older-than-months", "1")
    report = json.loads(out)["folders"]["INBOX"]
    assert (report["older"], report["imported"], report["deleted"], report["kept_not_imported"]) == (2, 1, 0, 1)
    assert mailboxes.count(user) == 3, "a dry run deleted mail"
    code, out, _ = run("accounts", "purge-server", box, "--older-than-months", "1", "--yes-delete-from-server")
    assert json.loads(out)["folders"]["INBOX"]["deleted"] == 1
    with mailboxes.connect(user) as client:
        client.select_folder("INBOX", readonly=True)
        left = client.search(["BEFORE", date(2024, 4, 1)])
    assert left == [3], "purge must delete only imported mail (UID 3 arrived after the run)"


def world_env(world: FetchWorld) -> dict[str, str]:
    import os

    return {**os.environ, "MAILPIPE_POSTGRES__DSN": world.dsn, "MAILPIPE_FETCH__RAW_TOPIC": world.topic}
