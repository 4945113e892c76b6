"""Reading mailboxes against the real Dovecot: cursors, the size gate, UIDVALIDITY changes,
renamed folders, POP3, a connection cut mid-FETCH, and the ledger."""

from __future__ import annotations

import pytest
from mailpipe.common.objects import get_content
from mailpipe.devtools import mailboxes
from mailpipe.fetcher import checkpoint

from tests.conftest import stack_env
from tests.fetcher.conftest import FetchWorld, message
from tests.support.tcp_proxy import CuttingProxy

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.s3, pytest.mark.imap]


def test_incremental_reads_only_new_mail_and_never_sets_seen(world: FetchWorld) -> None:
    user = world.user("inc")
    acc = world.add(mailboxes.local_account(user, f"inc-{world.unique}"))
    mailboxes.append(user, [message(i, world.unique) for i in range(6)])
    assert world.run(acc.id) == "complete"
    assert sorted(s.uid for s in world.sightings(acc.id)) == [1, 2, 3, 4, 5, 6]
    assert world.run(acc.id) == "complete"
    assert len(world.records(acc.id)) == 6, "a run with nothing new published something"
    mailboxes.append(user, [message(i, world.unique) for i in (6, 7)])
    world.run(acc.id)
    assert sorted(s.uid for s in world.sightings(acc.id)) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert world.scalar("SELECT count(*) FROM fetch_ledger WHERE mailbox_id = %s AND outcome = 'published'",
                        acc.id) == 8
    assert world.scalar("SELECT last_uid FROM fetch_cursors WHERE mailbox_id = %s", acc.id) == 8
    assert world.scalar("SELECT message_id FROM fetch_ledger WHERE mailbox_id = %s AND uid = 1",
                        acc.id) == f"m0-{world.unique}@mailpipe.test"
    with mailboxes.connect(user) as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    assert all(b"\\Seen" not in f for f in flags.values()), "fetching marked mail as read"


def test_over_the_size_limit_is_published_header_only_and_the_mailbox_moves_on(world: FetchWorld) -> None:
    user = world.user("big")
    acc = world.add(mailboxes.local_account(user, f"big-{world.unique}"))
    huge = message(1, world.unique, body="x" * 300_000)  # the world's limit is 200,000 bytes
    mid = message(2, world.unique, body="y" * 150_000)  # over the 100,000-byte claim-check threshold
    mailboxes.append(user, [message(0, world.unique), huge, mid, message(3, world.unique)])
    world.run(acc.id)
    by_uid = {int(r.header("uid") or 0): r for r in world.records(acc.id)}
    assert sorted(by_uid) == [1, 2, 3, 4]
    header_only = by_uid[2]
    assert header_only.header("fetch-outcome") == b"headers_only"
    assert header_only.header("fetch-reason") == b"over_size_limit"
    assert int(header_only.header("size") or 0) >= 300_000
    assert header_only.value is not None and header_only.value.startswith(b"Message-ID:")
    assert b"xxxx" not in header_only.value and len(header_only.value) < 2_000
    claimed = by_uid[3]
    assert claimed.value == b"" and claimed.header("claim-check")
    assert get_content(world.replica.publisher.s3, stack_env("MAILPIPE_S3__BUCKET"),
                       (claimed.header("claim-check") or b"").decode()).replace(b"\r\n", b"\n") \
        == mid.replace(b"\r\n", b"\n")
    outcomes = dict(world.conn.execute("SELECT uid, outcome FROM fetch_ledger WHERE mailbox_id = %s",
                                       (acc.id,)).fetchall())
    assert outcomes == {1: "published", 2: "headers_only", 3: "claim_checked", 4: "published"}


