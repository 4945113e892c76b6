"""Task rule (reference 000): the subject ends with ``[Word#1234]`` (any word; the brackets and the
``#`` matter), task 1234 exists, and the email also matches a non-blocked company or a person of a
non-blocked company. Anything else attaches no task, so quoting someone else's number in passing
(or a token in the middle of the subject) links nothing.

The guard holds however the task was found: a reply that inherits the thread's task (rules/threads)
must pass it too, and a reply whose own token links a task takes that task instead of the thread's."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ...common.messages import Link
from ..directory import EntityIndex

# The parser's token (parser/classify.task_token) with the same pattern: ``[Task#01234]`` is task
# number 1234 on both sides, as mail.parsed's ``task_token.number`` says (docs/matcher.md).
TASK_TOKEN = re.compile(r"\[(\w+)#(\d{1,18})\]\s*$")


def task_number(subject: str) -> int | None:
    """The number of the ``[Word#1234]`` token that ends ``subject``, else None."""
    m = TASK_TOKEN.search(subject)
    return int(m.group(2)) if m else None


def has_unblocked_company(person_id: str, index: EntityIndex) -> bool:
    p = index.persons.get(person_id)
    return p is not None and any((c := index.companies.get(cid)) is not None and not c.blocked
                                 for cid in p.company_ids)


def guard_passes(index: EntityIndex, company_links: Sequence[Link], person_links: Sequence[Link]) -> bool:
    """Reference 000: the email matches a non-blocked company (company links are never blocked
    ones) or a person associated with a non-blocked company."""
    return bool(company_links) or any(has_unblocked_company(lk.entity_id, index) for lk in person_links)


def task_links(subject: str, index: EntityIndex, company_links: list[Link], person_links: list[Link]) -> list[Link]:
    """The tasks the subject's token names (reason ``subject_token``), when the guard passes."""
    number = task_number(subject)
    if number is None:
        return []
    tasks = index.tasks_with_number(number)
    if not tasks or not guard_passes(index, company_links, person_links):
        return []
    return [Link(entity_type="task", entity_id=t, reason="subject_token") for t in tasks]


def thread_links(inherited: Sequence[Link], own_tasks: Sequence[Link], guarded: bool) -> list[Link]:
    """The thread's links this email may take: its task links only when the guard passes and the
    subject's own token linked no task (the token the author wrote wins over the thread's); case
    and lead links as they are."""
    keep_tasks = guarded and not own_tasks
    return [lk for lk in inherited if lk.entity_type != "task" or keep_tasks]


def subject_companies(task_links_: Sequence[Link], index: EntityIndex) -> list[str]:
    """The companies of the email's tasks ("the company that matches the email subject"), each
    once, except blocked ones (a company the directory does not know yet counts as not blocked)."""
    out: list[str] = []
    for lk in task_links_:
        t = index.tasks.get(lk.entity_id) if lk.entity_type == "task" else None
        cid = t.company_id if t is not None else None
        c = index.companies.get(cid) if cid else None
        if cid and cid not in out and not (c is not None and c.blocked):
            out.append(cid)
    return out
