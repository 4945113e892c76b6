"""EntityIndex: the CRM directory in memory, built from ``crm.entities``. Pure.

Memory matters more than convenience here (the benchmark holds 1M persons, 100k companies and 200k
tasks): no Entity objects are kept, only tuples of interned strings, and a multi-map slot holds a
plain string when one entity has the key (almost always) and a tuple only when several share it.
Every lookup is one or two dict reads, so its cost does not grow with the directory.

Writes (the follower thread) take a lock; reads do not: each read is a single dict access, atomic
under the GIL, and a record that is being replaced is seen either before or after the change.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Hashable
from typing import Any, NamedTuple

from ..common.messages import Entity, MailFilter

Slot = str | tuple[str, ...]
CLOSED_CASE_STATUSES = frozenset({"closed", "rejected", "duplicate", "resolved", "cancelled", "canceled"})


def norm(address: str) -> str:
    return address.strip().lower()


def _ids(slot: Slot | None) -> tuple[str, ...]:
    if slot is None:
        return ()
    return (slot,) if isinstance(slot, str) else slot


def _add(index: dict[Any, Slot], key: Hashable, value: str) -> None:
    old = index.get(key)
    if old is None:
        index[key] = value
    elif isinstance(old, str):
        if old != value:
            index[key] = tuple(sorted((old, value)))
    elif value not in old:
        index[key] = tuple(sorted((*old, value)))


def _discard(index: dict[Any, Slot], key: Hashable, value: str) -> None:
    old = index.get(key)
    if old is None:
        return
    if isinstance(old, str):
        if old == value:
            del index[key]
        return
    rest = tuple(v for v in old if v != value)
    if not rest:
        del index[key]
    else:
        index[key] = rest[0] if len(rest) == 1 else rest


def _t(values: list[str], lower: bool = False) -> tuple[str, ...]:
    return tuple(sys.intern(norm(v) if lower else v) for v in values)


class Company(NamedTuple):
    name: str
    emails: tuple[str, ...]
    hostnames: tuple[str, ...]
    blocked: bool


class Person(NamedTuple):
    emails: tuple[str, ...]  # the first is the main address
    company_ids: tuple[str, ...]
    language: str | None = None  # the language mail to the person is written in


class Task(NamedTuple):
    number: int | None
    company_id: str | None
    person_id: str | None


class Case(NamedTuple):
    number: int | None
    status: str | None
    assignee: str | None
    team_id: str | None


class User(NamedTuple):
    name: str
    active: bool
    team_ids: tuple[str, ...]
    emails: tuple[str, ...] = ()
    filters: tuple[MailFilter, ...] = ()  # applied to the mailboxes the user owns


class Opportunity(NamedTuple):
    company_id: str | None
    contact_ids: tuple[str, ...]
    open: bool


class EntityIndex:
    """Lookups by address, host name, task number and team; updates replace, tombstones delete."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.companies: dict[str, Company] = {}
        self.persons: dict[str, Person] = {}
        self.tasks: dict[str, Task] = {}
        self.cases: dict[str, Case] = {}
        self.users: dict[str, User] = {}
        self.teams: dict[str, str] = {}
        self.leads: dict[str, tuple[str, ...]] = {}
        self.opportunities: dict[str, Opportunity] = {}
        self.followers: dict[str, tuple[str, ...]] = {}  # "<type>:<id>" -> user ids
        self._person_by_address: dict[str, Slot] = {}
        self._company_by_address: dict[str, Slot] = {}
        self._company_by_host: dict[str, Slot] = {}
        self._task_by_number: dict[int, Slot] = {}
        self._lead_by_address: dict[str, Slot] = {}
        self._opportunity_by_party: dict[str, Slot] = {}  # "company:<id>" or "person:<id>" -> opportunity ids
        self._team_users: dict[str, Slot] = {}
        self._open_cases: Counter[str] = Counter()

    # --- updates -------------------------------------------------------------------------------
    def upsert(self, e: Entity) -> None:
        eid = sys.intern(e.id)
        with self._lock:
            self._remove(e.type, eid)
            if e.followers:
                self.followers[f"{e.type}:{eid}"] = _t(e.followers)
            if e.type == "person":
                p = Person(_t(e.emails, lower=True), _t(e.company_ids), e.language)
                self.persons[eid] = p
                for a in p.emails:
                    _add(self._person_by_address, a, eid)
            elif e.type == "company":
                c = Company(e.name, _t(e.emails, lower=True), _t(e.hostnames, lower=True), e.blocked)
                self.companies[eid] = c
                for a in c.emails:
                    _add(self._company_by_address, a, eid)
                for h in c.hostnames:
                    _add(self._company_by_host, h, eid)
            elif e.type == "task":
                self.tasks[eid] = Task(e.number, e.company_id, e.person_id)
                if e.number is not None:
                    _add(self._task_by_number, e.number, eid)
            elif e.type == "case":
                case = Case(e.number, e.status, e.assignee, e.team_id)
                self.cases[eid] = case
                if case.assignee and (case.status or "open").lower() not in CLOSED_CASE_STATUSES:
                    self._open_cases[case.assignee] += 1
            elif e.type == "user":
                u = User(e.name, e.active, _t(e.team_ids), _t(e.emails, lower=True), tuple(e.filters))
                self.users[eid] = u
                for t in u.team_ids:
                    _add(self._team_users, t, eid)
            elif e.type == "team":
                self.teams[eid] = e.name
            elif e.type == "lead":
                self.leads[eid] = _t(e.emails, lower=True)
                for a in self.leads[eid]:
                    _add(self._lead_by_address, a, eid)
            elif e.type == "opportunity":
                o = Opportunity(e.company_id, _t(e.contact_ids), not (e.status or "").lower().startswith("closed"))
                self.opportunities[eid] = o
                for party in _parties(o):
                    _add(self._opportunity_by_party, party, eid)

    def delete(self, key: str) -> None:
        """Apply a tombstone for ``<type>:<id>``."""
        kind, _, eid = key.partition(":")
        with self._lock:
            self._remove(kind, eid)

    def _remove(self, kind: str, eid: str) -> None:
        self.followers.pop(f"{kind}:{eid}", None)
        if kind == "person" and (p := self.persons.pop(eid, None)):
            for a in p.emails:
                _discard(self._person_by_address, a, eid)
        elif kind == "company" and (c := self.companies.pop(eid, None)):
            for a in c.emails:
                _discard(self._company_by_address, a, eid)
            for h in c.hostnames:
                _discard(self._company_by_host, h, eid)
        elif kind == "task" and (t := self.tasks.pop(eid, None)):
            if t.number is not None:
                _discard(self._task_by_number, t.number, eid)
        elif kind == "case" and (case := self.cases.pop(eid, None)):
            if case.assignee and (case.status or "open").lower() not in CLOSED_CASE_STATUSES:
                self._open_cases[case.assignee] -= 1
                if self._open_cases[case.assignee] <= 0:
                    del self._open_cases[case.assignee]
        elif kind == "user" and (u := self.users.pop(eid, None)):
            for team_id in u.team_ids:
                _discard(self._team_users, team_id, eid)
        elif kind == "team":
            self.teams.pop(eid, None)
        elif kind == "lead" and (lead := self.leads.pop(eid, None)):
            for a in lead:
                _discard(self._lead_by_address, a, eid)
        elif kind == "opportunity" and (o := self.opportunities.pop(eid, None)):
            for party in _parties(o):
                _discard(self._opportunity_by_party, party, eid)

    # --- lookups -------------------------------------------------------------------------------
    def persons_with_address(self, address: str) -> tuple[str, ...]:
        """Ids of persons having ``address`` among their addresses (case-insensitive), sorted."""
        return _ids(self._person_by_address.get(norm(address)))

    def companies_with_address(self, address: str) -> tuple[str, ...]:
        return _ids(self._company_by_address.get(norm(address)))

    def companies_with_host(self, host: str) -> tuple[str, ...]:
        return _ids(self._company_by_host.get(norm(host)))

    def tasks_with_number(self, number: int) -> tuple[str, ...]:
        return _ids(self._task_by_number.get(number))

    def leads_with_address(self, address: str) -> tuple[str, ...]:
        return _ids(self._lead_by_address.get(norm(address)))

    def opportunities_of(self, kind: str, party_id: str) -> tuple[str, ...]:
        """Ids of the opportunities whose company (``kind`` company) or contact (person) is
        ``party_id``, open or not, sorted."""
        return _ids(self._opportunity_by_party.get(f"{kind}:{party_id}"))

    def user_filters(self, user_id: str | None) -> tuple[MailFilter, ...]:
        """The filters of the user (none for no user or one the directory does not know)."""
        user = self.users.get(user_id) if user_id else None
        return user.filters if user is not None else ()

    def language_of(self, person_id: str) -> str | None:
        """The person's language as the directory gives it (None: unknown)."""
        person = self.persons.get(person_id)
        return person.language if person is not None else None

    def followers_of(self, entity_type: str, entity_id: str) -> tuple[str, ...]:
        """The user ids following the record, as the directory lists them."""
        return self.followers.get(f"{entity_type}:{entity_id}", ())

    def team_users(self, team_id: str) -> tuple[str, ...]:
        """Every user of the team (active or not), sorted by id."""
        return _ids(self._team_users.get(team_id))

    def open_cases(self, user_id: str) -> int:
        """Open cases the directory has assigned to ``user_id``."""
        return self._open_cases.get(user_id, 0)

    def has_case(self, case_id: str) -> bool:
        return case_id in self.cases

    def __len__(self) -> int:
        return (len(self.companies) + len(self.persons) + len(self.tasks) + len(self.cases) + len(self.users)
                + len(self.teams) + len(self.leads) + len(self.opportunities))


def _parties(o: Opportunity) -> list[str]:
    return ([f"company:{o.company_id}"] if o.company_id else []) + [f"person:{pid}" for pid in o.contact_ids]
