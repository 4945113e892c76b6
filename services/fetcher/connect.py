"""Opening logged-in IMAP and POP3 connections, and naming what went wrong when that fails.

Every library and socket exception is translated here into MailboxUnavailable with a kind, the
account field to check and a cause an operator can act on. Blocks on the network for at most
``timeout`` seconds per step.
"""

from __future__ import annotations

import base64
import imaplib
import poplib
import socket
import ssl
from collections.abc import Callable
from typing import Any

from .accounts.model import Account
from .errors import MailboxUnavailable

TokenProvider = Callable[[], str]  # returns a fresh XOAUTH2 access token


def tls_context(account: Account) -> ssl.SSLContext | None:
    """The TLS context for ``account``: verifying (with its custom CA if any) unless the operator
    turned verification off for this mailbox; None for security none."""
    if account.security == "none":
        return None
    ctx = ssl.create_default_context(cafile=account.ca_file)
    if not account.verify_certificate:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def describe_greeting(line: bytes) -> str:
    """Pure: which protocol a server greeting belongs to."""
    text = line.decode("latin-1", "replace").strip()
    if text.startswith(("* OK", "* PREAUTH", "* BYE")):
        return "IMAP"
    if text.startswith(("+OK", "-ERR")):
        return "POP3"
    if text[:3].isdigit():
        return "SMTP or FTP"
    if text.startswith(("HTTP/", "SSH-")):
        return text.split("/")[0].split("-")[0]
    return f"an unknown protocol ({text[:60]!r})" if text else "nothing (the server sent no greeting)"


def translate(exc: BaseException, account: Account) -> MailboxUnavailable:
    """Pure: the MailboxUnavailable for a library or socket exception."""
    where = f"{account.server}:{account.effective_port}"
    if isinstance(exc, MailboxUnavailable):
        return exc
    if isinstance(exc, socket.gaierror):
        return MailboxUnavailable("host_unknown", "server", f"host unknown: {account.server!r} does not resolve")
    if isinstance(exc, ConnectionRefusedError):
        return MailboxUnavailable("connection_refused", "port", f"connection refused: nothing listens on {where}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
        field = "server" if "hostname" in why.lower() else "ca_file"
        return MailboxUnavailable("certificate_untrusted", field,
                                  f"certificate not trusted: {why} (set ca_file to the server's CA, or check the "
                                  "server name)")
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None)  # set by the ssl module; absent on hand-made errors
        hint = (" — the port does not speak TLS: use the TLS port, or security starttls/none"
                if reason == "WRONG_VERSION_NUMBER" else "")
        return MailboxUnavailable("tls_handshake", "security", f"TLS handshake failed: {reason or exc}{hint}")
    if isinstance(exc, TimeoutError | socket.timeout):
        hint = " (no greeting: does the port expect TLS? try security tls)" if account.security != "tls" else ""
        return MailboxUnavailable("timeout", "server", f"timed out talking to {where}{hint}")
    if isinstance(exc, imaplib.IMAP4.error) and "FETCH FAILED" in str(exc).upper():
        # the server itself could not deliver a message (a damaged file, say): not the network
        return MailboxUnavailable("message_unreadable", "server", f"the server failed a FETCH: {_text(exc)}")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | EOFError | imaplib.IMAP4.abort):
        return MailboxUnavailable("connection_lost", "server", f"connection to {where} lost: {exc}")
    if isinstance(exc, OSError):
        return MailboxUnavailable("connection_lost", "server", f"network error with {where}: {exc}")
    from imapclient.exceptions import IMAPClientAbortError, LoginError

    if isinstance(exc, LoginError):
        field = "password" if account.auth == "password" else "oauth2"
        return MailboxUnavailable("auth_failed", field, f"authentication failed: {_text(exc)}")
    if isinstance(exc, IMAPClientAbortError):
        return MailboxUnavailable("connection_lost", "server", f"connection to {where} lost: {exc}")
    return MailboxUnavailable("protocol", "server", f"{type(exc).__name__}: {_text(exc)}")


def probe(account: Account, timeout: float) -> str:
    """Connect (and TLS-handshake for security tls) and read the greeting line; returns the
    protocol it belongs to. Raises MailboxUnavailable naming the failure."""
    try:
        sock = socket.create_connection((account.server, account.effective_port), timeout=timeout)
    except OSError as exc:
        raise translate(exc, account) from exc
    try:
        ctx = tls_context(account)
        if account.security == "tls" and ctx is not None:
            sock = ctx.wrap_socket(sock, server_hostname=account.server)
        line = sock.makefile("rb").readline(512)
    except OSError as exc:
        raise translate(exc, account) from exc
    finally:
        sock.close()
    return describe_greeting(line)


