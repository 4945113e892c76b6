"""SQL for the email store. Every statement is an upsert keyed by deterministic ids, and every
value comes from the record (no ``now()``), so a replay from offset zero leaves the same rows.

A batch of records is written set-based: each table's rows for the whole batch go in as one JSON
array (``jsonb_populate_recordset``) in one statement, so a batch costs one round trip and the
database inserts rows instead of parsing and planning a statement per email. Rows that repeat a
key inside the batch are merged in Python first, with the same outcome as writing the records one
by one in order (see ``BatchRows``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..common.messages import Address, MailboxOptions, MatchedEmail
from .files import PlannedCopy, planned_copies

PARTICIPANT_ROLES = ("from", "to", "cc", "bcc", "sender", "reply_to", "delivered_to")

EMAIL_COLUMNS = (
    "email_id", "message_id", "subject", "from_address", "from_name", "sent_at", "size_bytes", "sha256", "raw_ref",
    "text_body", "in_reply_to", "reference_ids", "thread_root", "reply_to", "sender", "delivered_to", "date_source",
    "internal_date", "text_body_truncated", "text_body_ref", "html_body", "html_body_truncated", "html_body_ref",
    "auto_submitted", "auto_submitted_reasons", "bounce", "task_token", "fetch_outcome", "defects", "warnings",
    "first_seen_at")
SIGHTING_COLUMNS = ("mailbox_id", "folder", "uidvalidity", "uid", "email_id", "fetched_at", "internal_date",
                    "owner_user", "team", "access_users", "access_teams")
PARTICIPANT_COLUMNS = ("email_id", "role", "address", "name")
ATTACHMENT_COLUMNS = ("email_id", "position", "sha256", "object_key", "size_bytes", "content_type", "filename",
                      "disposition", "content_id", "origin", "depth")
LINK_COLUMNS = ("email_id", "entity_type", "entity_id", "reason")


def _insert(table: str, columns: Sequence[str], param: str) -> str:
    cols = ", ".join(columns)
    return f"INSERT INTO {table} ({cols}) SELECT {cols} FROM jsonb_populate_recordset(NULL::{table}, %({param})s)"


# Data-modifying CTEs: the foreign keys are checked at the statement's end, when the email rows
# exist. A sighting seen again keeps its first time and takes the latest owner and team; a link
# already stored keeps its first reason.
BATCH_SQL = " ".join(f"""
WITH email AS (
    {_insert("emails", EMAIL_COLUMNS, "emails")} ON CONFLICT (email_id) DO NOTHING RETURNING email_id
), sighting AS (
    {_insert("email_sightings", SIGHTING_COLUMNS, "sightings")}
    ON CONFLICT (mailbox_id, folder, uidvalidity, uid) DO UPDATE
        SET fetched_at = LEAST(email_sightings.fetched_at, EXCLUDED.fetched_at),
            owner_user = EXCLUDED.owner_user, team = EXCLUDED.team,
            access_users = EXCLUDED.access_users, access_teams = EXCLUDED.access_teams
        WHERE (email_sightings.owner_user, email_sightings.team, email_sightings.access_users,
               email_sightings.access_teams)
              IS DISTINCT FROM (EXCLUDED.owner_user, EXCLUDED.team, EXCLUDED.access_users, EXCLUDED.access_teams)
           OR email_sightings.fetched_at > EXCLUDED.fetched_at
), participants AS (
    {_insert("email_participants", PARTICIPANT_COLUMNS, "participants")} ON CONFLICT DO NOTHING
), attachments AS (
    {_insert("email_attachments", ATTACHMENT_COLUMNS, "attachments")} ON CONFLICT DO NOTHING
), generations AS (
    INSERT INTO email_link_generations (email_id, mailbox_id, generation)
    SELECT email_id, mailbox_id, generation
    FROM jsonb_to_recordset(%(generations)s) AS g(email_id uuid, mailbox_id text, generation bigint)
    ON CONFLICT (email_id, mailbox_id) DO UPDATE SET generation = EXCLUDED.generation
    WHERE email_link_generations.generation < EXCLUDED.generation
), fresh_links AS (
    SELECT l.* FROM jsonb_to_recordset(%(links)s) AS l(email_id uuid, mailbox_id text, entity_type text,
                                                       entity_id text, reason text, generation bigint)
    WHERE NOT EXISTS (SELECT 1 FROM email_link_generations g WHERE g.email_id = l.email_id
                      AND g.mailbox_id = l.mailbox_id AND g.generation > l.generation)
), link_sources AS (
    INSERT INTO email_link_sources (email_id, mailbox_id, entity_type, entity_id)
    SELECT email_id, mailbox_id, entity_type, entity_id FROM fresh_links ON CONFLICT DO NOTHING
), links AS (
    INSERT INTO email_links ({", ".join(LINK_COLUMNS)}) SELECT {", ".join(LINK_COLUMNS)} FROM fresh_links
    ON CONFLICT DO NOTHING
)
SELECT email_id::text FROM email
""".split())
# Sent before BATCH_SQL when a batch re-links (a reindex): for each (email, mailbox) whose links are
# of an older generation, that mailbox's link sources go, and with them every link no other
# mailbox's decision gives; BATCH_SQL then records the new generation and writes the new links.
# Two statements, because the sub-statements of one cannot see each other's deletes.
RELINK_SQL = """
WITH outdated AS (
    SELECT r.email_id, r.mailbox_id
    FROM jsonb_to_recordset(%(generations)s) AS r(email_id uuid, mailbox_id text, generation bigint)
    WHERE NOT EXISTS (SELECT 1 FROM email_link_generations g WHERE g.email_id = r.email_id
                      AND g.mailbox_id = r.mailbox_id AND g.generation >= r.generation)
), dropped AS (
    DELETE FROM email_link_sources s USING outdated o WHERE s.email_id = o.email_id AND s.mailbox_id = o.mailbox_id
    RETURNING s.email_id, s.mailbox_id, s.entity_type, s.entity_id
)
DELETE FROM email_links l USING dropped d
WHERE l.email_id = d.email_id AND l.entity_type = d.entity_type AND l.entity_id = d.entity_id
  AND NOT EXISTS (SELECT 1 FROM email_link_sources o WHERE o.email_id = d.email_id
                  AND o.entity_type = d.entity_type AND o.entity_id = d.entity_id AND o.mailbox_id <> d.mailbox_id)
