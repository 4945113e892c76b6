"""Every use the parser makes of CPython's private ``email`` internals, in one place.

The parser's fast paths (tree.py, split.py, headers.py) build the same ``Message`` tree and the
same decoded values as the stdlib, only faster; to do that they read and write a few things the
stdlib keeps private. Each is one small function here, with why it is used and what breaks on
another Python version; no other parser module touches a private name of the ``email`` package
(tests/unit/test_parser_private_api.py checks both the shapes below and that rule).

At import, ``check()`` verifies each internal exists with the shape relied on (CPython 3.11).
Where a public path gives the same result (the RFC 2047 word decoder, the base64 body decoder)
a missing internal switches to that path: slower, same output. Where none does (a Message's raw
payload and header list, the parameter-parsing hook) the import fails with one message naming
the Python version and the internal: silently different parsing would be worse than none.

Savings quoted below were measured on the shared 2-core box (2026-11-30, other load present;
best of 5 repeats), against the public way of doing the same.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from email import policy
from email.message import Message
from typing import Any, TypeVar

_M = TypeVar("_M", bound=type[Message])
_VERSION = f"Python {sys.version.split()[0]}"


class CPythonEmailChanged(ImportError):
    """The email package lacks an internal the parser relies on (a Python other than 3.11)."""


def raw_payload(part: Message) -> Any:
    """The payload exactly as the parser stored it: a list of parts, or the transfer-encoded
    body as a str (8-bit bytes as surrogate escapes). ``get_payload()`` re-decodes a str payload
    holding surrogates with the part's charset (lossy, and a charset lookup per call), so the
    body's bytes could not be recovered from it (0.05 µs against 37 µs for a 10 KB 8-bit leaf);
    ``Message._payload`` has been the attribute since Python 2. Breaks (AttributeError) if a
    Python renames it: check() fails first."""
    return part._payload  # type: ignore[attr-defined]


def adopt_headers(part: Message, headers: list[tuple[str, str]]) -> None:
    """Give ``part`` the parsed (name, raw value) list as its headers, as the feed parser does
    through ``policy.header_source_parse``: assigning the list skips one ``set_raw()`` call per
    header (0.9 µs against 2.0 µs for a part of 20 headers; split.py builds every header block
    of well-formed mail this way). Breaks if
    ``Message`` stops keeping its headers in ``_headers``: check() fails first."""
    part._headers = headers  # type: ignore[attr-defined]


def base_params(part: Message, failobj: Any, header: str) -> Any:
    """``Message``'s own parameter list of ``header`` (what get_param/get_params/get_boundary/
    get_content_charset read), bypassing a subclass's override (see route_params)."""
    return Message._get_params_preserve(part, failobj, header)  # type: ignore[attr-defined]


def route_params(cls: _M, method: Callable[..., Any]) -> _M:
    """Make ``cls``'s get_param, get_params, get_boundary and get_content_charset go through
    ``method(self, failobj, header)``: they all call ``Message._get_params_preserve``, which
    re-parses the header every time; split.FastMessage caches it per distinct header value
    (``text/plain; charset=utf-8`` recurs in most mail): parsing the small corpus of
    bench/_common.py takes 196 µs a message with the cache, 286 µs without. Breaks silently (no cache, same
    results) if a Python stops routing those methods through that hook, loudly if it renames
    or re-signs it: check() tests both."""
    setattr(cls, "_get_params_preserve", method)  # noqa: B010  # the private name stays in this module
    return cls


def _decode_b_public(encoded: bytes) -> tuple[bytes, list[Any]]:
    """decode_b through public API: a compat32 part's ``get_payload(decode=True)`` (which is
    decode_b in 3.11), its defects collected."""
    probe = Message(policy=policy.compat32)
    probe["Content-Transfer-Encoding"] = "base64"
    probe.set_payload(encoded.decode("ascii", "surrogateescape"))
    value = probe.get_payload(decode=True)
    return (value if isinstance(value, bytes) else b""), list(probe.defects)


