"""XOAUTH2 end to end: the fetcher refreshes the access token at the provider's token endpoint,
logs in to Dovecot with it (Dovecot asks our introspection endpoint whether it is valid), reads
the mailbox, and stores the refreshed token sealed. A revoked grant is named on the oauth2 field."""

from __future__ import annotations

import pytest
from mailpipe.devtools import mailboxes
from mailpipe.fetcher.accounts import store
from mailpipe.fetcher.accounts.check import check_account
from mailpipe.fetcher.accounts.model import AccountSecrets
from mailpipe.fetcher.errors import MailboxUnavailable
from pydantic import SecretStr

from tests.conftest import stack_env
from tests.fetcher.conftest import FetchWorld, message
from tests.support.oauth_provider import Provider

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.s3, pytest.mark.imap]


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_xoauth2_refresh_login_and_fetch(world: FetchWorld, oauth_provider: str, protocol: str) -> None:
    user, box = world.user(f"oauth-{protocol}"), f"oauth-{protocol}-{world.unique}"
    Provider.refresh_tokens[f"rt-{box}"] = user
    port = stack_env("MAILPIPE_STACK_IMAPS_PORT" if protocol == "imap" else "MAILPIPE_STACK_POP3S_PORT")
    account = mailboxes.local_account(user, box, protocol=protocol, port=int(port), auth="oauth2",
                                      oauth2={"token_url": oauth_provider, "client_id": "mailpipe-test-client"})
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


def test_the_save_check_logs_in_to_the_outgoing_server_with_the_same_token(world: FetchWorld,
                                                                          oauth_provider: str) -> None:
    """`mailpipe accounts add` with smtp.auth oauth2: the IMAP check's fresh access token also
    passes AUTH XOAUTH2 on the stack's Postfix (which asks Dovecot, which asks the provider)."""
    from tests.integration.test_sender import smtp_settings

    user, box = world.user("oauth-smtp"), f"oauth-smtp-{world.unique}"
    Provider.refresh_tokens[f"rt-{box}"] = user
    account = mailboxes.local_account(user, box, auth="oauth2", smtp=smtp_settings(auth="oauth2"),
                                      oauth2={"token_url": oauth_provider, "client_id": "mailpipe-test-client"})
    report = check_account(account, AccountSecrets(oauth2_refresh_token=SecretStr(f"rt-{box}")), timeout=10)
    assert report.secrets.oauth2_access_token is not None
    wrong = account.model_copy(update={"smtp": account.smtp.model_copy(update={"username": "someone-else"})})  # type: ignore[union-attr]
    with pytest.raises(MailboxUnavailable) as caught:  # Dovecot: the token is not someone-else's
        check_account(wrong, AccountSecrets(oauth2_refresh_token=SecretStr(f"rt-{box}")), timeout=10)
    assert caught.value.field == "oauth2"
