"""A mailbox's outgoing server set with ``mailpipe accounts`` (issue 15) and checked before it is
saved, like IMAP: EHLO, STARTTLS and AUTH against the real Postfix; a failure names the ``smtp.*``
field and nothing is saved. At most one account is the default outbound account."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import stack_env
from tests.fetcher.conftest import FetchWorld
from tests.fetcher.test_accounts_cli import imaps_flags

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.s3, pytest.mark.imap]


def smtp_flags(*extra: str) -> list[str]:
    return ["--smtp-host", "localhost", "--smtp-port", stack_env("MAILPIPE_STACK_SUBMISSION_PORT"), *extra]


def add(run, world: FetchWorld, box: str, *flags: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    return run("accounts", "add", box, *imaps_flags(world.user(box)), "--password-env", "BOX_PASSWORD",
               "--folders", "INBOX", *flags)  # type: ignore[no-any-return]


def test_an_outgoing_server_is_checked_and_saved_with_the_account(world: FetchWorld, run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = add(run, world, f"out-{world.unique}",
                         *smtp_flags("--smtp-ca-file", stack_env("MAILPIPE_STACK_TLS_CA")))
    assert code == 0, err
    code, out, _ = run("accounts", "show", f"out-{world.unique}")
    shown = json.loads(out)
    assert shown["smtp"]["host"] == "localhost" and shown["smtp"]["security"] == "starttls"
    assert shown["secrets"]["smtp_password"] == "not set"  # the mailbox password logs in to both


@pytest.mark.parametrize(("flags", "field", "words"), [
    (["--smtp-password-env", "WRONG_PASSWORD"], "smtp.password", "535"),
    (["--smtp-security", "tls"], "smtp.security", "TLS handshake failed"),  # the submission port is not implicit TLS
    ([], "smtp.ca_file", "certificate not trusted"),  # the stack's certificate without its CA
])
def test_a_refused_outgoing_server_names_the_field_and_nothing_is_saved(  # type: ignore[no-untyped-def]
        world: FetchWorld, run, flags: list[str], field: str, words: str) -> None:
    ca = [] if field == "smtp.ca_file" else ["--smtp-ca-file", stack_env("MAILPIPE_STACK_TLS_CA")]
    box = f"bad-{world.unique}"
    code, _, err = add(run, world, box, *smtp_flags(*ca, *flags))
    assert code == 3 and f"check failed: {field}: " in err and words in err, err
    assert "not-the-password" not in err
    assert run("accounts", "show", box)[0] == 1  # not saved


def test_one_default_outbound_account(world: FetchWorld, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    default = tmp_path / "default.yaml"
    default.write_text("default_account: true\n")
    ca = ["--smtp-ca-file", stack_env("MAILPIPE_STACK_TLS_CA")]
    first, second = f"main-{world.unique}", f"other-{world.unique}"
    assert add(run, world, first, *smtp_flags(*ca), "--sending-file", str(default))[0] == 0
    code, _, err = add(run, world, second, *smtp_flags(*ca), "--sending-file", str(default))
    assert code == 2 and f"sending.default_account: {first} is the default outbound account already" in err
    code, _, err = add(run, world, second, "--use-default-outbound")  # no server of its own: the default's
    assert code == 0, err
    assert json.loads(run("accounts", "show", second)[1])["sending"]["use_default_account"] is True
