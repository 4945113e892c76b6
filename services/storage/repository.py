"""SQL for the email store. Every statement is an upsert keyed by deterministic ids, and every
value comes from the record (no ``now()``), so a replay from offset zero leaves the same rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..common.messages import Address, MailboxOptions, MatchedEmail
from .files import PlannedCopy, planned_copies

PARTICIPANT_ROLES = ("from", "to", "cc", "bcc", "sender", "reply_to", "delivered_to")


@dataclass(frozen=True)
class SaveResult:
    """What one save did: whether the email row is new, and the copies to make in S3."""

    new_email: bool
    copies: list[PlannedCopy]


def _addresses(group: list[Address]) -> str:
    return json.dumps([{"name": a.name, "address": a.address} for a in group], ensure_ascii=False)


def save_matched(conn: Any, matched: MatchedEmail, seen_at: datetime | None = None,
                 options: MailboxOptions | None = None) -> SaveResult:
    """Upsert the email, its sighting (with the mailbox owner and team from ``options``),
    participants, attachments, links and file copies in one transaction. ``seen_at`` is the
    ``mail.matched`` envelope's time (the same on every replay). Blocks on the database; raises
    psycopg errors (OperationalError is transient)."""
    e = matched.email
    first = e.from_[0] if e.from_ else None
    opts = options or MailboxOptions()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            """INSERT INTO emails (email_id, message_id, subject, from_address, from_name, sent_at, size_bytes,
                   sha256, raw_ref, text_body, in_reply_to, reference_ids, thread_root, reply_to, sender,
                   delivered_to, date_source, internal_date, text_body_truncated, text_body_ref, html_body,
                   html_body_truncated, html_body_ref, auto_submitted, auto_submitted_reasons, bounce,
                   task_token, fetch_outcome, defects, warnings, first_seen_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                       %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (email_id) DO NOTHING
               RETURNING true""",
            (e.email_id, e.message_id, e.subject, first.address if first else None, first.name if first else None,
             e.date, e.size_bytes, e.sha256, e.raw_ref, e.text_body, e.in_reply_to, list(e.references),
             e.thread_root, _addresses(e.reply_to), _addresses(e.sender), _addresses(e.delivered_to),
             e.date_source, e.internal_date, e.text_body_truncated, e.text_body_ref, e.html_body,
             e.html_body_truncated, e.html_body_ref, e.auto_submitted, list(e.auto_submitted_reasons),
             e.bounce.model_dump_json() if e.bounce else None, e.task_token.text if e.task_token else None,
             e.fetch_outcome, list(e.defects), list(e.warnings), seen_at),
        )
        new_email = cur.fetchone() is not None
        s = e.sighting
        # A sighting seen again keeps its first time; owner and team follow the mailbox's options.
        cur.execute(
            """INSERT INTO email_sightings (mailbox_id, folder, uidvalidity, uid, email_id, fetched_at,
                                            internal_date, owner_user, team)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (mailbox_id, folder, uidvalidity, uid) DO UPDATE
                   SET fetched_at = LEAST(email_sightings.fetched_at, EXCLUDED.fetched_at),
                       owner_user = EXCLUDED.owner_user, team = EXCLUDED.team
                   WHERE (email_sightings.owner_user, email_sightings.team)
                             IS DISTINCT FROM (EXCLUDED.owner_user, EXCLUDED.team)
                      OR email_sightings.fetched_at > EXCLUDED.fetched_at""",
            (s.mailbox_id, s.folder, s.uidvalidity, s.uid, e.email_id, seen_at, e.internal_date,
             opts.owner_user, opts.team),
        )
        groups = {"from": e.from_, "to": e.to, "cc": e.cc, "bcc": e.bcc, "sender": e.sender,
                  "reply_to": e.reply_to, "delivered_to": e.delivered_to}
        cur.executemany(
            """INSERT INTO email_participants (email_id, role, address, name) VALUES (%s, %s, %s, %s)
               ON CONFLICT DO NOTHING""",
            [(e.email_id, role, a.address, a.name) for role in PARTICIPANT_ROLES for a in groups[role]],
        )
        cur.executemany(
            """INSERT INTO email_attachments (email_id, position, sha256, object_key, size_bytes, content_type,
                                              filename, disposition, content_id, origin, depth)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
            [(e.email_id, i, a.sha256, a.object_key, a.size_bytes, a.content_type, a.filename, a.disposition,
              a.content_id, a.origin, a.depth) for i, a in enumerate(e.attachments)],
        )
        # Links merge: a link already stored keeps its first reason (order-independent for a replay).
        cur.executemany(
            """INSERT INTO email_links (email_id, entity_type, entity_id, reason) VALUES (%s, %s, %s, %s)
               ON CONFLICT (email_id, entity_type, entity_id) DO NOTHING""",
            [(e.email_id, link.entity_type, link.entity_id, link.reason) for link in matched.links],
        )
        copies = planned_copies(matched)
        if copies:
            copies = _claim_destinations(cur, e.email_id, copies)
    return SaveResult(new_email, copies)


def _claim_destinations(cur: Any, email_id: Any, copies: list[PlannedCopy]) -> list[PlannedCopy]:
    """Record each copy; a file already recorded (a replay, the same file from another email)
    keeps its destination, a new file whose plain name is taken gets its hashed name."""
    out = []
    for c in copies:
        for dest in (c.dest_key, c.hashed_dest_key):
            cur.execute(
                """INSERT INTO file_copies (target_type, target_id, folder, filename, sha256, source_key,
                                            dest_key, email_id)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                (c.target_type, c.target_id, c.folder, c.filename, c.sha256, c.source_key, dest, email_id),
            )
            row = cur.execute(
                """SELECT dest_key FROM file_copies WHERE target_type = %s AND target_id = %s AND folder = %s
                   AND filename = %s AND sha256 = %s""",
                (c.target_type, c.target_id, c.folder, c.filename, c.sha256)).fetchone()
            if row is not None:
                out.append(c.at(row[0]))
                break
    return out
