"""Pure matching rules. The skeleton has one: a person whose address is the sender or a recipient."""

from __future__ import annotations

from ..common.messages import Link, ParsedEmail
from .directory import EntityIndex


def person_links(email: ParsedEmail, index: EntityIndex) -> list[Link]:
    """One link per person whose address appears in From (reason ``sender``) or To/Cc
    (``recipient``); a person found as both is linked once, as sender."""
    links: dict[str, Link] = {}
    for role, addresses in (("sender", email.from_), ("recipient", email.to + email.cc)):
        for addr in addresses:
            for person_id in index.persons_with_address(addr.address):
                links.setdefault(person_id, Link(entity_type="person", entity_id=person_id, reason=role))
    return list(links.values())