def open_imap(account: Account, secret: str, timeout: float) -> Any:
    """A logged-in imapclient.IMAPClient. ``secret`` is the password, or the access token for
    XOAUTH2. Raises MailboxUnavailable."""
    from imapclient import IMAPClient

    ctx = tls_context(account)
    try:
        client = IMAPClient(account.server, port=account.effective_port, ssl=account.security == "tls",
                            ssl_context=ctx, timeout=timeout)
    except imaplib.IMAP4.error as exc:
        raise _wrong_protocol(account, "IMAP", timeout) from exc
    except Exception as exc:
        raise translate(exc, account) from exc
    # imapclient sets imaplib's debug level and routes every protocol line to a logger, formatting
    # each one even when nobody logs it: 4-7x slower on large mail.
    client._imap.debug = 0
    try:
        if account.security == "starttls":
            if b"STARTTLS" not in client.capabilities():
                raise MailboxUnavailable("tls_handshake", "security", "the server does not offer STARTTLS")
            client.starttls(ctx)
        if account.auth == "oauth2":
            client.oauth2_login(account.username, secret)
        else:
            client.login(account.username, secret)
    except Exception as exc:
        _close_quietly(client.shutdown)
        raise translate(exc, account) from exc
    return client


def open_pop3(account: Account, secret: str, timeout: float) -> poplib.POP3:
    """A logged-in poplib connection (USER/PASS, or AUTH XOAUTH2). Raises MailboxUnavailable."""
    ctx = tls_context(account)
    try:
        if account.security == "tls":
            pop: poplib.POP3 = poplib.POP3_SSL(account.server, account.effective_port, context=ctx, timeout=timeout)
        else:
            pop = poplib.POP3(account.server, account.effective_port, timeout=timeout)
    except poplib.error_proto as exc:
        raise MailboxUnavailable("wrong_protocol", "protocol",
                                 f"the server on port {account.effective_port} speaks "
                                 f"{describe_greeting(_raw(exc))}, not POP3") from exc
    except Exception as exc:
        raise translate(exc, account) from exc
    try:
        if account.security == "starttls":
            pop.stls(ctx)
        if account.auth == "oauth2":
            token = base64.b64encode(f"user={account.username}\x01auth=Bearer {secret}\x01\x01".encode()).decode()
            # poplib has no AUTH command: its own command/response primitives speak it
            answer = pop._shortcmd(f"AUTH XOAUTH2 {token}")  # type: ignore[attr-defined]
            if not answer.startswith(b"+OK"):
                # a SASL challenge carrying the error details (RFC 7628 §3.2.3): answer it empty to
                # get the verdict, which is -ERR (raised as error_proto below)
                pop._putcmd("")  # type: ignore[attr-defined]
                pop._getresp()  # type: ignore[attr-defined]
        else:
            pop.user(account.username)
            pop.pass_(secret)
    except poplib.error_proto as exc:
        _close_quietly(pop.close)
        if account.security == "starttls" and b"STLS" in _raw(exc).upper():
            raise MailboxUnavailable("tls_handshake", "security", f"STARTTLS refused: {_text(exc)}") from exc
        field = "password" if account.auth == "password" else "oauth2"
        raise MailboxUnavailable("auth_failed", field, f"authentication failed: {_text(exc)}") from exc
    except Exception as exc:
        _close_quietly(pop.close)
        raise translate(exc, account) from exc
    return pop


def _wrong_protocol(account: Account, expected: str, timeout: float) -> MailboxUnavailable:
    try:
        spoken = probe(account, timeout)
    except MailboxUnavailable as exc:
        return exc
    if spoken == expected:
        return MailboxUnavailable("protocol", "server", f"the {expected} greeting could not be read")
    return MailboxUnavailable("wrong_protocol", "protocol",
                              f"the server on port {account.effective_port} speaks {spoken}, not {expected}")


def _raw(exc: BaseException) -> bytes:
    arg = exc.args[0] if exc.args else b""
    return arg if isinstance(arg, bytes) else str(arg).encode()


def _text(exc: BaseException) -> str:
    text = _raw(exc).decode("utf-8", "replace").strip()
    if text.startswith(("b'", 'b"')) and text[-1:] == text[1]:  # imapclient puts a bytes repr in its errors
        text = text[2:-1]
    return text or type(exc).__name__


def _close_quietly(close: Callable[[], object]) -> None:
    try:
        close()
    except Exception:  # already broken; the original error is the one worth reporting
        pass