"""


@dataclass(frozen=True)
class Pending:
    """One record's write: the matched email, the envelope time, the mailbox options it saw, and
    the reindex generation its links were decided for (topics.REINDEX_GENERATION)."""

    matched: MatchedEmail
    seen_at: datetime | None
    options: MailboxOptions
    generation: int = 0


@dataclass(frozen=True)
class SaveResult:
    """What a save did: records whose email row is new, records that merged into an existing
    email, and the copies to make in S3 (destinations claimed)."""

    new_emails: int
    merged: int
    copies: list[PlannedCopy]


def _addresses(group: list[Address]) -> list[dict[str, str]]:
    return [{"name": a.name, "address": a.address} for a in group]


@dataclass
class BatchRows:
    """Every table's rows for a batch, each key once: the first record's row wins (``DO NOTHING``),
    except a sighting seen twice, which keeps the earliest time and the last owner and team, as
    the upsert does when the records are written one by one."""

    emails: dict[str, dict[str, Any]] = field(default_factory=dict)
    sightings: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    participants: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    attachments: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    links: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)  # per (email, mailbox, entity)
    generations: dict[tuple[str, str], int] = field(default_factory=dict)  # newest per (email, mailbox)

    def add(self, matched: MatchedEmail, seen_at: datetime | None, options: MailboxOptions,
            generation: int = 0) -> None:
        e, s = matched.email, matched.email.sighting
        eid = str(e.email_id)
        first = e.from_[0] if e.from_ else None
        self.emails.setdefault(eid, {
            "email_id": eid, "message_id": e.message_id, "subject": e.subject,
            "from_address": first.address if first else None, "from_name": first.name if first else None,
            "sent_at": e.date, "size_bytes": e.size_bytes, "sha256": e.sha256, "raw_ref": e.raw_ref,
            "text_body": e.text_body, "in_reply_to": e.in_reply_to, "reference_ids": list(e.references),
            "thread_root": e.thread_root, "reply_to": _addresses(e.reply_to), "sender": _addresses(e.sender),
            "delivered_to": _addresses(e.delivered_to), "date_source": e.date_source,
            "internal_date": e.internal_date, "text_body_truncated": e.text_body_truncated,
            "text_body_ref": e.text_body_ref, "html_body": e.html_body, "html_body_truncated": e.html_body_truncated,
            "html_body_ref": e.html_body_ref, "auto_submitted": e.auto_submitted,
            "auto_submitted_reasons": list(e.auto_submitted_reasons),
            "bounce": json.loads(e.bounce.model_dump_json()) if e.bounce else None,
            "task_token": e.task_token.text if e.task_token else None, "fetch_outcome": e.fetch_outcome,
            "defects": list(e.defects), "warnings": list(e.warnings), "first_seen_at": seen_at})
        key = (s.mailbox_id, s.folder, s.uidvalidity, s.uid)
        row = {"mailbox_id": s.mailbox_id, "folder": s.folder, "uidvalidity": s.uidvalidity, "uid": s.uid,
               "email_id": eid, "fetched_at": seen_at, "internal_date": e.internal_date,
               **_readers(options)}
        old = self.sightings.setdefault(key, row)
        if old is not row:
            times = [t for t in (old["fetched_at"], seen_at) if t is not None]
            old.update(fetched_at=min(times) if times else None, **_readers(options))
        groups = {"from": e.from_, "to": e.to, "cc": e.cc, "bcc": e.bcc, "sender": e.sender,
                  "reply_to": e.reply_to, "delivered_to": e.delivered_to}
        for role in PARTICIPANT_ROLES:
            for a in groups[role]:
                self.participants.setdefault((eid, role, a.address), {
                    "email_id": eid, "role": role, "address": a.address, "name": a.name})
        for position, att in enumerate(e.attachments):
            self.attachments.setdefault((eid, position), {
                "email_id": eid, "position": position, "sha256": att.sha256, "object_key": att.object_key,
                "size_bytes": att.size_bytes, "content_type": att.content_type, "filename": att.filename,
                "disposition": att.disposition, "content_id": att.content_id, "origin": att.origin,
                "depth": att.depth})
        source = (eid, s.mailbox_id)
        newest = self.generations.setdefault(source, generation)
        if generation < newest:
            return  # links of an older decision of this mailbox than one already in the batch
        if generation > newest:  # a newer decision's links replace the batch's older ones
            self.generations[source] = generation
            self.links = {k: v for k, v in self.links.items() if k[:2] != source}
        for lk in matched.links:
            self.links.setdefault((eid, s.mailbox_id, lk.entity_type, lk.entity_id), {
                "email_id": eid, "mailbox_id": s.mailbox_id, "entity_type": lk.entity_type,
                "entity_id": lk.entity_id, "reason": lk.reason, "generation": generation})

    def params(self) -> dict[str, str]:
        def rows(table: dict[Any, dict[str, Any]]) -> str:
            return json.dumps(list(table.values()), ensure_ascii=False, default=_json_default)
        return {"emails": rows(self.emails), "sightings": rows(self.sightings),
                "participants": rows(self.participants), "attachments": rows(self.attachments),
                "links": rows(self.links), "generations": json.dumps(self.relinks())}

    def relinks(self) -> list[dict[str, Any]]:
        """The (email, mailbox) pairs this batch re-links, with their generation: a reindex's."""
        return [{"email_id": eid, "mailbox_id": mailbox, "generation": g}
                for (eid, mailbox), g in self.generations.items() if g > 0]


