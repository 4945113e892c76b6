"""The tools that change the server (issue 14): ``accounts expunge`` (reference 004, Purge Delete
Folder), purge-server and overview on POP3 accounts (reference 000), and ``unsubscribe``; each
through the CLI against the real Dovecot."""

from __future__ import annotations

import json

import pytest
from imapclient import DELETED, SEEN
from mailpipe.devtools import mailboxes
from mailpipe.fetcher import leases

from tests.conftest import stack_env
from tests.fetcher.conftest import FetchWorld, message

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.s3, pytest.mark.imap]


def test_expunge_removes_only_flagged_mail_after_a_dry_run_and_writes_nothing_else(world: FetchWorld, run) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    user, box = world.user("expunge"), f"expunge-{world.unique}"
    world.add(mailboxes.local_account(user, box))
    mailboxes.append(user, [message(n, world.unique) for n in range(1, 5)])
    with mailboxes.connect(user) as client:
        client.select_folder("INBOX")
        client.add_flags([2, 3], [DELETED])

    code, out, _ = run("accounts", "expunge", box, "--folder", "INBOX")
    report = json.loads(out)
    assert code == 0 and report["dry_run"] is True and report["flagged_deleted"] == 2
    assert [(m["uid"], m["message_id"]) for m in report["messages"]] == [
        (2, f"m2-{world.unique}@mailpipe.test"), (3, f"m3-{world.unique}@mailpipe.test")]  # as the ledger keeps them
    assert report["bytes"] == sum(m["size"] for m in report["messages"]) > 0
    assert mailboxes.count(user) == 4, "a dry run expunged mail"

    code, out, _ = run("accounts", "expunge", box, "--folder", "INBOX", "--yes-delete-from-server")
    report = json.loads(out)
    assert code == 0 and (report["dry_run"], report["expunged"], report["uid_expunge"]) == (False, 2, True)
    with mailboxes.connect(user) as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search(["ALL"]))
    assert sorted(flags) == [1, 4], "only the messages flagged \\Deleted go"
    assert not any(SEEN in f or DELETED in f for f in flags.values()), "expunge set a flag on the others"
    # nothing written besides the expunge: no read state, only the tool's own runs (it held the lease)
    assert world.scalar("SELECT count(*) FROM fetch_ledger WHERE mailbox_id = %s", box) == 0
    assert world.scalar("SELECT count(*) FROM fetch_cursors WHERE mailbox_id = %s", box) == 0
    runs = world.conn.execute("SELECT outcome FROM fetch_runs WHERE mailbox_id = %s", (box,)).fetchall()
    assert [r[0] for r in runs] == ["expunge", "expunge"]


def test_expunge_waits_for_the_lease_and_touches_nothing_without_it(world: FetchWorld, run) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    user, box = world.user("expbusy"), f"expbusy-{world.unique}"
    world.add(mailboxes.local_account(user, box))
    mailboxes.append(user, [message(1, world.unique)])
    with mailboxes.connect(user) as client:
        client.select_folder("INBOX")
        client.add_flags([1], [DELETED])
    assert leases.claim_one(world.conn, "ghost-replica", box, 300) is not None
    code, _, err = run("accounts", "expunge", box, "--folder", "INBOX", "--yes-delete-from-server",
                       "--wait-seconds", "0.5")
    assert code != 0 and "ghost-replica" in err
    assert mailboxes.count(user) == 1, "expunged without the mailbox's lease"


def dated(n: int, tag: str, date_header: str) -> bytes:
    return message(n, tag).replace(b"Date: Mon, 5 Oct 2026 10:00:00 +0000", f"Date: {date_header}".encode())