def _decode_word_absent(word: str) -> tuple[str, str, str, list[Any]]:
    raise LookupError("email._encoded_words.decode is not available")  # the caller's fast path declines


try:  # the RFC 2047 and base64 decoders policy.default and Message.get_payload use
    _ew = importlib.import_module("email._encoded_words")  # typeshed has no stubs for it

    _decode_b: Callable[[bytes], tuple[bytes, list[Any]]] = _ew.decode_b
    _decode_word: Callable[[str], tuple[str, str, str, list[Any]]] = _ew.decode
except (ImportError, AttributeError):  # pragma: no cover  # another Python: the public paths
    _decode_b, _decode_word = _decode_b_public, _decode_word_absent


def decode_b(encoded: bytes) -> tuple[bytes, list[Any]]:
    """A base64 body (line ends removed) decoded as ``get_payload(decode=True)`` decodes it, with
    the same defects (``email._encoded_words.decode_b``). Calling it directly saves a probe part
    per body and, above all, two copies of the encoded body (a str, then bytes again) on large
    bodies that are not one placeholder run (time: 21 µs against 24 µs for a 3 KB body). On a
    Python without it, the probe path: same bytes and defects."""
    return _decode_b(encoded)


def decode_encoded_word(word: str) -> tuple[str, str, str, list[Any]]:
    """One RFC 2047 encoded word as policy.default's header registry decodes it: (text, charset,
    language, defects) from ``email._encoded_words.decode``. headers.fast_unstructured and
    fast_mailboxes use it to skip the registry's parser for plain encoded subjects and names (a
    Subject of two encoded words: 12 µs against 42 µs through the registry).
    On a Python without it this raises LookupError, which the caller treats as "not fast":
    every value then goes through the registry (same text, slower)."""
    return _decode_word(word)


# name -> (parameter names, whether the public fallback covers its absence)
_SHAPES: dict[str, tuple[tuple[str, ...], bool]] = {
    "email._encoded_words.decode": (("ew",), True),
    "email._encoded_words.decode_b": (("encoded",), True),
    "email.message.Message._get_params_preserve": (("self", "failobj", "header"), False),
}
_HOOK_CALLERS = ("get_params", "get_param")
_INSTANCE_ATTRIBUTES = ("_payload", "_headers")


def problems() -> list[str]:
    """What differs from the shapes relied on: one readable line per internal, empty when all
    are as in CPython 3.11. Each line says whether the parser falls back or cannot run."""
    found: list[str] = []
    probe = Message()
    for attr in _INSTANCE_ATTRIBUTES:
        if attr not in vars(probe):
            found.append(f"email.message.Message instances have no {attr} attribute (fatal)")
    if not isinstance(vars(probe).get("_headers"), list):
        found.append("email.message.Message._headers is not a list (fatal)")
    objects = {"email._encoded_words.decode": _decode_word, "email._encoded_words.decode_b": _decode_b,
               "email.message.Message._get_params_preserve": getattr(Message, "_get_params_preserve", None)}
    for name, (params, covered) in _SHAPES.items():
        fn = objects[name]
        outcome = "falls back to the public path" if covered else "fatal"
        if fn is None or fn in (_decode_b_public, _decode_word_absent):
            found.append(f"{name} is missing ({outcome})")
            continue
        got = tuple(inspect.signature(fn).parameters)
        if got != params:
            found.append(f"{name} takes {got}, expected {params} ({outcome})")
    for caller in _HOOK_CALLERS:
        if "_get_params_preserve" not in getattr(Message, caller).__code__.co_names:
            found.append(f"email.message.Message.{caller} no longer calls _get_params_preserve (fatal)")
    return found


def check() -> None:
    """Raise CPythonEmailChanged naming the Python version and each internal that is missing or
    changed in a way no public fallback covers; called once at import."""
    fatal = [p for p in problems() if p.endswith("(fatal)")]
    if fatal:
        raise CPythonEmailChanged(f"mailpipe's parser relies on CPython 3.11 email internals that {_VERSION} "
                                  f"lacks or changed: {'; '.join(fatal)}. See services/parser/cpython_email.py.")


check()
