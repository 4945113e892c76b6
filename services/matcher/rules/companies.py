"""Company rule (reference 000): the sender or a receiver is the company's address, or the main
address of a person of the company, or the address's host is the company's host name.

Free-mail hosts (``free_mail_domains.txt``) never match by host; a host name that several
companies share matches none of them (ambiguous) unless ``shared_hosts_match_all`` is set;
blocked companies never match."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ...common.messages import Link, ParsedEmail
from ..directory import EntityIndex
from .addresses import by_role, host_of

FREE_MAIL_FILE = Path(__file__).with_name("free_mail_domains.txt")


@cache
def free_mail_domains() -> frozenset[str]:
    lines = FREE_MAIL_FILE.read_text().splitlines()
    return frozenset(x.strip().lower() for x in lines if x.strip() and not x.startswith("#"))


def company_links(email: ParsedEmail, index: EntityIndex, shared_hosts_match_all: bool = False) -> list[Link]:
    """Links with reasons ``company_address:<role>``, ``person_main_address:<role>`` or
    ``hostname:<role>``; the first rule that finds a company gives its reason."""
    found: dict[str, Link] = {}

    def add(cid: str, reason: str) -> None:
        c = index.companies.get(cid)
        if c is not None and not c.blocked and cid not in found:
            found[cid] = Link(entity_type="company", entity_id=cid, reason=reason)

    free = free_mail_domains()
    for role, addr in by_role(email):
        for cid in index.companies_with_address(addr):
            add(cid, f"company_address:{role}")
        for pid in index.persons_with_address(addr):
            p = index.persons.get(pid)
            if p is not None and p.emails and p.emails[0] == addr:
                for cid in p.company_ids:
                    add(cid, f"person_main_address:{role}")
        host = host_of(addr)
        if host and host not in free:
            by_host = index.companies_with_host(host)
            if len(by_host) == 1 or shared_hosts_match_all:
                for cid in by_host:
                    add(cid, f"hostname:{role}")
    return list(found.values())
