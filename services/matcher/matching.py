"""Matcher: the rules of ``decide`` against the directory, the mailboxes and a state store, one
email or a whole batch at a time. No Kafka: ``mailpipe match`` and the unit tests use it as the
service does (MatchStage, stage.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from ..common import metrics
from ..common.errors import PoisonMessage
from ..common.mailboxes import Mailboxes
from ..common.messages import MailFilter, ParsedEmail, Template
from .batch import Compute, Pending, reads_of
from .decide import decide, event_time
from .decision import Context, Decision, StateView, Writes
from .directory import EntityIndex
from .state import MemoryState, StateStore


class Matcher:
    """The rules against the directory, the mailboxes and a state store; no Kafka."""

    def __init__(self, index: EntityIndex, mailboxes: Mailboxes | None = None, state: StateStore | None = None,
                 global_filters: Sequence[MailFilter] = (), no_files: bool = False,
                 shared_hosts_match_all: bool = False, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 templates: Mapping[str, Template] | None = None):
        self.index, self.mailboxes = index, mailboxes or Mailboxes()
        self.state: StateStore = state if state is not None else MemoryState()
        self.global_filters, self.no_files, self.shared = list(global_filters), no_files, shared_hosts_match_all
        self.clock, self.templates = clock, dict(templates or {})

    def _context(self) -> Context:
        return Context(self.index, self.mailboxes.configs, self.mailboxes.own_addresses, self.global_filters,
                       self.no_files, self.shared, self.templates)

    def match(self, email: ParsedEmail, generation: int = 0) -> Decision:
        """The email's decision: the stored one when it is current for ``generation``
        (state.stored_is_current), else decided now and stored."""
        outcome = self._decide([(email, generation)], batched=False)[0]
        if isinstance(outcome, PoisonMessage):
            raise outcome
        return outcome

    def match_batch(self, emails: Sequence[tuple[ParsedEmail, int]]) -> list[Decision | PoisonMessage]:
        """Each (email, generation)'s decision, in order, decided as one step of the state store
        (one PostgreSQL transaction): as ``match`` one after the other would decide them; a
        PoisonMessage for an email whose values the store refuses."""
        return self._decide(emails, batched=True)

    def _decide(self, emails: Sequence[tuple[ParsedEmail, int]], batched: bool) -> list[Decision | PoisonMessage]:
        if not emails:
            return []
        ctx, now = self._context(), self.clock()
        computed = [False] * len(emails)

        def compute_for(n: int, email: ParsedEmail) -> Compute:
            def compute(view: StateView) -> tuple[Decision, Writes]:
                computed[n] = True
                return decide(email, ctx, view, now)
            return compute

        items = [Pending(e.sighting.mailbox_id, e.email_id, event_time(e, now), compute_for(n, e), generation,
                         reads_of(e)) for n, (e, generation) in enumerate(emails)]
        if batched:
            outcomes = self.state.decide_batch(items)
        else:
            i = items[0]
            outcomes = [self.state.decide_once(i.mailbox_id, i.email_id, i.at, i.compute, i.generation)]
        metrics.DECISIONS_REPLAYED.inc(sum(1 for n, o in enumerate(outcomes)
                                           if not computed[n] and not isinstance(o, PoisonMessage)))
        return outcomes