def test_pop3_overview_and_purge_server_delete_only_imported_old_mail_by_uidl(world: FetchWorld, run) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    user, box = world.user("popold"), f"popold-{world.unique}"
    world.add(mailboxes.local_account(user, box, protocol="pop3", port=int(stack_env("MAILPIPE_STACK_POP3S_PORT"))))
    old = "Tue, 5 Mar 2024 23:30:00 -0500"  # the day as written: 5 March (4 a.m. on the 6th in UTC)
    mailboxes.append(user, [dated(1, world.unique, old), dated(2, world.unique, old), message(3, world.unique)])
    assert world.run(box) == "complete"
    mailboxes.append(user, [dated(4, world.unique, old)])  # after the run: on the server, not imported

    code, out, _ = run("accounts", "overview", box, "--date", "2024-03-05", "--json")
    assert code == 0
    rows = {r["subject"].split()[1]: r for r in json.loads(out)}
    assert set(rows) == {"1", "2", "4"}
    assert rows["1"]["fetched"] == "published" and rows["4"]["fate"] == "not_fetched"
    assert "password" not in out.lower()

    # a year back from the real today (the fetched message 3 is dated October 2026: kept)
    code, out, _ = run("accounts", "purge-server", box, "--older-than-months", "12")
    report = json.loads(out)["folders"]["INBOX"]
    assert code == 0 and (report["older"], report["imported"], report["deleted"], report["kept_not_imported"]) == (
        3, 2, 0, 1)
    assert len(report["uidls"]) == 2
    assert mailboxes.count(user) == 4, "a dry run deleted mail"

    code, out, _ = run("accounts", "purge-server", box, "--older-than-months", "12", "--yes-delete-from-server")
    assert json.loads(out)["folders"]["INBOX"]["deleted"] == 2
    with mailboxes.connect(user) as client:
        client.select_folder("INBOX", readonly=True)
        left = client.fetch(client.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    subjects = sorted(v[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split()[2] for v in left.values())
    assert subjects == ["3", "4"], "POP3 purge must DELE only old, imported mail"


def test_unsubscribe_stops_reading_a_folder_and_keeps_its_read_state(world: FetchWorld, run) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    user, box = world.user("unsub"), f"unsub-{world.unique}"
    world.add(mailboxes.local_account(user, box, folders=[{"name": "INBOX"}, {"name": "Other"}]))
    with mailboxes.connect(user) as client:
        client.create_folder("Other")
    mailboxes.append(user, [message(1, world.unique)], folder="Other")
    assert world.run(box) == "complete"
    assert len(world.records(box)) == 1

    code, out, _ = run("accounts", "unsubscribe", box, "Other")
    assert code == 0 and json.loads(out) == {"account": box, "folder": "Other", "subscribed": False}
    folders = world.scalar("SELECT config -> 'folders' FROM mailbox_accounts WHERE mailbox_id = %s", box)
    assert [(f["name"], f.get("sync", True)) for f in folders] == [("INBOX", True), ("Other", False)]
    mailboxes.append(user, [message(2, world.unique)], folder="Other")
    mailboxes.append(user, [message(3, world.unique)])
    assert world.run(box) == "complete"
    assert sorted(s.folder for s in world.sightings(box)) == ["INBOX", "Other"], "an unsubscribed folder was read"
    assert world.scalar("SELECT count(*) FROM fetch_cursors WHERE mailbox_id = %s AND folder = 'Other'", box) == 1


@pytest.mark.parametrize("uidplus", [True, False], ids=["uid-expunge", "plain-expunge"])
def test_expunge_leaves_mail_flagged_after_its_search_only_with_uidplus(  # type: ignore[no-untyped-def]
        world: FetchWorld, run, monkeypatch: pytest.MonkeyPatch, uidplus: bool) -> None:  # noqa: F811
    """Another client flags UID 3 between the tool's search and its expunge (the real Dovecot; only
    the capability the tool sees is narrowed for the plain-EXPUNGE case)."""
    from imapclient import IMAPClient
    from mailpipe.fetcher import expunge

    user, box = world.user(f"exprace{int(uidplus)}"), f"exprace{int(uidplus)}-{world.unique}"
    world.add(mailboxes.local_account(user, box))
    mailboxes.append(user, [message(n, world.unique) for n in range(1, 4)])
    with mailboxes.connect(user) as client:
        client.select_folder("INBOX")
        client.add_flags([1], [DELETED])
    searched = expunge.flagged

    def flagged_then_someone_flags(src):  # type: ignore[no-untyped-def]
        found = searched(src)  # only the acting run is invoked here: no dry run searches first
        with mailboxes.connect(user) as other:
            other.select_folder("INBOX")
            other.add_flags([3], [DELETED])
        return found

    monkeypatch.setattr(expunge, "flagged", flagged_then_someone_flags)
    if not uidplus:
        real = IMAPClient.has_capability
        monkeypatch.setattr(IMAPClient, "has_capability", lambda self, c: c != "UIDPLUS" and real(self, c))
    code, out, _ = run("accounts", "expunge", box, "--folder", "INBOX", "--yes-delete-from-server")
    report = json.loads(out)
    assert code == 0 and [m["uid"] for m in report["messages"]] == [1]
    assert (report["expunged"], report["uid_expunge"]) == ((1, True) if uidplus else (2, False))
    with mailboxes.connect(user) as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search(["ALL"]) == ([2, 3] if uidplus else [2])
