"""Lead and opportunity links (reference 001: "the system tries to link it with an appropriate
record (Accounts, Lead, Opportunity, Case)").

- A lead: the sender or a receiver is one of the lead's addresses (reason ``lead_address:<role>``).
- An opportunity: its company is one the email links to (``opportunity_company``) or one of its
  contacts is a person the email links to (``opportunity_contact``). Only open ones: a closed won
  or lost deal would otherwise collect every later mail of its company. The company and person
  rules have already left blocked companies and their people out, so their deals are out too.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...common.messages import Link, ParsedEmail
from ..directory import EntityIndex
from .addresses import by_role


def lead_links(email: ParsedEmail, index: EntityIndex) -> list[Link]:
    """One link per directory lead having the sender's or a receiver's address; the first role wins."""
    found: dict[str, Link] = {}
    for role, addr in by_role(email):
        for lid in index.leads_with_address(addr):
            found.setdefault(lid, Link(entity_type="lead", entity_id=lid, reason=f"lead_address:{role}"))
    return list(found.values())


def opportunity_links(index: EntityIndex, company_links: Sequence[Link], person_links: Sequence[Link]) -> list[Link]:
    """One link per open opportunity of a linked company, then of a linked person (as a contact)."""
    found: dict[str, Link] = {}
    for kind, reason, links in (("company", "opportunity_company", company_links),
                                ("person", "opportunity_contact", person_links)):
        for lk in links:
            for oid in index.opportunities_of(kind, lk.entity_id):
                o = index.opportunities.get(oid)
                if o is not None and o.open:
                    found.setdefault(oid, Link(entity_type="opportunity", entity_id=oid, reason=reason))
    return list(found.values())