def test_uidvalidity_change_rereads_the_date_window_under_the_new_validity(world: FetchWorld) -> None:
    user = world.user("uv")
    acc = world.add(mailboxes.local_account(user, f"uv-{world.unique}", folders=[{"name": "Projects"}]))
    mailboxes.append(user, [message(i, world.unique) for i in range(3)], folder="Projects")
    world.run(acc.id)
    old = world.scalar("SELECT uidvalidity FROM fetch_cursors WHERE mailbox_id = %s", acc.id)
    with mailboxes.connect(user) as client:  # the server loses the folder's identity
        client.delete_folder("Projects")
    mailboxes.append(user, [message(i, world.unique) for i in range(4)], folder="Projects")
    world.run(acc.id)
    new = world.scalar("SELECT uidvalidity FROM fetch_cursors WHERE mailbox_id = %s", acc.id)
    assert new != old
    seen = world.sightings(acc.id)
    assert sorted(s.uid for s in seen if s.uidvalidity == old) == [1, 2, 3]
    assert sorted(s.uid for s in seen if s.uidvalidity == new) == [1, 2, 3, 4], "the date window was not read again"
    world.run(acc.id)
    assert len(world.records(acc.id)) == 7, "the resync did not leave a cursor behind"


def test_a_renamed_folder_is_followed_by_its_uidvalidity(world: FetchWorld) -> None:
    user = world.user("ren")
    acc = world.add(mailboxes.local_account(user, f"ren-{world.unique}", folders=[{"name": "Archive"}]))
    mailboxes.append(user, [message(i, world.unique) for i in range(2)], folder="Archive")
    world.run(acc.id)
    with mailboxes.connect(user) as client:
        client.rename_folder("Archive", "Archive-2026")
    mailboxes.append(user, [message(9, world.unique)], folder="Archive-2026")
    assert world.run(acc.id) == "complete"
    seen = world.sightings(acc.id)
    assert sorted((s.folder, s.uid) for s in seen) == [("Archive", 1), ("Archive", 2), ("Archive-2026", 3)]
    folders = world.scalar("SELECT config -> 'folders' FROM mailbox_accounts WHERE mailbox_id = %s", acc.id)
    assert [f["name"] for f in folders] == ["Archive-2026"]


def test_pop3_reads_each_uidl_once_and_leaves_mail_on_the_server(world: FetchWorld) -> None:
    user = world.user("pop")
    acc = world.add(mailboxes.local_account(user, f"pop-{world.unique}", protocol="pop3",
                                            port=int(stack_env("MAILPIPE_STACK_POP3S_PORT"))))
    mailboxes.append(user, [message(i, world.unique) for i in range(5)])
    assert world.run(acc.id) == "complete"
    assert len(world.records(acc.id)) == 5
    world.run(acc.id)
    assert len(world.records(acc.id)) == 5, "POP3 published a UIDL twice"
    mailboxes.append(user, [message(5, world.unique)])
    world.run(acc.id)
    records = world.records(acc.id)
    assert len(records) == 6 and len({r.header("uid") for r in records}) == 6
    assert mailboxes.count(user) == 6, "POP3 deleted mail from the server"
    assert world.scalar("SELECT count(*) FROM pop3_uidls WHERE mailbox_id = %s", acc.id) == 6


def test_connection_cut_mid_fetch_resumes_without_losing_or_skipping(world: FetchWorld) -> None:
    user = world.user("cut")
    total = 20
    mailboxes.append(user, [message(i, world.unique, body="z" * 20_000) for i in range(total)])
    proxy = CuttingProxy(("127.0.0.1", int(stack_env("MAILPIPE_STACK_IMAP_PORT"))), cut_after_bytes=150_000)
    try:
        acc = world.add(mailboxes.local_account(user, f"cut-{world.unique}", server="127.0.0.1", port=proxy.port,
                                                security="none"))
        first = world.run(acc.id)
        assert proxy.cuts == 1 and first == "error:connection_lost"
        failures, kind = world.conn.execute("SELECT failures, last_error_kind FROM mailbox_schedule "
                                            "WHERE mailbox_id = %s", (acc.id,)).fetchone()
        assert (failures, kind) == (1, "connection_lost")
        partial = len(world.records(acc.id))
        assert 0 < partial < total, "the cut did not land mid-mailbox"
        assert checkpoint.unfetched_total(world.conn) == total - partial  # what the gauge reports
        assert world.run(acc.id) == "complete"
        assert checkpoint.unfetched_total(world.conn) == 0
    finally:
        proxy.close()
    uids = [s.uid for s in world.sightings(acc.id)]
    assert sorted(set(uids)) == list(range(1, total + 1)), "a message was lost or skipped"
    assert len(uids) == total, "a message was published twice"


