"""Pure: provider presets and port guessing (reference 000: "if you leave it empty then Microbizz
will try to guess it"; reference 003: Gmail, Microsoft Office365, Yahoo account types)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Protocol = Literal["imap", "pop3"]
Security = Literal["none", "starttls", "tls"]

DEFAULT_PORTS: dict[tuple[str, str], int] = {
    ("imap", "tls"): 993, ("imap", "starttls"): 143, ("imap", "none"): 143,
    ("pop3", "tls"): 995, ("pop3", "starttls"): 110, ("pop3", "none"): 110,
}


@dataclass(frozen=True)
class Preset:
    """A provider's servers. Every preset uses implicit TLS (Microsoft 365 listens on 993, not 443)."""

    name: str
    imap_host: str
    pop3_host: str
    token_url: str | None = None  # OAuth2 token endpoint for XOAUTH2


PRESETS: dict[str, Preset] = {
    "gmail": Preset("gmail", "imap.gmail.com", "pop.gmail.com", "https://oauth2.googleapis.com/token"),
    "microsoft365": Preset("microsoft365", "outlook.office365.com", "outlook.office365.com",
                           "https://login.microsoftonline.com/common/oauth2/v2.0/token"),
    "yahoo": Preset("yahoo", "imap.mail.yahoo.com", "pop.mail.yahoo.com"),
}


def preset_for_host(host: str) -> Preset | None:
    """The preset whose IMAP or POP3 host is ``host`` (case-insensitive), if any."""
    host = host.lower().rstrip(".")
    return next((p for p in PRESETS.values() if host in (p.imap_host, p.pop3_host)), None)


def guess_port(protocol: Protocol, security: Security, host: str) -> int:
    """The port to use when none is given: a preset host always gets its implicit-TLS port (the
    providers close the plain ones), any other host the protocol's standard port for the security
    (993/143 for IMAP, 995/110 for POP3)."""
    if preset_for_host(host) is not None:
        return DEFAULT_PORTS[(protocol, "tls")]
    return DEFAULT_PORTS[(protocol, security)]
