"""The connection check of ``accounts add``/``set``: every way to reach Dovecot works, every way
to fail is named with the field to fix."""

from __future__ import annotations

import socket

import pytest
from mailpipe.fetcher.accounts.check import check_account
from mailpipe.fetcher.accounts.model import Account, AccountSecrets
from mailpipe.fetcher.errors import MailboxUnavailable
from pydantic import SecretStr

from tests.conftest import stack_env
from tests.support.tcp_proxy import SilentServer

pytestmark = pytest.mark.imap


def account(port_var: str | None, **fields: object) -> Account:
    base: dict[str, object] = dict(id="check", server="localhost", username="check@mailpipe.test",
                                   ca_file=stack_env("MAILPIPE_STACK_TLS_CA"))
    if port_var:
        base["port"] = int(stack_env(f"MAILPIPE_STACK_{port_var}_PORT"))
    return Account.model_validate({**base, **fields})


GOOD = AccountSecrets(password=SecretStr("mailpipe-test"))


@pytest.mark.parametrize("port_var, fields", [
    ("IMAP", {"security": "none"}),
    ("IMAP", {"security": "starttls"}),
    ("IMAPS", {"security": "tls"}),
    ("POP3", {"protocol": "pop3", "security": "none"}),
    ("POP3", {"protocol": "pop3", "security": "starttls"}),
    ("POP3S", {"protocol": "pop3", "security": "tls"}),
], ids=["imap", "imap-starttls", "imaps", "pop3", "pop3-starttls", "pop3s"])
def test_every_way_in_logs_in_and_lists_folders(port_var: str, fields: dict[str, object]) -> None:
    report = check_account(account(port_var, **fields), GOOD, timeout=10)
    assert "INBOX" in [f.name for f in report.folders]
    assert report.roles()["INBOX"] == "inbox"


def failure(acc: Account, secrets: AccountSecrets = GOOD, timeout: float = 10) -> MailboxUnavailable:
    with pytest.raises(MailboxUnavailable) as caught:
        check_account(acc, secrets, timeout=timeout)
    return caught.value


def test_host_unknown() -> None:
    f = failure(account(None, server="no-such-host.invalid"))
    assert (f.kind, f.field) == ("host_unknown", "server") and "no-such-host.invalid" in f.cause


def test_connection_refused() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # a port that is ours but not listening
        port = unused.getsockname()[1]
        f = failure(account(None, server="127.0.0.1", port=port, security="none"))
    assert (f.kind, f.field) == ("connection_refused", "port")


def test_tls_to_a_plain_text_port() -> None:
    f = failure(account("IMAP", security="tls"))
    assert (f.kind, f.field) == ("tls_handshake", "security") and "does not speak TLS" in f.cause


def test_certificate_not_trusted_without_the_ca() -> None:
    f = failure(account("IMAPS", ca_file=None))
    assert (f.kind, f.field) == ("certificate_untrusted", "ca_file") and "self-signed" in f.cause


def test_certificate_for_another_name() -> None:
    alias = _alias_of_loopback()
    f = failure(account("IMAPS", server=alias))
    assert (f.kind, f.field) == ("certificate_untrusted", "server") and "hostname" in f.cause.lower()


def test_authentication_failed() -> None:
    f = failure(account("IMAPS"), AccountSecrets(password=SecretStr("wrong")))
    assert (f.kind, f.field) == ("auth_failed", "password") and "Authentication failed" in f.cause
    f = failure(account("POP3S", protocol="pop3"), AccountSecrets(password=SecretStr("wrong")))
    assert (f.kind, f.field) == ("auth_failed", "password")


@pytest.mark.parametrize("port_var, fields, spoken", [
    ("POP3", {"security": "none"}, "POP3"),
    ("IMAP", {"protocol": "pop3", "security": "none"}, "IMAP"),
])
def test_server_speaks_another_protocol(port_var: str, fields: dict[str, object], spoken: str) -> None:
    f = failure(account(port_var, **fields))
    assert (f.kind, f.field) == ("wrong_protocol", "protocol") and f"speaks {spoken}" in f.cause


def test_silent_server_times_out() -> None:
    silent = SilentServer()
    try:
        f = failure(account(None, server="127.0.0.1", port=silent.port, security="none"), timeout=1)
    finally:
        silent.close()
    assert (f.kind, f.field) == ("timeout", "server") and "expect TLS" in f.cause


def test_missing_password_is_named() -> None:
    f = failure(account("IMAPS"), AccountSecrets())
    assert (f.kind, f.field) == ("auth_failed", "password")


def _alias_of_loopback() -> str:
    """A name that resolves to 127.0.0.1 but is not in the stack's certificate (which names only
    localhost and 127.0.0.1): the machine's host name on these machines."""
    for name in (socket.gethostname(), "localhost.localdomain", "ip6-localhost"):
        try:
            if name != "localhost" and socket.gethostbyname(name) == "127.0.0.1":
                return name
        except OSError:
            continue
    raise AssertionError("no alias of 127.0.0.1 on this machine to test a certificate name mismatch with")
