"""Task rule (reference 000): the subject ends with ``[Word#1234]`` (any word; the brackets and the
``#`` matter), task 1234 exists, and the email also matches a non-blocked company or a person of a
non-blocked company. Anything else attaches no task, so quoting someone else's number in passing
(or a token in the middle of the subject) links nothing."""

from __future__ import annotations

import re

from ...common.messages import Link
from ..directory import EntityIndex

TASK_TOKEN = re.compile(r"\[(\w+)#(\d{1,18})\]\s*$")


def task_number(subject: str) -> int | None:
    """The number of the ``[Word#1234]`` token that ends ``subject``, else None."""
    m = TASK_TOKEN.search(subject)
    return int(m.group(2)) if m else None


def has_unblocked_company(person_id: str, index: EntityIndex) -> bool:
    p = index.persons.get(person_id)
    return p is not None and any((c := index.companies.get(cid)) is not None and not c.blocked
                                 for cid in p.company_ids)


def task_links(subject: str, index: EntityIndex, company_links: list[Link], person_links: list[Link]) -> list[Link]:
    number = task_number(subject)
    if number is None:
        return []
    tasks = index.tasks_with_number(number)
    if not tasks:
        return []
    if not company_links and not any(has_unblocked_company(lk.entity_id, index) for lk in person_links):
        return []
    return [Link(entity_type="task", entity_id=t, reason="subject_token") for t in tasks]
