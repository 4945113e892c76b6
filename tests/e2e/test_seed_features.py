"""Issue 14's seed features through the real pipeline (fetcher, parser, matcher and storage as
processes; Dovecot, Kafka, PostgreSQL, S3), one mailbox per feature and one pipeline start:

- folder roles (003, 004): mail in the account's sent-role folder is outgoing: stored linked to its
  recipients, no case although the mailbox opens cases (its inbox mail does), and its
  ``mail.matched`` record names folder_role "sent";
- the link to CRM switch (004): a mailbox with link_to_crm off stores its mail with no links;
- mailbox access lists (002): ``list_emails`` shows the mailbox's mail to a named user at level
  own, not to another user;
- per-user filters (001): a directory user's filter skips matching mail in the mailbox the user
  owns (not stored) while the same mail in another mailbox is stored;
- lead and opportunity links, followers (001): mail from a directory lead's address that copies an
  opportunity's company is stored linked to both, and ``mail.matched`` names their followers.

The directory records are this test's own (ids and host names carry ``unique``): the shared
``crm.entities`` topic feeds every concurrent test's matcher, and an opportunity of a demo company
would change the links that test_pipeline expects. Every feature is checked even when one fails,
so a run with a feature switched off reports each check that noticed it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from mailpipe.common import admin
from mailpipe.common.messages import MatchedEmail, MatchedEnvelope
from mailpipe.devtools import mailboxes
from mailpipe.devtools.processes import ServiceProcess
from mailpipe.storage.reads import Viewer, list_emails

from tests.conftest import stack_env
from tests.e2e.test_pipeline import services, stored, stored_rows, wait_for  # noqa: F401 (services: a fixture)
from tests.support.harness import KafkaHarness

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3, pytest.mark.imap]


def _mail(unique: str, name: str, sender: str, to: str, subject: str, cc: str = "") -> bytes:
    copy = f"Cc: {cc}\r\n" if cc else ""
    return (f"Message-ID: <{name}-{unique}@mailpipe.test>\r\nFrom: {sender}\r\nTo: {to}\r\n{copy}"
            f"Subject: {subject}\r\nDate: Mon, 5 Oct 2026 10:00:00 +0000\r\n\r\nHello\r\n").encode()


def _directory(unique: str, tmp_path: Path) -> dict[str, str]:
    """Loads this test's lead, opportunity (of its own company), followers and filtering user."""
    ids = {"lead": f"lead-{unique}", "opp": f"opp-{unique}", "company": f"deal-{unique}",
           "lead_follower": f"u-lead-{unique}", "opp_follower": f"u-opp-{unique}", "filterer": f"u-filt-{unique}",
           "lead_host": f"lead-{unique}.example", "deal_host": f"deal-{unique}.example"}
    entities = [
        {"type": "lead", "id": ids["lead"], "emails": [f"prospect@{ids['lead_host']}"],
         "followers": [ids["lead_follower"]]},
        {"type": "company", "id": ids["company"], "name": "Deal Co", "hostnames": [ids["deal_host"]]},
        {"type": "opportunity", "id": ids["opp"], "company_id": ids["company"], "status": "open",
         "followers": [ids["opp_follower"]]},
        {"type": "user", "id": ids["lead_follower"], "emails": [f"lead-follower-{unique}@mailpipe.test"]},
        {"type": "user", "id": ids["opp_follower"], "emails": [f"opp-follower-{unique}@mailpipe.test"]},
        {"type": "user", "id": ids["filterer"], "filters": [
            {"name": "newsletters", "conditions": [{"field": "subject", "op": "contains", "value": "newsletter"}]}]},
    ]
    path = tmp_path / "seed-features.yaml"
    path.write_text(yaml.safe_dump(entities))
    admin.load_directory(path)
    return ids


def _matched(unique: str) -> dict[str, MatchedEmail]:
    """This test's mail.matched records by message id (the last one of each)."""
    records = KafkaHarness(stack_env("MAILPIPE_KAFKA__BOOTSTRAP_SERVERS")).read_all("mail.matched")
    out = {}
    for r in records:
        if r.header("email-id") and unique.encode() in (r.value or b""):
            payload = MatchedEnvelope.model_validate_json(r.value or b"").payload
            out[payload.email.message_id] = payload
    return out


def _settled(dsn: str, box: str, appended: int) -> bool:
    """The matcher decided each of the ``appended`` emails of ``box`` and storage stored each one
    not skipped: what the features decide is not presumed, so a switched-off feature still settles."""
    with psycopg.connect(dsn) as conn:
        decided, imported = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE decision->>'skipped' IS NULL) FROM matcher_decisions "
            "WHERE mailbox_id = %s", (box,)).fetchone()  # type: ignore[misc]
    return bool(decided == appended and stored(dsn, box) == imported)


