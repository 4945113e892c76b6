"""Convert to lead (reference 002): a lead for the sender, owned and sourced as the mailbox says,
unless a person or a lead already covers the sender's address (then nothing new is created)."""

from __future__ import annotations

from ...common.messages import Link
from ..directory import EntityIndex


def covered_by(sender: str, index: EntityIndex, person_links: list[Link], known_lead: str | None) -> str | None:
    """Why no new lead is needed for ``sender``: ``person``, ``lead`` (a directory lead or one the
    matcher created earlier), or None when a lead is to be created."""
    if any(lk.reason == "sender" for lk in person_links) or index.persons_with_address(sender):
        return "person"
    if known_lead or index.leads_with_address(sender):
        return "lead"
    return None