def _readers(options: MailboxOptions) -> dict[str, Any]:
    """Who may read a sighting's mail besides the access levels' own rules: the mailbox's owner,
    team and access lists (the latest options win when a sighting is seen again)."""
    return {"owner_user": options.owner_user, "team": options.team,
            "access_users": sorted(set(options.access_users)), "access_teams": sorted(set(options.access_teams))}


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def send_batch(conn: Any, items: Sequence[Pending]) -> Any:
    """Send the upsert of the emails, sightings (with each mailbox's owner and team),
    participants, attachments and links of ``items`` as one statement; returns its cursor, whose
    result ``finish_batch`` reads. In pipeline mode this does not wait for the server."""
    batch = BatchRows()
    for item in items:
        batch.add(item.matched, item.seen_at, item.options, item.generation)
    params = batch.params()
    if batch.relinks():
        conn.execute(RELINK_SQL, {"generations": params["generations"]})
    cur = conn.cursor()
    cur.execute(BATCH_SQL, params, prepare=True)
    return cur


def finish_batch(conn: Any, sent: Sequence[tuple[Any, Sequence[Pending]]]) -> SaveResult:
    """Read what each sent statement inserted, in order, then record each planned file copy."""
    new = merged = 0
    copies: list[PlannedCopy] = []
    for cur, items in sent:
        with cur:
            inserted = {row[0] for row in cur.fetchall()}
        for item in items:
            eid = str(item.matched.email.email_id)
            if eid in inserted:
                inserted.discard(eid)  # a later record of the same email merges into it
                new += 1
            else:
                merged += 1
    with conn.cursor() as cur:
        for _, items in sent:
            for item in items:
                planned = planned_copies(item.matched)
                if planned:
                    copies += _claim_destinations(cur, item.matched.email.email_id, planned)
    return SaveResult(new, merged, copies)


