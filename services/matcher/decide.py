"""One email in, its links, actions and state changes out: the rules of ``rules/`` in their order
(the types they fill are in ``decision.py``).

Pure: every read of state goes through a ``StateView`` and every change comes back as ``Writes``
for the state store to apply in the same transaction that records the decision.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..common.messages import (
    Action,
    Address,
    Answered,
    Autoreply,
    AutoresponseRule,
    FileCopy,
    FileNotCopied,
    Link,
    MailboxConfig,
    MailboxOptions,
    OutOfOffice,
    ParsedEmail,
)
from .decision import Context, Decision, NewCase, StateView, Writes
from .directory import EntityIndex
from .rules import (
    addresses,
    autoreply,
    cases,
    companies,
    crmlinks,
    filecopy,
    filters,
    followers,
    leads,
    loops,
    persons,
    tasks,
    threads,
)


def event_time(email: ParsedEmail, now: datetime) -> datetime:
    """The time rate limits count with: the server's arrival time, else the Date header, else now
    (a time without an offset, from an older parser, is UTC)."""
    at = email.internal_date or email.date or now
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def decide(email: ParsedEmail, ctx: Context, state: StateView, now: datetime) -> tuple[Decision, Writes]:
    """The decision for one email of one mailbox, and the state it writes; it names the role of
    the folder the email was seen in (references 003, 004: a sent-role folder holds outgoing mail)."""
    box = ctx.mailboxes.get(email.sighting.mailbox_id)
    role = box.folder_roles.get(email.sighting.folder) if box is not None else None
    decision, writes = _decide(email, ctx, state, now, box, outgoing=role == "sent")
    return (decision.model_copy(update={"folder_role": role}) if role else decision), writes


def _decide(email: ParsedEmail, ctx: Context, state: StateView, now: datetime, box: MailboxConfig | None,
            outgoing: bool) -> tuple[Decision, Writes]:
    mailbox_id = email.sighting.mailbox_id
    opts = box.options if box is not None else MailboxOptions()
    writes = Writes()

    hit = filters.first_matching_filter(email, ctx.global_filters)
    scope = "global"
    if hit is None:  # reference 001: a user's own filters apply to every mailbox the user owns
        hit, scope = filters.first_matching_filter(email, ctx.index.user_filters(opts.owner_user)), "user"
    if hit is None:
        hit, scope = filters.first_matching_filter(email, opts.filters), "mailbox"
    if hit is not None:
        reason = f"filter:{scope}:{hit.name or 'unnamed'}"
        return Decision(skipped=reason, actions=[Action(kind="skipped", reason=reason)]), writes

    if not opts.link_to_crm:  # reference 004's switch: stored as it is (the options refuse what needs links)
        _, not_copied = filecopy.split_attachments(email.attachments, opts, [], ctx.no_files)
        return Decision(files_not_copied=not_copied), writes

    index = ctx.index
    # Outgoing mail is matched on its recipients, the counterpart; its From is the mailbox's user.
    counterpart = email.model_copy(update={"from_": []}) if outgoing else email
    person_links = persons.person_links(counterpart, index)
    company_links = companies.company_links(counterpart, index, ctx.shared_hosts_match_all)
    task_links = tasks.task_links(email.subject, index, company_links, person_links)
    # The thread's task passes the token's guard, and the subject's own task wins over it.
    inherited = tasks.thread_links(threads.inherited_links(state.thread_links(threads.thread_keys(email))),
                                   task_links, tasks.guard_passes(index, company_links, person_links))
    deals = crmlinks.lead_links(counterpart, index) + crmlinks.opportunity_links(index, company_links, person_links)
    links = _merge(person_links + company_links + task_links + deals, inherited)

    if opts.only_task_mails and not any(lk.entity_type == "task" for lk in links):
        reason = "no_task_association"
        return Decision(skipped=reason, actions=[Action(kind="skipped", reason=reason)]), writes

    sender_addr = addresses.first_sender(email)
    sender = sender_addr.address.strip().lower() if sender_addr else None
    loop = loops.loop_reason(email, sender, ctx.own_addresses, outgoing)
    at = event_time(email, now)
    root = threads.thread_root(email)
    actions: list[Action] = []
    case_number: str | None = None
    held = False
    p = opts.processing

    if p.action == "case":
        joined = _existing_case(links, state, mailbox_id, root, index)
        if joined is not None:
            cid, case_number, why = joined
            links = _merge(links, [Link(entity_type="case", entity_id=cid, reason=why)])
            actions.append(Action(kind="case_joined", reason=why, entity_id=cid, number=case_number, as_note=True))
        elif loop is not None:
            actions.append(Action(kind="skipped", reason=f"no_case:{loop}"))
        elif sender is not None and loops.case_flood(
                state.count_since(mailbox_id, "case", sender, at - loops.WINDOW)):
            held = True
            actions.append(Action(kind="case_held", reason="sender_case_flood"))
        else:
            cid = cases.case_id(mailbox_id, root)
            case_number = cases.case_number(cid)
            # Only least-busy weighs the load (a read of every recent case of the mailbox).
            pending = _pending_load(state, mailbox_id, index, p.case_team) \
                if p.case_distribution == "least_busy" else {}
            who = cases.distribute(p, index, state.round_robin_position(mailbox_id), pending)
            company = next((lk.entity_id for lk in links if lk.entity_type == "company"), None)
            person = next((lk.entity_id for lk in links if lk.entity_type == "person"), None)
            links = _merge(links, [Link(entity_type="case", entity_id=cid, reason="case_created")])
            actions.append(Action(kind="case_created", reason=who.reason, entity_id=cid, number=case_number,
                                  assignee=who.assignee, team=who.team, company_id=company, person_id=person))
            writes.case = NewCase(cid, case_number, mailbox_id, root, who.assignee, who.team, sender or "")
            writes.advance_round_robin = who.advances_round_robin
            if sender:
                writes.events.append(("case", sender))
    elif p.action == "lead":
        _lead(email, links, actions, writes, state, index, mailbox_id, root, sender, loop, p.owner_user,
              p.lead_source)
        links = _merge(links, [Link(entity_type="lead", entity_id=a.entity_id, reason=a.kind)
                               for a in actions if a.entity_id and a.kind in ("lead_created", "lead_linked")])

    reply: Autoreply | None = None
    response = _response_for(email, opts, box, at)
    if response is not None:
        label = f"rule:{response.name}" if isinstance(response, AutoresponseRule) else "out_of_office"
        suppressed = loop or ("null_return_path" if email.return_path == "" else None) or (
            "sender_case_flood" if held else None)
        if suppressed is None and (sender is None or loops.autoreply_limited(
                state.count_since(mailbox_id, "autoreply", sender, at - loops.WINDOW))):
            suppressed = "sender_autoreply_limit"
        rendered = None
        if suppressed is None:
            assert sender_addr is not None and sender is not None
            person = next((lk.entity_id for lk in links if lk.entity_type == "person"), None)
            languages = [index.language_of(person) if person else None, email.content_language, opts.language]
            rendered = autoreply.render_response(response, ctx.templates, languages,
                                                 sender_addr.name or sender, email.subject, case_number)
            suppressed = "template_missing" if rendered is None else None
        if suppressed is not None or rendered is None or sender_addr is None:
            actions.append(Action(kind="autoreply_suppressed", reason=suppressed))
        else:
            case = next((lk.entity_id for lk in links if lk.entity_type == "case"), None)
            reply = _autoreply(email, mailbox_id, box, label, response, rendered, sender_addr, case)
            actions.append(Action(kind="autoreply_queued", reason=label, entity_id=case))
            writes.events.append(("autoreply", sender or ""))

    copies, not_copied = _file_copies(email, opts, links, ctx.no_files, index)
    if copies:
        actions.append(Action(kind="files_to_copy", reason=f"copy_files:{opts.copy_files}", copies=copies))

    for lk in links:
        if lk.entity_type in threads.INHERITED:
            for key in threads.index_keys(email):
                writes.thread.append((key, lk))
    return Decision(links=links, actions=actions, autoreply=reply, files_not_copied=not_copied,
                    notify=followers.notifications(email, links, index)), writes


def _response_for(email: ParsedEmail, opts: MailboxOptions, box: MailboxConfig | None, at: datetime
                  ) -> AutoresponseRule | OutOfOffice | None:
    """The first rule that holds; else the out-of-office notice when it is in force and the email
    names the mailbox in To or Cc (RFC 3834 §2: a personal notice answers only mail addressed to it)."""
    rule = autoreply.first_rule(email, opts.autoresponse_rules)
    if rule is not None:
        return rule
    ooo = opts.out_of_office
    own = set(box.own_addresses) if box is not None else set()
    if ooo is not None and ooo.in_force(at) and any(a.address.lower() in own for a in [*email.to, *email.cc]):
        return ooo
    return None


def _autoreply(email: ParsedEmail, mailbox_id: str, box: MailboxConfig | None, label: str,
               response: AutoresponseRule | OutOfOffice, rendered: autoreply.Rendered, sender: Address,
               case: str | None) -> Autoreply:
    """The response to send, to the Return-Path when delivery recorded one (RFC 3834 §4), else From."""
    to = Address(address=email.return_path, name=sender.name) if email.return_path else sender
    ooo = response if isinstance(response, OutOfOffice) else None
    return Autoreply(email_id=email.email_id, mailbox_id=mailbox_id, rule=label.removeprefix("rule:"), to=to,
                     from_address=box.own_addresses[0] if box and box.own_addresses else None,
                     subject=rendered.subject, body=rendered.body, format=rendered.format,
                     in_reply_to=email.message_id,
                     references=[*email.references, *([email.message_id] if email.message_id else [])],
                     case_id=case, kind="out_of_office" if ooo else "autoreply", language=rendered.language,
                     answered=Answered(auto_submitted_reasons=email.auto_submitted_reasons,
                                       bounce=email.bounce is not None, return_path=email.return_path),
                     once_per_seconds=ooo.period_days * 86400 if ooo else None)


def _merge(first: list[Link], more: list[Link]) -> list[Link]:
    seen = {(lk.entity_type, lk.entity_id) for lk in first}
    out = list(first)
    for lk in more:
        if (lk.entity_type, lk.entity_id) not in seen:
            seen.add((lk.entity_type, lk.entity_id))
            out.append(lk)
    return out


def _existing_case(links: list[Link], state: StateView, mailbox_id: str, root: str,
                   index: EntityIndex) -> tuple[str, str, str] | None:
    """(case id, number, reason) of the case the thread already has: one an earlier email of the
    thread is linked to (any mailbox), else the one this mailbox created for the root."""
    for lk in links:
        if lk.entity_type == "case":
            c = index.cases.get(lk.entity_id)
            number = str(c.number) if c is not None and c.number is not None else cases.case_number(lk.entity_id)
            return lk.entity_id, number, "thread"
    found = state.case_of_thread(mailbox_id, root)
    return (found[0], found[1], "thread_root") if found else None


def _pending_load(state: StateView, mailbox_id: str, index: EntityIndex, team: str | None) -> dict[str, int]:
    if not team:
        return {}
    load: dict[str, int] = {}
    for cid, user in state.assigned_cases(mailbox_id, cases.active_team_users(index, team)):
        if not index.has_case(cid):  # once the CRM publishes the case, the directory counts it
            load[user] = load.get(user, 0) + 1
    return load


def _lead(email: ParsedEmail, links: list[Link], actions: list[Action], writes: Writes, state: StateView,
          index: EntityIndex, mailbox_id: str, root: str, sender: str | None, loop: str | None,
          owner: str | None, source: str | None) -> None:
    inherited = next((lk.entity_id for lk in links if lk.entity_type == "lead"), None)
    if inherited:
        actions.append(Action(kind="lead_linked", reason="thread", entity_id=inherited))
        return
    if sender is None or loop is not None:
        actions.append(Action(kind="skipped", reason=f"no_lead:{loop or 'no_sender'}"))
        return
    known = state.lead_of_sender(mailbox_id, sender)
    covered = leads.covered_by(sender, index, [lk for lk in links if lk.entity_type == "person"], known)
    if covered == "person":
        actions.append(Action(kind="skipped", reason="no_lead:sender_is_a_person"))
        return
    if covered == "lead":
        lid = known or index.leads_with_address(sender)[0]
        actions.append(Action(kind="lead_linked", reason="sender_has_lead", entity_id=lid))
        return
    lid = cases.lead_id(mailbox_id, root)
    company = next((lk.entity_id for lk in links if lk.entity_type == "company"), None)
    actions.append(Action(kind="lead_created", reason=f"source:{source or 'email'}", entity_id=lid,
                          assignee=owner, company_id=company))
    writes.lead = (mailbox_id, sender, lid)


def _file_copies(email: ParsedEmail, opts: MailboxOptions, links: list[Link], no_files: bool,
                 index: EntityIndex) -> tuple[list[FileCopy], list[FileNotCopied]]:
    """Reference 000 (rules/filecopy.py): the files that pass, to the subject's task and company
    folders, and the others with their reasons."""
    files, not_copied = filecopy.split_attachments(email.attachments, opts, links, no_files, index)
    if not files:
        return [], not_copied
    return [FileCopy(target_type=kind, target_id=tid, folder=opts.files_folder,
                     object_keys=[a.object_key for a in files], filenames=[a.filename for a in files])
            for kind, tid in filecopy.copy_targets(opts, links, index)], not_copied
