"""Email-to-case (reference 001): the first email of a thread creates the case, later ones join it
as notes; distribution direct, round-robin over the team's active users, or least-busy by open
cases. Ids are deterministic (DESIGN §3): the same mailbox and thread root always give the same
case, whichever email of the thread arrives first, so a replay never creates a second one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from ...common.messages import ProcessingAction
from ..directory import EntityIndex

NAMESPACE = uuid.UUID("6f2b7c1e-3a57-4c55-9a9e-6d1f6c1a0c11")


def case_id(mailbox_id: str, root: str) -> str:
    return "case-" + str(uuid.uuid5(NAMESPACE, "\x00".join(("case", mailbox_id, root))))


def lead_id(mailbox_id: str, root: str) -> str:
    return "lead-" + str(uuid.uuid5(NAMESPACE, "\x00".join(("lead", mailbox_id, root))))


def case_number(cid: str) -> str:
    """A short number to quote in replies, derived from the id (stable across replays)."""
    return cid.removeprefix("case-").replace("-", "")[:10].upper()


@dataclass(frozen=True)
class Assignment:
    assignee: str | None
    team: str | None
    reason: str
    advances_round_robin: bool = False


def active_team_users(index: EntityIndex, team: str) -> list[str]:
    return [u for u in index.team_users(team) if (usr := index.users.get(u)) is not None and usr.active]


def distribute(p: ProcessingAction, index: EntityIndex, round_robin_position: int,
               pending_load: Mapping[str, int]) -> Assignment:
    """Who gets a new case. ``round_robin_position`` counts the mailbox's earlier round-robin
    assignments; ``pending_load`` adds cases the matcher assigned that the directory does not show
    yet. Least-busy ties go to the lowest user id, so every replica decides alike."""
    team = p.case_team
    if p.case_distribution == "direct":
        who = p.case_assignee or p.owner_user
        return Assignment(who, team, "direct" if who else "direct_no_assignee")
    if not team:
        return Assignment(p.owner_user, None, "no_team")
    users = active_team_users(index, team)
    if not users:
        return Assignment(p.owner_user, team, "no_active_user")
    if p.case_distribution == "round_robin":
        return Assignment(users[round_robin_position % len(users)], team, "round_robin", advances_round_robin=True)
    load = {u: index.open_cases(u) + pending_load.get(u, 0) for u in users}
    return Assignment(min(users, key=lambda u: (load[u], u)), team, "least_busy")