def test_reload_reads_everything_again_under_the_same_sighting_keys(world: FetchWorld) -> None:
    from mailpipe.fetcher.checkpoint import forget

    user = world.user("rel")
    acc = world.add(mailboxes.local_account(user, f"rel-{world.unique}"))
    mailboxes.append(user, [message(i, world.unique) for i in range(3)])
    world.run(acc.id)
    forget(world.conn, acc.id)
    assert checkpoint.load_cursor(world.conn, acc.id, "INBOX") is None
    world.run(acc.id)
    keys = [r.key for r in world.records(acc.id)]
    assert len(keys) == 6 and len(set(keys)) == 3, "a reload must repeat the same keys (email_id dedupes them)"


def test_a_message_the_server_cannot_deliver_is_dead_lettered_and_the_mailbox_moves_on(
        world: FetchWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import os
    from pathlib import Path

    from mailpipe import cli

    user = world.user("bad")
    acc = world.add(mailboxes.local_account(user, f"bad-{world.unique}"))
    mailboxes.append(user, [message(i, world.unique) for i in range(5)])
    maildir = Path(stack_env("MAILPIPE_STACK_MAIL_ROOT")) / user / "Maildir"
    files = sorted((maildir / "new").glob("*")) + sorted((maildir / "cur").glob("*"))
    damaged = files[2]
    damaged.chmod(0)  # Dovecot (uid 5000) can no longer read the third message: FETCH fails, BYE
    try:
        assert world.run(acc.id) == "complete"
        assert sorted(s.uid for s in world.sightings(acc.id)) == [1, 2, 4, 5]
        dead = [r for r in world.kafka.read_all(f"{world.topic}.dlq") if r.header("mailbox") == acc.id.encode()]
        assert [(r.header("uid"), r.header("dlq-reason"), r.header("dlq-stage")) for r in dead] == [
            (b"3", b"fetch_failed", b"fetcher")]
        assert b"FETCH" in (dead[0].header("dlq-error") or b"")
        assert world.scalar("SELECT outcome FROM fetch_ledger WHERE mailbox_id = %s AND uid = 3", acc.id) == "failed"
        assert world.scalar("SELECT last_uid FROM fetch_cursors WHERE mailbox_id = %s", acc.id) == 5
    finally:
        os.chmod(damaged, 0o600)
    # the operator repaired the file: replay the dead letter
    monkeypatch.setenv("MAILPIPE_POSTGRES__DSN", world.dsn)
    monkeypatch.setenv("MAILPIPE_FETCH__RAW_TOPIC", world.topic)
    assert cli.main(["accounts", "reindex", acc.id, "--uid", "3"]) == 0, capsys.readouterr().err
    assert sorted(s.uid for s in world.sightings(acc.id)) == [1, 2, 3, 4, 5]
    assert world.scalar("SELECT outcome FROM fetch_ledger WHERE mailbox_id = %s AND uid = 3", acc.id) == "published"


def test_junk_and_trash_are_read_only_when_the_account_lists_them(world: FetchWorld) -> None:
    """References 003/004: Junk and Trash are not imported unless selected. An account reads the
    folders it lists (INBOX by default), whatever else the server holds."""
    user = world.user("roles")
    plain = world.add(mailboxes.local_account(user, f"roles-{world.unique}"))
    mailboxes.append(user, [message(0, world.unique)])
    mailboxes.append(user, [message(1, world.unique)], folder="Junk")
    mailboxes.append(user, [message(2, world.unique)], folder="Trash")
    world.run(plain.id)
    assert sorted(s.folder for s in world.sightings(plain.id)) == ["INBOX"]
    chosen = world.add(mailboxes.local_account(user, f"roles-junk-{world.unique}", folders=[
        {"name": "INBOX", "role": "inbox"}, {"name": "Junk", "role": "junk"}]))
    world.run(chosen.id)
    assert sorted(s.folder for s in world.sightings(chosen.id)) == ["INBOX", "Junk"]
    assert chosen.mailbox_config().folder_roles == {"INBOX": "inbox", "Junk": "junk"}
