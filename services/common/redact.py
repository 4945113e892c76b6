"""Secrets kept out of every message mailpipe logs or raises.

Two nets: the secret values the process was configured with (``register``, called for every
``SecretStr`` setting when settings are read) are replaced wherever they appear, and credentials
in the shapes libraries print them (``scheme://user:password@host``, ``password=...`` in a
connection string) are masked even when nobody registered them.
"""

from __future__ import annotations

import re

MASK = "**********"
_MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words; nobody's password is that short
_secrets: set[str] = set()

# user:password@ after "//", a quote, a bracket or a blank: URLs, also malformed ones ("postgresql//...").
# The runs are bounded so a long line cannot make the search quadratic (it runs on every log field).
_URL_PASSWORD = re.compile(r"(?P<head>(?:^|//|[\s\"'(<=])[^\s:/@\"'<>=]{0,256}:)(?P<secret>[^@\s\"'<>/]{1,256})(?=@)")
_KEY_VALUE = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|sslpassword|secret|secret_access_key|token|api_token)\s*=\s*)"
    r"(?P<secret>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s,;&\"']+)", re.IGNORECASE)


def register(value: str | None) -> None:
    """Remember ``value`` as a secret: ``redact`` masks it from now on in this process."""
    if value and len(value) >= _MIN_SECRET_CHARS:
        _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with registered secrets and URL or key=value credentials masked. Pure but for the
    registry; never raises."""
    for secret in sorted(_secrets, key=len, reverse=True):  # a secret containing another first
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    return _KEY_VALUE.sub(lambda m: m["head"] + MASK, text)