@pytest.mark.timeout(240)
def test_seed_features_hold_at_every_stage_boundary(
        services: Callable[..., dict[str, ServiceProcess]], pg_dsn: str, unique: str, tmp_path: Path,  # noqa: F811
) -> None:
    ids = _directory(unique, tmp_path)
    user = {k: f"{k}-{unique}@mailpipe.test" for k in ("sent", "nolink", "acl", "filter", "deals")}
    box = {"sent": f"box-{unique}", **{k: f"box-{unique}-{k}" for k in ("nolink", "acl", "filter", "deals")}}
    mid = {k: f"{k}-{unique}@mailpipe.test" for k in ("in", "out", "nolink", "acl", "news", "news2", "plain", "deal")}

    mailboxes.append(user["sent"], [_mail(unique, "in", "alice@acme.example", user["sent"], "question")])
    # Sent as the team's address, not the mailbox's own: read as incoming, this mail would open a case.
    sent = _mail(unique, "out", "Sales <sales@mailpipe.test>", "alice@acme.example", "Re: question")
    mailboxes.append(user["sent"], [sent], folder="Sent")
    mailboxes.append(user["nolink"], [_mail(unique, "nolink", "alice@acme.example", user["nolink"], "hi"),
                                      _mail(unique, "news2", "news@shop.example", user["nolink"], "newsletter")])
    mailboxes.append(user["acl"], [_mail(unique, "acl", "bob@acme.example", user["acl"], "shared")])
    mailboxes.append(user["filter"], [_mail(unique, "news", "news@shop.example", user["filter"], "newsletter"),
                                      _mail(unique, "plain", "news@shop.example", user["filter"], "order")])
    mailboxes.append(user["deals"], [_mail(unique, "deal", f"Pat <prospect@{ids['lead_host']}>", user["deals"],
                                           "pricing", cc=f"buyer@{ids['deal_host']}")])
    accounts: dict[str, dict[str, Any]] = {"nolink": {"options": {"link_to_crm": False}},
                "acl": {"options": {"access_users": [f"reader-{unique}"]}},
                "filter": {"options": {"owner_user": ids["filterer"]}},
                "deals": {}}
    for key, fields in accounts.items():
        mailboxes.save_account(pg_dsn, mailboxes.local_account(user[key], box[key], poll_interval_seconds=5,
                                                               **fields))
    procs = services(user["sent"], {}, options={"processing": {"action": "case"}},
                     folders=[{"name": "INBOX", "role": "inbox"}, {"name": "Sent", "role": "sent"}])
    counts = {"sent": 2, "nolink": 2, "acl": 1, "filter": 2, "deals": 1}
    wait_for(lambda: all(_settled(pg_dsn, box[k], n) for k, n in counts.items()), procs)
    rows = {k: stored_rows(pg_dsn, box[k]) for k in counts}
    matched = _matched(unique)
    links = {m: {(t, i) for t, i, _ in v} for r in rows.values() for m, v in r.items()}
    reasons = {m: {why for _, _, why in v} for r in rows.values() for m, v in r.items()}

    def folder_roles() -> None:
        assert any(t == "case" for t, _ in links[mid["in"]]), "inbox mail of a case mailbox opened no case"
        assert ("person", "p1") in links[mid["out"]], links[mid["out"]]
        assert not any(t == "case" for t, _ in links[mid["out"]]), f"sent mail opened a case: {links[mid['out']]}"
        assert "recipient" in reasons[mid["out"]] and "sender" not in reasons[mid["out"]], reasons[mid["out"]]
        assert matched[mid["out"]].folder_role == "sent", matched[mid["out"]].folder_role
        assert matched[mid["in"]].folder_role == "inbox", matched[mid["in"]].folder_role

    def link_switch() -> None:
        assert rows["nolink"] == {mid["nolink"]: [], mid["news2"]: []}, rows["nolink"]

    def access_lists() -> None:
        with psycopg.connect(pg_dsn) as conn:
            def seen(viewer: str) -> list[str]:
                return [r["message_id"] for r in list_emails(conn, Viewer(viewer, "own"), mailbox=box["acl"])]
            assert seen(f"reader-{unique}") == [mid["acl"]], "a user named in access_users cannot read the mail"
            assert seen(f"other-{unique}") == [], "a user not named in the access lists reads the mail"

    def user_filters() -> None:
        assert set(rows["filter"]) == {mid["plain"]}, f"stored in the filtering user's mailbox: {set(rows['filter'])}"
        assert matched[mid["news"]].skipped == "filter:user:newsletters", matched[mid["news"]].skipped
        assert mid["news2"] in rows["nolink"], "the same newsletter in a mailbox the user does not own was skipped"

    def deals_and_followers() -> None:
        assert {("lead", ids["lead"]), ("opportunity", ids["opp"])} <= links[mid["deal"]], links[mid["deal"]]
        notify = {(n.user_id, n.entity_type, n.entity_id) for n in matched[mid["deal"]].notify}
        assert notify == {(ids["lead_follower"], "lead", ids["lead"]),
                          (ids["opp_follower"], "opportunity", ids["opp"])}, notify

    checks: list[Callable[[], None]] = [folder_roles, link_switch, access_lists, user_filters, deals_and_followers]
    failed = []
    for check in checks:
        try:
            check()
        except (AssertionError, KeyError) as err:
            failed.append(f"{check.__name__}: {err!r}")
    assert not failed, "\n".join(failed)
