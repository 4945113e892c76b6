"""The CPython email internals the parser relies on, pinned (so a Python upgrade fails here first,
with a message naming what changed), and the rule that only services/parser/cpython_email.py
touches them."""

from __future__ import annotations

import ast
import email
import importlib
import inspect
import pkgutil
from email import policy
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from mailpipe.parser import cpython_email, headers
from mailpipe.parser.split import FastMessage, split

PARSER = Path(__file__).resolve().parents[2] / "services" / "parser"
ALLOWED = "cpython_email.py"


@pytest.mark.parametrize("dotted, params", [
    ("email._encoded_words.decode", ("ew",)),
    ("email._encoded_words.decode_b", ("encoded",)),
    ("email.message.Message._get_params_preserve", ("self", "failobj", "header")),
])
def test_each_internal_exists_with_the_signature_relied_on(dotted: str, params: tuple[str, ...]) -> None:
    owner, _, name = dotted.rpartition(".")
    holder = Message if owner == "email.message.Message" else importlib.import_module(owner)
    obj = getattr(holder, name, None)
    assert obj is not None, f"{dotted} is gone: see services/parser/cpython_email.py for what depends on it"
    got = tuple(inspect.signature(obj).parameters)
    assert got == params, f"{dotted} now takes {got}, cpython_email.py expects {params}"


def test_the_module_finds_no_problem_on_this_python() -> None:
    assert cpython_email.problems() == [], "\n".join(cpython_email.problems())


@pytest.mark.parametrize("method", ["get_param", "get_params"])
def test_message_parameter_methods_go_through_the_hook_fast_message_overrides(method: str) -> None:
    assert "_get_params_preserve" in getattr(Message, method).__code__.co_names, (
        f"Message.{method} no longer calls _get_params_preserve: split.FastMessage's parameter cache is bypassed")
    msg = FastMessage([("Content-Type", "text/plain; charset=x-probe-routed")])
    calls: list[str] = []
    original = FastMessage.cached_params

    def counting(self, failobj, header):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
        calls.append(header)
        return original(self, failobj, header)

    cpython_email.route_params(FastMessage, counting)
    try:
        assert msg.get_content_charset() == "x-probe-routed"
        assert calls, "Message's parameter methods did not call the routed method"
    finally:
        cpython_email.route_params(FastMessage, original)


def test_a_parsed_message_keeps_its_raw_payload_and_header_list_where_the_module_reads_them() -> None:
    raw = b"Subject: s\nContent-Type: text/plain; charset=utf-8\n\ncaf\xc3\xa9\n"
    for pol in (policy.compat32, policy.default):
        msg = email.message_from_bytes(raw, policy=pol)
        assert isinstance(vars(msg).get("_headers"), list), "Message no longer keeps its headers in a list"
        assert cpython_email.raw_payload(msg) == "caf\udcc3\udca9\n", "the raw payload is not the stored str"
    tree = split(raw)
    assert tree is not None and list(tree.raw_items()) == [("Subject", "s"),
                                                           ("Content-Type", "text/plain; charset=utf-8")]


@pytest.mark.parametrize("encoded", [b"aGVsbG8=", b"aGVsbG8", b"aGVsbG8===", b"aGV!sbG8=", b"", b"YQ"])
def test_decode_b_and_its_public_fallback_agree(encoded: bytes) -> None:
    value, defects = cpython_email.decode_b(encoded)
    fallback, fallback_defects = cpython_email._decode_b_public(encoded)
    assert (bytes(value), [type(d) for d in defects]) == (fallback, [type(d) for d in fallback_defects])


def test_without_the_word_decoder_headers_take_the_registry_with_the_same_result(
        monkeypatch: pytest.MonkeyPatch) -> None:
    value = "=?utf-8?q?Caf=C3=A9?= =?iso-8859-1?b?bmHvdmU=?= report"
    fast = headers.fast_unstructured(value)
    assert fast == "Cafénaïve report"
    monkeypatch.setattr(cpython_email, "_decode_word", cpython_email._decode_word_absent)
    assert headers.fast_unstructured(value) is None  # the fast path declines
    msg = FastMessage([("Subject", value)])
    assert headers.unstructured(msg, "Subject") == fast


def test_a_missing_internal_fails_the_import_check_naming_the_python_version_and_the_function(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(Message, "_get_params_preserve")
    with pytest.raises(cpython_email.CPythonEmailChanged) as caught:
        cpython_email.check()
    text = str(caught.value)
    assert "Python 3." in text and "email.message.Message._get_params_preserve is missing" in text


def test_a_missing_decoder_is_covered_by_its_fallback_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpython_email, "_decode_b", cpython_email._decode_b_public)
    assert cpython_email.problems() == ["email._encoded_words.decode_b is missing (falls back to the public path)"]
    cpython_email.check()  # does not raise


def _email_private_names() -> set[str]:
    """Every non-dunder ``_name`` of the email package: private modules, module globals, class
    attributes and the attributes a Message instance carries."""
    names = {m.name for m in pkgutil.iter_modules(email.__path__) if m.name.startswith("_")}
    for info in pkgutil.iter_modules(email.__path__):
        module = importlib.import_module(f"email.{info.name}")
        for name, value in vars(module).items():
            names.add(name)
            if inspect.isclass(value) and value.__module__.startswith("email"):
                names.update(vars(value))
    names.update(vars(Message()), vars(EmailMessage()))
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def private_email_uses(path: Path, private: set[str]) -> list[str]:
    """Each place ``path`` imports a private email module or name, reads or writes an attribute
    named like a private email name, names one to getattr/setattr, or overrides one in a class."""
    found: list[str] = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where} import {a.name}" for a in node.names
                      if a.name.startswith("email.") and any(p.startswith("_") for p in a.name.split("."))]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "email":
            module_private = any(p.startswith("_") for p in (node.module or "").split("."))
            found += [f"{where} from {node.module} import {a.name}" for a in node.names
                      if module_private or a.name.startswith("_")]
        elif isinstance(node, ast.Attribute) and node.attr in private:
            found += [f"{where} .{node.attr}"]
        elif isinstance(node, ast.ClassDef):
            found += [f"{path.name}:{f.lineno} {node.name} defines {f.name}" for f in node.body
                      if isinstance(f, ast.FunctionDef) and f.name in private]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr", "delattr")):
            found += [f"{where} {node.func.id}(..., {a.value!r})" for a in node.args
                      if isinstance(a, ast.Constant) and a.value in private]
    return found


def test_no_parser_module_but_cpython_email_touches_a_private_email_api() -> None:
    private = _email_private_names()
    assert {"_payload", "_headers", "_get_params_preserve", "_encoded_words"} <= private
    modules = sorted(p for p in PARSER.glob("*.py") if p.name != ALLOWED)
    assert len(modules) > 5
    uses = [use for p in modules for use in private_email_uses(p, private)]
    assert not uses, "private email API outside services/parser/cpython_email.py (move it there):\n" + "\n".join(uses)


def test_the_checker_sees_each_kind_of_use(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import email._encoded_words\nfrom email import _encoded_words, policy\n"
                      "from email._header_value_parser import get_word\nx = msg._payload\n"
                      "class M(Message):\n    def _get_params_preserve(self, f, h): ...\n"
                      "getattr(msg, '_headers')\ndef _charset(): ...\n")
    found = private_email_uses(sample, _email_private_names())
    lines = sorted(int(u.split(" ", 1)[0].split(":")[1]) for u in found)
    assert lines == [1, 2, 3, 4, 6, 7], found  # not line 8: a module function of that name is ours
