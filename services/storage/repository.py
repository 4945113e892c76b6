"""SQL for the email store. Every statement is an upsert keyed by deterministic ids."""

from __future__ import annotations

from typing import Any

from ..common.messages import MatchedEmail


def save_matched(conn: Any, matched: MatchedEmail) -> None:
    """Upsert the email, its sighting, participants and links in one transaction.
    Blocks on the database; raises psycopg errors (OperationalError is transient)."""
    e = matched.email
    sender = e.from_[0] if e.from_ else None
    with conn.transaction():
        conn.execute(
            """INSERT INTO emails (email_id, message_id, subject, from_address, from_name, sent_at,
                                   size_bytes, sha256, raw_ref, text_body)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (email_id) DO UPDATE SET updated_at = now()""",
            (e.email_id, e.message_id, e.subject, sender.address if sender else None,
             sender.name if sender else None, e.date, e.size_bytes, e.sha256, e.raw_ref, e.text_body),
        )
        s = e.sighting
        conn.execute(
            """INSERT INTO email_sightings (mailbox_id, folder, uidvalidity, uid, email_id)
               VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
            (s.mailbox_id, s.folder, s.uidvalidity, s.uid, e.email_id),
        )
        participants = [(role, a.address, a.name) for role, group in (("from", e.from_), ("to", e.to), ("cc", e.cc))
                        for a in group]
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO email_participants (email_id, role, address, name) VALUES (%s, %s, %s, %s)
                   ON CONFLICT DO NOTHING""",
                [(e.email_id, *p) for p in participants],
            )
            cur.executemany(
                """INSERT INTO email_links (email_id, entity_type, entity_id, reason) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (email_id, entity_type, entity_id) DO UPDATE SET reason = EXCLUDED.reason""",
                [(e.email_id, link.entity_type, link.entity_id, link.reason) for link in matched.links],
            )
