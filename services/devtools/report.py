"""What was matched, read back from PostgreSQL, as plain-text tables."""

from __future__ import annotations

import unicodedata
from typing import Any


def matched_rows(conn: Any, mailbox_id: str) -> list[tuple[str, str, str, str]]:
    """(date, from, subject, links) for every stored email seen in ``mailbox_id``, oldest first."""
    return [tuple(r) for r in conn.execute(
        """SELECT to_char(e.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), coalesce(e.from_address, ''),
                  e.subject,
                  coalesce(string_agg(l.entity_type || ':' || l.entity_id || ' (' || l.reason || ')', ', '
                                      ORDER BY l.entity_type, l.entity_id), '')
           FROM emails e
           JOIN email_sightings s ON s.email_id = e.email_id AND s.mailbox_id = %s
           LEFT JOIN email_links l ON l.email_id = e.email_id
           GROUP BY e.email_id, e.sent_at, e.from_address, e.subject
           ORDER BY e.sent_at, e.email_id""", (mailbox_id,)).fetchall()]


def per_entity(conn: Any, mailbox_id: str) -> list[tuple[str, int, int]]:
    """(entity, emails as sender, emails as recipient) for every linked entity."""
    return [tuple(r) for r in conn.execute(
        """SELECT l.entity_type || ':' || l.entity_id,
                  count(*) FILTER (WHERE l.reason = 'sender'), count(*) FILTER (WHERE l.reason = 'recipient')
           FROM email_links l
           WHERE l.email_id IN (SELECT email_id FROM email_sightings WHERE mailbox_id = %s)
           GROUP BY 1 ORDER BY 1""", (mailbox_id,)).fetchall()]


def table(headers: tuple[str, ...], rows: list[tuple[Any, ...]], widths: tuple[int, ...]) -> str:
    """A fixed-width text table; cells longer than their column are cut with an ellipsis."""
    def cell(value: Any, width: int) -> str:
        text, used = "", 0
        for ch in str(value):
            w = _columns(ch)
            if used + w > width - 1 and len(str(value)) > len(text) + 1:
                text, used = text + "…", used + 1
                break
            text, used = text + ch, used + w
        return text + " " * max(0, width - used)

    lines = ["  ".join(cell(h, w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(cell(v, w) for v, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _columns(ch: str) -> int:
    """Terminal columns of one character: CJK wide and fullwidth characters take two."""
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
