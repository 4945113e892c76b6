"""Person rule (reference 000): the sender or a receiver is the person's address, unless the
person belongs to companies and every one of them is blocked from mail import."""

from __future__ import annotations

from ...common.messages import Link, ParsedEmail
from ..directory import EntityIndex
from .addresses import by_role


def person_allowed(person_id: str, index: EntityIndex) -> bool:
    """False when the person has companies and all of them are blocked (unknown ones count as not
    blocked: the directory may not have them yet)."""
    p = index.persons.get(person_id)
    if p is None or not p.company_ids:
        return True
    return not all((c := index.companies.get(cid)) is not None and c.blocked for cid in p.company_ids)


def person_links(email: ParsedEmail, index: EntityIndex) -> list[Link]:
    """One link per person whose address appears in From (reason ``sender``) or To/Cc/Bcc
    (``recipient``); a person found as both is linked once, as sender."""
    links: dict[str, Link] = {}
    for role, addr in by_role(email):
        for person_id in index.persons_with_address(addr):
            if person_id not in links and person_allowed(person_id, index):
                links[person_id] = Link(entity_type="person", entity_id=person_id, reason=role)
    return list(links.values())
