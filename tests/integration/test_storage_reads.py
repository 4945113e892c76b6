"""Reads under the access levels of reference 001, against the real PostgreSQL."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
from mailpipe.common.messages import Address, Link, MailboxOptions, MatchedEmail
from mailpipe.storage.reads import Viewer, list_emails
from mailpipe.storage.repository import save_matched

from tests.integration.test_storage_store import T0, parsed


@pytest.mark.postgres
def test_access_levels_own_team_all(pg_dsn: str) -> None:
    boxes = {"alice-box": MailboxOptions(owner_user="alice", team="sales"),
             "support": MailboxOptions(team="support"), "bob-box": MailboxOptions(owner_user="bob", team="sales")}
    company = [Link(entity_type="company", entity_id="42", reason="host")]
    emails = {
        1: ("alice-box", company),  # alice owns the mailbox
        2: ("support", company),    # support team's mailbox; carol is in Cc
        3: ("bob-box", [Link(entity_type="task", entity_id="9", reason="subject_token"),
                        Link(entity_type="person", entity_id="p1", reason="sender")]),  # bob's mailbox, sales
        4: ("support", [*company, Link(entity_type="case", entity_id="c1", reason="case_created")]),  # nobody's
    }
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for n, (box, links) in emails.items():
            email = parsed(n, box, n)
            if n == 2:
                email = email.model_copy(update={"cc": [Address(address="carol@mailpipe.test")]})
            save_matched(conn, MatchedEmail(email=email, links=links), T0, boxes[box])

        def subjects(viewer: Viewer | None, **kw: object) -> list[int]:
            return sorted(int(r["subject"].split()[1]) for r in list_emails(conn, viewer, **kw))  # type: ignore[arg-type]

        assert subjects(None) == [1, 2, 3, 4]
        assert subjects(Viewer("alice", "no")) == []
        assert subjects(Viewer("alice", "own", ("alice@mailpipe.test",))) == [1]
        assert subjects(Viewer("carol", "own", ("Carol@mailpipe.test",))) == [2]
        assert subjects(Viewer("alice", "team", ("alice@mailpipe.test",), ("sales",))) == [1, 3]
        assert subjects(Viewer("carol", "team", ("carol@mailpipe.test",), ("sales",))) == [1, 2, 3]
        assert subjects(Viewer("dave", "all")) == [1, 2, 3, 4]
        # the entity, mailbox and date filters, alone and with a viewer
        assert subjects(None, entity=("company", "42")) == [1, 2, 4]
        assert subjects(None, entity=("person", "p1")) == subjects(None, entity=("task", "9")) == [3]
        assert subjects(None, entity=("case", "c1")) == [4]
        assert subjects(Viewer("alice", "own", ("alice@mailpipe.test",)), entity=("case", "c1")) == []
        assert subjects(Viewer("carol", "own", ("carol@mailpipe.test",)), entity=("company", "42")) == [2]
        assert subjects(None, mailbox="support") == [2, 4]
        assert subjects(None, day=date(2026, 11, 1)) == [1, 2, 3, 4]
        assert subjects(None, day=date(2026, 11, 2)) == []


@pytest.mark.postgres
def test_mailbox_access_lists_let_named_users_and_teams_read_its_mail(pg_dsn: str) -> None:
    """Reference 002 (access management): a mailbox names users and teams who may read its mail.
    At level own or team they see it besides what those levels show; level no still sees nothing.
    The lists are the mailbox's current ones: a sighting seen again (reindex) takes the new lists."""
    shared = MailboxOptions(owner_user="alice", team="sales", access_users=["erin"], access_teams=["legal"])
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        save_matched(conn, MatchedEmail(email=parsed(1, "shared-box", 1)), T0, shared)
        save_matched(conn, MatchedEmail(email=parsed(2, "other-box", 2)), T0, MailboxOptions(owner_user="bob"))

        def subjects(viewer: Viewer) -> list[int]:
            return sorted(int(r["subject"].split()[1]) for r in list_emails(conn, viewer))

        assert subjects(Viewer("erin", "own")) == [1]              # named user
        assert subjects(Viewer("frank", "own", (), ("legal",))) == [1]  # named team, at level own too
        assert subjects(Viewer("frank", "team", (), ("legal",))) == [1]
        assert subjects(Viewer("frank", "own", (), ("ops",))) == []
        assert subjects(Viewer("erin", "no")) == []                # no access level: nothing at all
        assert subjects(Viewer("gina", "own")) == []
        # the mailbox's lists change and the sighting is seen again (`accounts reindex`): erin is out
        save_matched(conn, MatchedEmail(email=parsed(1, "shared-box", 1)), T0,
                     shared.model_copy(update={"access_users": ["gina"]}))
        assert subjects(Viewer("erin", "own")) == []
        assert subjects(Viewer("gina", "own")) == [1]
        assert subjects(Viewer("frank", "own", (), ("legal",))) == [1]
