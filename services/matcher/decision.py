"""The matcher's decision and what producing it needs: the read-only inputs (``Context``), the
reads of state (``StateView``) and the state changes it returns (``Writes``). Data only; the
rules that fill them are in ``decide.py``."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from ..common.messages import (
    Action,
    Autoreply,
    FileNotCopied,
    FolderRole,
    Link,
    MailboxConfig,
    MailFilter,
    Model,
    Notification,
    Template,
)
from .directory import EntityIndex

CounterKind = Literal["autoreply", "case"]


class StateView(Protocol):
    """What the rules read of the matcher's state (thread index and per-mailbox counters)."""

    def thread_links(self, keys: Sequence[str]) -> list[Link]:
        """Case, task and lead links recorded under any of ``keys`` (Message-IDs and thread roots)."""

    def case_of_thread(self, mailbox_id: str, root: str) -> tuple[str, str] | None:
        """(case id, number) of the case the mailbox created for the thread, if any."""

    def lead_of_sender(self, mailbox_id: str, sender: str) -> str | None: ...

    def round_robin_position(self, mailbox_id: str) -> int: ...

    def count_since(self, mailbox_id: str, kind: CounterKind, sender: str, since: datetime) -> int: ...

    def assigned_cases(self, mailbox_id: str, users: Collection[str]) -> list[tuple[str, str]]:
        """(case id, assignee) of cases the matcher created for these users (for least-busy)."""


@dataclass(frozen=True)
class NewCase:
    case_id: str
    number: str
    mailbox_id: str
    root: str
    assignee: str | None
    team: str | None
    sender: str


@dataclass
class Writes:
    thread: list[tuple[str, Link]] = field(default_factory=list)
    case: NewCase | None = None
    lead: tuple[str, str, str] | None = None  # (mailbox, sender, lead id)
    advance_round_robin: bool = False
    events: list[tuple[CounterKind, str]] = field(default_factory=list)  # (kind, sender)


class Decision(Model):
    """What the matcher decided for one email in one mailbox; stored so a replay repeats it."""

    links: list[Link] = []
    actions: list[Action] = []
    skipped: str | None = None
    files_not_copied: list[FileNotCopied] = []  # each attachment left out of files_to_copy, with its reason
    autoreply: Autoreply | None = None
    folder_role: FolderRole | None = None  # of the folder the email was seen in (the mailbox's folder_roles)
    notify: list[Notification] = []  # followers of the linked records (rules/followers.py)
    generation: int = 0  # the reindex this decision was made for (topics.REINDEX_GENERATION)


@dataclass(frozen=True)
class Context:
    """The read-only inputs: directory, mailboxes, global settings."""

    index: EntityIndex
    mailboxes: Mapping[str, MailboxConfig]
    own_addresses: frozenset[str] = frozenset()
    global_filters: Sequence[MailFilter] = ()
    no_files: bool = False
    shared_hosts_match_all: bool = False
    templates: Mapping[str, Template] = field(default_factory=dict)  # the catalogue, by name
