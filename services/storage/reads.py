"""Reads for CRM backends and operators: emails by linked entity, mailbox and date, as a user sees
them under the access levels of reference 001:
- ``no``: nothing;
- ``own``: the user's address is in From, To or Cc, or the user owns a mailbox that saw the email;
- ``team``: what ``own`` shows, plus every email a mailbox of one of the user's teams saw;
- ``all``: everything.
At ``own`` and ``team`` a user also sees the mail of every mailbox whose access lists name the user
or one of the user's teams (reference 002, access management); ``no`` stays nothing.
The CRM owns users, their addresses, teams and levels; the caller passes them in (``Viewer``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

AccessLevel = Literal["no", "own", "team", "all"]


@dataclass(frozen=True)
class Viewer:
    user_id: str
    level: AccessLevel
    addresses: tuple[str, ...] = ()
    teams: tuple[str, ...] = field(default_factory=tuple)


_OWN = """(EXISTS (SELECT 1 FROM email_participants p WHERE p.email_id = e.email_id
                   AND p.role IN ('from', 'to', 'cc') AND p.address = ANY(%(addresses)s::text[]))
          OR EXISTS (SELECT 1 FROM email_sightings s WHERE s.email_id = e.email_id
                     AND s.owner_user = %(user_id)s))"""
_TEAM = """EXISTS (SELECT 1 FROM email_sightings s WHERE s.email_id = e.email_id AND s.team = ANY(%(teams)s::text[]))"""
_GRANTED = """EXISTS (SELECT 1 FROM email_sightings s WHERE s.email_id = e.email_id
                      AND (%(user_id)s = ANY(s.access_users) OR s.access_teams && %(teams)s::text[]))"""
_LEVELS = {"no": "false", "own": f"({_OWN} OR {_GRANTED})", "team": f"({_OWN} OR {_TEAM} OR {_GRANTED})",
           "all": "true"}


def list_emails(conn: Any, viewer: Viewer | None = None, entity: tuple[str, str] | None = None,
                mailbox: str | None = None, day: date | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Emails newest first (``viewer`` None: an operator, no access check). Blocks on PostgreSQL."""
    where: list[str] = ["true"]
    params: dict[str, Any] = {"limit": limit}
    if viewer is not None:
        params.update(user_id=viewer.user_id, addresses=[a.lower() for a in viewer.addresses],
                      teams=list(viewer.teams))
        where.append(_LEVELS[viewer.level])
    if entity is not None:
        where.append("EXISTS (SELECT 1 FROM email_links l WHERE l.email_id = e.email_id "
                     "AND l.entity_type = %(etype)s AND l.entity_id = %(eid)s)")
        params.update(etype=entity[0], eid=entity[1])
    if mailbox is not None:
        where.append("EXISTS (SELECT 1 FROM email_sightings s WHERE s.email_id = e.email_id "
                     "AND s.mailbox_id = %(mailbox)s)")
        params["mailbox"] = mailbox
    if day is not None:
        start = datetime.combine(day, time(), UTC)
        where.append("e.sent_at >= %(start)s AND e.sent_at < %(end)s")
        params.update(start=start, end=start + timedelta(days=1))
    sql = (f"SELECT e.email_id, e.message_id, e.subject, e.from_address, e.sent_at FROM emails e "
           f"WHERE {' AND '.join(where)} ORDER BY e.sent_at DESC NULLS LAST, e.email_id LIMIT %(limit)s")
    cols = ("email_id", "message_id", "subject", "from_address", "sent_at")
    return [dict(zip(cols, row, strict=True)) for row in conn.execute(sql, params).fetchall()]
