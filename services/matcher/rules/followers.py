"""Follower notifications (reference 001: "Users who follow that record will receive notification
about a new email in the system, even if they are not listed in To or CC of the email").

For each record the email links to, the users following it (``followers`` of its ``crm.entities``
record), except a user one of whose addresses is already in From, To or Cc: those have the mail
(the author wrote it). Bcc does not count as having it: a Bcc'd user is not shown to the others,
and a sent copy names whom the author wrote to, not who follows the record. Sorted, each
(user, record) pair once, so a replay names the same users in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...common.messages import Link, Notification, ParsedEmail
from ..directory import EntityIndex


def notifications(email: ParsedEmail, links: Sequence[Link], index: EntityIndex) -> list[Notification]:
    """The (user, record) pairs to notify for ``links``."""
    present = {a.address.strip().lower() for group in (email.from_, email.to, email.cc) for a in group}
    pairs: set[tuple[str, str, str]] = set()
    for lk in links:
        for user_id in index.followers_of(lk.entity_type, lk.entity_id):
            user = index.users.get(user_id)
            if user is not None and present.intersection(user.emails):
                continue
            pairs.add((user_id, lk.entity_type, lk.entity_id))
    return [Notification(user_id=u, entity_type=t, entity_id=i) for u, t, i in sorted(pairs)]