def save_batch(conn: Any, items: Sequence[Pending]) -> SaveResult:
    """Upsert ``items`` (``send_batch``) and record their file copies, in the caller's transaction
    (wrap it in ``conn.transaction()``). Blocks on the database; raises psycopg errors
    (OperationalError is transient; DataError and IntegrityError mean a record the database refuses)."""
    if not items:
        return SaveResult(0, 0, [])
    return finish_batch(conn, [(send_batch(conn, items), items)])


def save_matched(conn: Any, matched: MatchedEmail, seen_at: datetime | None = None,
                 options: MailboxOptions | None = None) -> SaveResult:
    """One record in its own transaction (for tools and tests; the stage writes batches)."""
    with conn.transaction():
        return save_batch(conn, [Pending(matched, seen_at, options or MailboxOptions())])


def _claim_destinations(cur: Any, email_id: Any, copies: list[PlannedCopy]) -> list[PlannedCopy]:
    """Record each copy; a file already recorded (a replay, the same file from another email)
    keeps its destination, a new file whose plain name is taken gets its hashed name."""
    out = []
    for c in copies:
        for dest in (c.dest_key, c.hashed_dest_key):
            row = cur.execute(
                """INSERT INTO file_copies (target_type, target_id, folder, filename, sha256, source_key,
                                            dest_key, email_id)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING dest_key""",
                (c.target_type, c.target_id, c.folder, c.filename, c.sha256, c.source_key, dest, email_id),
            ).fetchone() or cur.execute(  # not inserted: this file already has a destination, or dest is taken
                """SELECT dest_key FROM file_copies WHERE target_type = %s AND target_id = %s AND folder = %s
                   AND filename = %s AND sha256 = %s""",
                (c.target_type, c.target_id, c.folder, c.filename, c.sha256)).fetchone()
            if row is not None:
                out.append(c.at(row[0]))
                break
    return out
