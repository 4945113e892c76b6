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


# One statement (data-modifying CTEs: the foreign keys are checked at its end, when the email row
# exists), so a record costs one round trip; the rows of a group go in as arrays through unnest.
# A sighting seen again keeps its first time, owner and team follow the mailbox's options; a link
# already stored keeps its first reason. Whitespace is collapsed so psycopg caches the conversion.
def _one_line(sql: str) -> str:
    return " ".join(sql.split())


SAVE_SQL = _one_line("""
WITH email AS (
    INSERT INTO emails (email_id, message_id, subject, from_address, from_name, sent_at, size_bytes, sha256,
        raw_ref, text_body, in_reply_to, reference_ids, thread_root, reply_to, sender, delivered_to, date_source,
        internal_date, text_body_truncated, text_body_ref, html_body, html_body_truncated, html_body_ref,
        auto_submitted, auto_submitted_reasons, bounce, task_token, fetch_outcome, defects, warnings,
        first_seen_at)
    VALUES (%(id)s, %(message_id)s, %(subject)s, %(from_address)s, %(from_name)s, %(sent_at)s, %(size_bytes)s,
        %(sha256)s, %(raw_ref)s, %(text_body)s, %(in_reply_to)s, %(reference_ids)s, %(thread_root)s,
        %(reply_to)s, %(sender)s, %(delivered_to)s, %(date_source)s, %(internal_date)s, %(text_body_truncated)s,
        %(text_body_ref)s, %(html_body)s, %(html_body_truncated)s, %(html_body_ref)s, %(auto_submitted)s,
        %(auto_submitted_reasons)s, %(bounce)s, %(task_token)s, %(fetch_outcome)s, %(defects)s, %(warnings)s,
        %(seen_at)s)
    ON CONFLICT (email_id) DO NOTHING
    RETURNING 1
), sighting AS (
    INSERT INTO email_sightings (mailbox_id, folder, uidvalidity, uid, email_id, fetched_at, internal_date,
                                 owner_user, team)
    VALUES (%(mailbox_id)s, %(folder)s, %(uidvalidity)s, %(uid)s, %(id)s, %(seen_at)s, %(internal_date)s,
            %(owner_user)s, %(team)s)
    ON CONFLICT (mailbox_id, folder, uidvalidity, uid) DO UPDATE
        SET fetched_at = LEAST(email_sightings.fetched_at, EXCLUDED.fetched_at),
            owner_user = EXCLUDED.owner_user, team = EXCLUDED.team
        WHERE (email_sightings.owner_user, email_sightings.team) IS DISTINCT FROM (EXCLUDED.owner_user, EXCLUDED.team)
           OR email_sightings.fetched_at > EXCLUDED.fetched_at
), participants AS (
    INSERT INTO email_participants (email_id, role, address, name)
    SELECT %(id)s, * FROM unnest(%(p_role)s::text[], %(p_address)s::text[], %(p_name)s::text[])
    ON CONFLICT DO NOTHING
), attachments AS (
    INSERT INTO email_attachments (email_id, position, sha256, object_key, size_bytes, content_type, filename,
                                   disposition, content_id, origin, depth)
    SELECT %(id)s, * FROM unnest(%(a_position)s::int[], %(a_sha256)s::text[], %(a_key)s::text[],
        %(a_size)s::bigint[], %(a_type)s::text[], %(a_name)s::text[], %(a_disposition)s::text[],
        %(a_content_id)s::text[], %(a_origin)s::text[], %(a_depth)s::int[])
    ON CONFLICT DO NOTHING
), links AS (
    INSERT INTO email_links (email_id, entity_type, entity_id, reason)
    SELECT %(id)s, * FROM unnest(%(l_type)s::text[], %(l_id)s::text[], %(l_reason)s::text[])
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM email
""")


def save_params(matched: MatchedEmail, seen_at: datetime | None, options: MailboxOptions) -> dict[str, Any]:
    e, s = matched.email, matched.email.sighting
    first = e.from_[0] if e.from_ else None
    groups = {"from": e.from_, "to": e.to, "cc": e.cc, "bcc": e.bcc, "sender": e.sender,
              "reply_to": e.reply_to, "delivered_to": e.delivered_to}
    people = [(role, a.address, a.name) for role in PARTICIPANT_ROLES for a in groups[role]]
    atts = e.attachments
    return {
        "id": e.email_id, "message_id": e.message_id, "subject": e.subject,
        "from_address": first.address if first else None, "from_name": first.name if first else None,
        "sent_at": e.date, "size_bytes": e.size_bytes, "sha256": e.sha256, "raw_ref": e.raw_ref,
        "text_body": e.text_body, "in_reply_to": e.in_reply_to, "reference_ids": list(e.references),
        "thread_root": e.thread_root, "reply_to": _addresses(e.reply_to), "sender": _addresses(e.sender),
        "delivered_to": _addresses(e.delivered_to), "date_source": e.date_source, "internal_date": e.internal_date,
        "text_body_truncated": e.text_body_truncated, "text_body_ref": e.text_body_ref, "html_body": e.html_body,
        "html_body_truncated": e.html_body_truncated, "html_body_ref": e.html_body_ref,
        "auto_submitted": e.auto_submitted, "auto_submitted_reasons": list(e.auto_submitted_reasons),
        "bounce": e.bounce.model_dump_json() if e.bounce else None,
        "task_token": e.task_token.text if e.task_token else None, "fetch_outcome": e.fetch_outcome,
        "defects": list(e.defects), "warnings": list(e.warnings), "seen_at": seen_at,
        "mailbox_id": s.mailbox_id, "folder": s.folder, "uidvalidity": s.uidvalidity, "uid": s.uid,
        "owner_user": options.owner_user, "team": options.team,
        "p_role": [p[0] for p in people], "p_address": [p[1] for p in people], "p_name": [p[2] for p in people],
        "a_position": list(range(len(atts))), "a_sha256": [a.sha256 for a in atts],
        "a_key": [a.object_key for a in atts], "a_size": [a.size_bytes for a in atts],
        "a_type": [a.content_type for a in atts], "a_name": [a.filename for a in atts],
        "a_disposition": [a.disposition for a in atts], "a_content_id": [a.content_id for a in atts],
        "a_origin": [a.origin for a in atts], "a_depth": [a.depth for a in atts],
        "l_type": [lk.entity_type for lk in matched.links], "l_id": [lk.entity_id for lk in matched.links],
        "l_reason": [lk.reason for lk in matched.links],
    }


def save_matched(conn: Any, matched: MatchedEmail, seen_at: datetime | None = None,
                 options: MailboxOptions | None = None) -> SaveResult:
    """Upsert the email, its sighting (with the mailbox owner and team from ``options``),
    participants, attachments, links and file copies in one transaction. ``seen_at`` is the
    ``mail.matched`` envelope's time (the same on every replay). Blocks on the database; raises
    psycopg errors (OperationalError is transient)."""
    params = save_params(matched, seen_at, options or MailboxOptions())
    copies = planned_copies(matched)
    with conn.cursor() as cur:
        if conn.autocommit and not copies:  # one statement is one transaction: one round trip
            row = cur.execute(SAVE_SQL, params, prepare=True).fetchone()
        else:
            with conn.transaction():
                row = cur.execute(SAVE_SQL, params, prepare=True).fetchone()
                if copies:
                    copies = _claim_destinations(cur, matched.email.email_id, copies)
    return SaveResult(bool(row and row[0]), copies)


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
