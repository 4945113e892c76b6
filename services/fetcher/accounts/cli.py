"""``mailpipe accounts ...``: manage mailboxes.

Secrets never go on the command line (where ``ps`` shows them): ``--password-env VAR``,
``--password-file PATH``, or a prompt. ``add`` and ``set`` check the setup (log in, list folders)
before saving, and name the field to fix when that fails. Handlers return what the CLI prints
(a JSON document, text lines, or an exit status after a message on stderr).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ...common.errors import ConfigError
from ..errors import MailboxUnavailable
from ..folders import selection
from . import store
from .model import Account
from .ops import EXIT_CHECK_FAILED, Ops, failure_text, with_ops
from .presets import PRESETS
from .secrets import generate_key
from .spec import build_account, load_specs, merge_secrets, resolve_secrets, same_secrets

T = TypeVar("T")


def add_accounts(parser: argparse.ArgumentParser) -> None:
    """The ``accounts`` subcommands and their arguments."""
    accounts = parser.add_subparsers(dest="action", required=True)
    p = accounts.add_parser("generate-key", help="print a new key for MAILPIPE_SECRETS__KEYS")
    p.set_defaults(handler=lambda a: generate_key())
    for name in ("add", "set"):
        p = accounts.add_parser(name, help=f"{name} an account (checked before saving)")
        p.add_argument("id")
        _account_flags(p)
        p.set_defaults(handler=_add if name == "add" else _set)
    p = accounts.add_parser("check", help="check a saved account: log in and list folders")
    p.add_argument("id")
    p.set_defaults(handler=_check)
    p = accounts.add_parser("list", help="every account with its state and last error")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)
    p = accounts.add_parser("show", help="one account (secrets shown as set / not set)")
    p.add_argument("id")
    p.set_defaults(handler=_show)
    p = accounts.add_parser("remove", help="remove an account and its read state")
    p.add_argument("id")
    p.set_defaults(handler=_remove)
    p = accounts.add_parser("folders", help="the server's folders with roles; --select to choose what is read")
    p.add_argument("id")
    p.add_argument("--select", help="comma-separated folders to read (default: keep the selection)")
    p.add_argument("--role", action="append", default=[], metavar="FOLDER=ROLE", help="override a detected role")
    p.set_defaults(handler=_folders)
    p = accounts.add_parser("apply", help="make the accounts match a YAML file (idempotent)")
    p.add_argument("-f", "--file", type=Path, required=True)
    p.add_argument("--no-check", action="store_true", help="save without logging in first")
    p.add_argument("--prune", action="store_true", help="remove accounts that are not in the file")
    p.set_defaults(handler=_apply)
    p = accounts.add_parser("rotate-key", help="re-seal every secret with the first key of MAILPIPE_SECRETS__KEYS")
    p.set_defaults(handler=lambda a: returning(lambda ops: {"resealed": store.rotate_all(ops.conn, ops.box)}))
    from ..tools_cli import register_tools

    register_tools(accounts)


def returning(fn: Callable[[Ops], T]) -> T | int:
    """``fn``'s result with an Ops (``with_ops``), or the exit status with_ops chose for an unknown
    account or a mailbox that cannot be read (its message already on stderr)."""
    result: list[T] = []
    status = with_ops(lambda ops: result.append(fn(ops)))
    return result[0] if result else status


def _account_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--provider", choices=sorted(PRESETS), help="fill server and security for a known provider")
    p.add_argument("--name")
    p.add_argument("--server")
    p.add_argument("--username")
    p.add_argument("--email", help="the mailbox's address (default: the username)")
    p.add_argument("--protocol", choices=["imap", "pop3"])
    p.add_argument("--port", type=int, help="empty: guessed (993/143/995/110, provider presets)")
    p.add_argument("--security", choices=["none", "starttls", "tls"])
    p.add_argument("--ca-file", help="PEM file of a custom CA to trust")
    p.add_argument("--no-verify-certificate", dest="verify_certificate", action="store_false", default=None)
    p.add_argument("--password-env", metavar="VAR")
    p.add_argument("--password-file", metavar="PATH")
    p.add_argument("--auth", choices=["password", "oauth2"])
    p.add_argument("--oauth2-token-url")
    p.add_argument("--oauth2-client-id")
    p.add_argument("--oauth2-client-secret-env", metavar="VAR")
    p.add_argument("--oauth2-refresh-token-env", metavar="VAR")
    p.add_argument("--folders", help="comma-separated folders to read (default INBOX)")
    p.add_argument("--poll-interval", dest="poll_interval_seconds", type=int)
    p.add_argument("--push", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--enabled", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--max-message-bytes", type=int)
    p.add_argument("--options-file", type=Path, help="YAML of the mailbox options (copy files, filters, ...)")
    p.add_argument("--owner", help="owner user (options.owner_user)")
    p.add_argument("--team", help="team (options.team)")
    p.add_argument("--link-to-crm", action=argparse.BooleanOptionalAction, default=None,
                   help="link the mail to CRM records (options.link_to_crm; on by default, reference 004)")
    p.add_argument("--access-user", action="append", metavar="USER",
                   help="a user who may read the mailbox's mail (options.access_users; repeatable, replaces the list)")
    p.add_argument("--access-team", action="append", metavar="TEAM",
                   help="a team whose members may read it (options.access_teams; repeatable, replaces the list)")
    p.add_argument("--smtp-host", help="the outgoing server (smtp.host); --no-smtp removes it")
    p.add_argument("--no-smtp", action="store_true", help="the mailbox sends nothing of its own")
    p.add_argument("--smtp-port", type=int, help="empty: 465 for tls, 587 for starttls, 25 for none")
    p.add_argument("--smtp-security", choices=["none", "starttls", "tls"])
    p.add_argument("--smtp-ca-file", help="PEM file of a custom CA for the outgoing server")
    p.add_argument("--smtp-no-verify-certificate", dest="smtp_verify_certificate", action="store_false",
                   default=None)
    p.add_argument("--smtp-auth", choices=["password", "oauth2", "none"],
                   help="oauth2: XOAUTH2 with the mailbox's own OAuth2 grant (auth oauth2)")
    p.add_argument("--smtp-username", help="empty: the mailbox's username")
    p.add_argument("--smtp-from", dest="smtp_from_address", help="the From address (empty: the mailbox's)")
    p.add_argument("--smtp-password-env", metavar="VAR", help="empty: the mailbox password")
    p.add_argument("--smtp-password-file", metavar="PATH")
    p.add_argument("--sending-file", type=Path, help="YAML of the sending options (default account, shared "
                   "sender, signature)")
    p.add_argument("--use-default-outbound", action=argparse.BooleanOptionalAction, default=None,
                   help="send through the default outbound account (sending.use_default_account)")
    p.add_argument("--no-check", action="store_true", help="save without logging in first")


def _fields_from_flags(a: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    fields = dict(base)
    if a.provider:
        preset = PRESETS[a.provider]
        protocol = a.protocol or fields.get("protocol", "imap")
        fields.update(server=preset.imap_host if protocol == "imap" else preset.pop3_host, security="tls")
        if preset.token_url and a.auth == "oauth2" and not a.oauth2_token_url:
            a.oauth2_token_url = preset.token_url
    for name in ("name", "server", "username", "email", "protocol", "port", "security", "ca_file",
                 "verify_certificate", "auth", "poll_interval_seconds", "push", "enabled", "max_message_bytes"):
        if (value := getattr(a, name)) is not None:
            fields[name] = value
    if a.oauth2_token_url or a.oauth2_client_id:
        fields["oauth2"] = {**(fields.get("oauth2") or {}), **({"token_url": a.oauth2_token_url} if a.oauth2_token_url
                            else {}), **({"client_id": a.oauth2_client_id} if a.oauth2_client_id else {})}
    if a.folders:
        fields["folders"] = [{"name": f.strip()} for f in a.folders.split(",") if f.strip()]
    options = dict(fields.get("options") or {})
    if a.options_file:
        options.update(yaml.safe_load(a.options_file.read_text()) or {})
    if a.owner:
        options["owner_user"] = a.owner
    if a.team:
        options["team"] = a.team
    if a.link_to_crm is not None:
        options["link_to_crm"] = a.link_to_crm
    if a.access_user:
        options["access_users"] = a.access_user
    if a.access_team:
        options["access_teams"] = a.access_team
    fields["options"] = options
    _smtp_fields(a, fields)
    return fields


def _smtp_fields(a: argparse.Namespace, fields: dict[str, Any]) -> None:
    smtp = None if a.no_smtp else dict(fields.get("smtp") or {})
    for name in ("host", "port", "security", "ca_file", "verify_certificate", "auth", "username", "from_address"):
        if smtp is not None and (value := getattr(a, f"smtp_{name}")) is not None:
            smtp[name] = value
    fields["smtp"] = smtp or None
    sending = dict(fields.get("sending") or {})
    if a.sending_file:
        sending.update(yaml.safe_load(a.sending_file.read_text()) or {})
    if a.use_default_outbound is not None:
        sending["use_default_account"] = a.use_default_outbound
    fields["sending"] = sending


def _secret_refs(a: argparse.Namespace) -> dict[str, Any]:
    refs = {k: v for k, v in {"password_env": a.password_env, "password_file": a.password_file,
                              "smtp_password_env": a.smtp_password_env, "smtp_password_file": a.smtp_password_file,
                              "oauth2_client_secret_env": a.oauth2_client_secret_env,
                              "oauth2_refresh_token_env": a.oauth2_refresh_token_env}.items() if v}
    return dict(resolve_secrets(refs, "flags"))


def _add(a: argparse.Namespace) -> Any:
    def go(ops: Ops) -> Any:
        if store.get(ops.conn, a.id) is not None:
            raise ConfigError(f"account {a.id} exists; change it with `mailpipe accounts set {a.id}`")
        account = build_account(_fields_from_flags(a, {"id": a.id}), "flags")
        given = _secret_refs(a)
        if account.auth == "password" and "password" not in given:
            given["password"] = getpass.getpass(f"password for {account.username}: ") if sys.stdin.isatty() else ""
        return _check_and_save(ops, account, merge_secrets(None, given), a.no_check, ask_folders=a.folders is None)
    return returning(go)


def _set(a: argparse.Namespace) -> Any:
    def go(ops: Ops) -> Any:
        stored = ops.stored(a.id)
        account = build_account(_fields_from_flags(a, stored.account.model_dump(mode="json")), "flags")
        return _check_and_save(ops, account, merge_secrets(ops.secrets(stored), _secret_refs(a)), a.no_check, False)
    return returning(go)


def _check_and_save(ops: Ops, account: Account, secrets: Any, no_check: bool, ask_folders: bool) -> Any:
    if not no_check:
        try:
            report = ops.check(account, secrets)
        except MailboxUnavailable as exc:
            print(f"mailpipe accounts: {failure_text(exc)}", file=sys.stderr)
            return EXIT_CHECK_FAILED
        secrets = report.secrets
        chosen = [f.name for f in account.folders]
        if ask_folders and account.protocol == "imap" and sys.stdin.isatty():
            _print_folders(report.roles(), chosen)
            answer = input("folders to read, comma-separated [INBOX]: ").strip()
            chosen = [f.strip() for f in answer.split(",") if f.strip()] or ["INBOX"]
        if account.protocol == "imap":
            try:
                folders = selection(report.folders, chosen, {f.name: f.role for f in account.folders if f.role})
            except ValueError as exc:
                print(f"mailpipe accounts: check failed: folders: {exc}", file=sys.stderr)
                return EXIT_CHECK_FAILED
            account = account.model_copy(update={"folders": folders})
    created = ops.save(account, secrets)
    return {"account": account.id, "created": created, "checked": not no_check,
            "folders": [f.name for f in account.folders if f.sync]}


def _check(a: argparse.Namespace) -> Any:
    def go(ops: Ops) -> dict[str, Any]:
        stored = ops.stored(a.id)
        report = ops.check(stored.account, ops.secrets(stored))
        return {"account": a.id, "ok": True, "messages": report.messages,
                "folders": [{"name": n, "role": r} for n, r in report.roles().items()]}
    return returning(go)


def _list(a: argparse.Namespace) -> Any:
    def go(ops: Ops) -> Any:
        rows: list[dict[str, Any]] = [{"id": s.account.id, "protocol": s.account.protocol, "server": s.account.server,
                 "enabled": s.account.enabled, "push": s.account.push, "held_by": s.status.lease_owner,
                 "last_success": s.status.last_success_at, "failures": s.status.failures,
                 "last_error": f"{s.status.last_error_kind}: {s.status.last_error}" if s.status.last_error else None,
                 "next_run": s.status.next_run_at} for s in store.all_accounts(ops.conn)]
        return rows if a.json else _list_lines(rows)
    return returning(go)


def _list_lines(rows: list[dict[str, Any]]) -> Iterator[str]:
    yield f"{'ID':<24} {'PROTO':<5} {'ON':<3} {'PUSH':<4} {'LAST SUCCESS':<20} {'FAIL':>4}  LAST ERROR"
    for r in rows:
        when = r["last_success"].strftime("%Y-%m-%d %H:%M:%S") if r["last_success"] else "never"
        yield (f"{r['id']:<24} {r['protocol']:<5} {'yes' if r['enabled'] else 'no':<3} "
               f"{'yes' if r['push'] else 'no':<4} {when:<20} {r['failures']:>4}  {r['last_error'] or ''}")


def _show(a: argparse.Namespace) -> Any:
    def go(ops: Ops) -> dict[str, Any]:
        stored = ops.stored(a.id)
        secrets = ops.secrets(stored)
        doc = stored.account.model_dump(mode="json")
        doc["effective_port"] = stored.account.effective_port
        doc["secrets"] = {k: "set" if v is not None else "not set" for k, v in secrets if k != "oauth2_expires_at"}
        doc["status"] = stored.status.__dict__
        return doc
    return returning(go)


def _remove(a: argparse.Namespace) -> Any:
    return returning(lambda ops: {"account": a.id, "removed": ops.remove(a.id)})


def _folders(a: argparse.Namespace) -> Any:
    def go(ops: Ops) -> Iterator[str]:
        stored = ops.stored(a.id)
        report = ops.check(stored.account, ops.secrets(stored))
        roles = dict(r.split("=", 1) for r in a.role)
        chosen = [f.strip() for f in a.select.split(",")] if a.select else [f.name for f in stored.account.folders]
        if a.select or roles:
            try:
                folders = selection(report.folders, chosen, {**{f.name: f.role for f in stored.account.folders
                                                                if f.role}, **roles})
                account = build_account({**stored.account.model_dump(mode="json"),
                                         "folders": [f.model_dump() for f in folders]})
            except ValueError as exc:
                raise ConfigError(f"folders: {exc}") from None
            ops.save(account, report.secrets)
        return iter(_folder_lines(report.roles() | roles, chosen))
    return returning(go)


def _apply(a: argparse.Namespace) -> Any:
    def go(ops: Ops) -> tuple[dict[str, list[str]], int]:
        result: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": [], "removed": [], "failed": []}
        wanted = load_specs(a.file)
        for account, given in wanted:
            stored = store.get(ops.conn, account.id)
            current = ops.secrets(stored) if stored else None
            secrets = merge_secrets(current, given)
            if stored and stored.account == account and current and same_secrets(current, secrets):
                result["unchanged"].append(account.id)
                continue
            if not a.no_check:
                try:
                    secrets = ops.check(account, secrets).secrets
                except MailboxUnavailable as exc:
                    print(f"mailpipe accounts apply: {account.id}: {failure_text(exc)}", file=sys.stderr)
                    result["failed"].append(account.id)
                    continue
            result["created" if ops.save(account, secrets) else "updated"].append(account.id)
        if a.prune:
            keep = {acc.id for acc, _ in wanted}
            for s in store.all_accounts(ops.conn):
                if s.account.id not in keep and ops.remove(s.account.id):
                    result["removed"].append(s.account.id)
        return result, EXIT_CHECK_FAILED if result["failed"] else 0
    return returning(go)


def _folder_lines(roles: dict[str, Any], chosen: list[str]) -> list[str]:
    return [f"  [{'x' if name in chosen else ' '}] {name:<40} {role or ''}"
            for name, role in sorted(roles.items(), key=lambda kv: (kv[0] != "INBOX", kv[0].lower()))]


def _print_folders(roles: dict[str, Any], chosen: list[str]) -> None:
    for line in _folder_lines(roles, chosen):  # shown before the interactive prompt, so printed here
        print(line)


