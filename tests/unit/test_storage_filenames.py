"""File name filters of reference 000 (bounded-time implementation) and the copy layout."""

from __future__ import annotations

import random
import re

import pytest
from mailpipe.common.filenames import (
    MAX_STATES,
    LinearRegex,
    UnsupportedPattern,
    filename_matches,
    filename_passes,
    filter_kind,
    glob_matches,
)
from mailpipe.common.messages import Action, Attachment, FileCopy, MatchedEmail, ParsedEmail, Sighting
from mailpipe.storage.files import destination_key, hashed_name, planned_copies, safe_folder, safe_segment


@pytest.mark.parametrize("name, matches", [("picture.jpg", True), ("photo.jpg", True), ("company-logo.jpg", True),
                                           ("photo.jpeg", False)])
def test_reference_wildcard_example(name: str, matches: bool) -> None:
    assert filename_matches(name, "*.jpg") is matches


@pytest.mark.parametrize("pattern, kind", [("/\\.pdf$/", "regex"), ("/a*b/", "regex"), ("*.jpg", "wildcard"),
                                           ("signature.jpg", "literal"), ("a/b*", "wildcard"), ("/", "regex")])
def test_kind_precedence_regex_then_wildcard_then_literal(pattern: str, kind: str) -> None:
    assert filter_kind(pattern) == kind


@pytest.mark.parametrize("name, pattern, matches", [
    # literal: the whole name, case ignored
    ("signature.jpg", "signature.jpg", True), ("Signature.JPG", "signature.jpg", True),
    ("my-signature.jpg", "signature.jpg", False), ("signature.jpg.exe", "signature.jpg", False),
    # wildcards: the whole name; * at both ends; ? one character
    ("report.pdf", "*report*", True), ("q3-report-final.PDF", "*REPORT*", True), ("rep.pdf", "*report*", False),
    ("invoice.pdf", "invoice*", True), ("my invoice.pdf", "invoice*", False), ("a.b", "*", True), ("", "*", True),
    ("img01.png", "img*?.png", True), ("img.png", "img*?.png", False),
    ("img01.png", "img??.png", False),  # no * : a literal name, so ? is just a character ("x.tar.gz", "*.tar.*", True),
    ("a*b", "a*b", True), ("ab", "a**b", True),
    # regular expressions: searched, anchors honoured, /i accepted, case ignored either way
    ("invoice-2024.pdf", "/^invoice-\\d+\\.pdf$/", True), ("INVOICE-2024.PDF", "/^invoice-\\d+\\.pdf$/i", True),
    ("old-invoice-2024.pdf", "/^invoice/", False), ("scan.PDF", "/\\.pdf$/", True),
    ("scan.pdf.txt", "/\\.pdf$/", False),
    ("x.doc", "/\\.(docx?|xlsx?)$/", True), ("x.docm", "/\\.(docx?|xlsx?)$/", False),
    ("image001.png", "/^image\\d{3}\\.(png|gif)$/", True), ("image01.png", "/^image\\d{3}\\.(png|gif)$/", False),
    ("a.txt", "/[^a-c]\\.txt/", False), ("z.txt", "/[^a-c]\\.txt/", True), ("foo.txt", "/\\bfoo\\b/", True),
    ("xfoo.txt", "/\\bfoo\\b/", False), ("ÆRØ.pdf", "/ærø/", True),
    # invalid filters match nothing: no closing slash, unknown flag, bad syntax, lookaround, backreference
    ("abc", "/abc", False), ("abc", "/abc/x", False), ("abc", "/(abc/", False), ("abc", "/(?=a)abc/", False),
    ("aa", "/(a)\\1/", False), ("abc", "/", False),
])
def test_filter_edge_cases(name: str, pattern: str, matches: bool) -> None:
    assert filename_matches(name, pattern) is matches


def test_include_and_exclude_lists() -> None:
    assert filename_passes("a.pdf", [], [])  # an empty include list keeps all
    assert filename_passes("a.pdf", ["*.doc", "*.pdf"], [])  # at least one include filter
    assert not filename_passes("a.png", ["*.doc", "*.pdf"], [])
    assert not filename_passes("image001.png", [], ["/^image\\d+/", "logo.png"])  # any exclude filter drops it
    assert not filename_passes("a.pdf", ["*.pdf"], ["a.pdf"])  # exclude wins over include
    assert filename_passes("b.pdf", ["*.pdf"], ["a.pdf"])


def test_catastrophic_regular_expressions_return() -> None:
    # Each takes exponential time in Python's backtracking re on these inputs (minutes and more).
    name = "a" * 5000 + "!"
    for pattern in ["/(a+)+$/", "/^(a|a)*$/", "/(a|aa)*b/", "/^(a*)*$/", "/(.*a){20}/"]:
        assert filename_matches(name, pattern) is (pattern == "/(.*a){20}/")
    assert not glob_matches("a" * 5000, "*a*a*a*a*a*a*a*a*a*a*a*a*b")


def test_a_pattern_over_the_state_cap_is_invalid() -> None:
    with pytest.raises(UnsupportedPattern):
        LinearRegex.compile("(x{0,100}){0,100}")
    assert len(LinearRegex.compile("x{0,100}").prog) < MAX_STATES
    assert not filename_matches("xxx", "/(x{0,100}){0,100}/")


def test_agrees_with_python_re_on_random_patterns() -> None:
    rng = random.Random(6)
    atoms = ["a", "b", ".", "[ab]", "[^a]", "\\d", "\\w", "(a|b)", "(ab|a)", "x"]
    quants = ["", "", "*", "+", "?", "{1,2}", "*?"]
    for _ in range(3000):
        body = "".join(rng.choice(atoms) + rng.choice(quants) for _ in range(rng.randint(1, 5)))
        body = ("^" if rng.random() < 0.3 else "") + body + ("$" if rng.random() < 0.3 else "")
        name = "".join(rng.choice("abAB1x._") for _ in range(rng.randint(0, 8)))
        expected = re.search(body, name, re.IGNORECASE) is not None
        assert filename_matches(name, f"/{body}/") is expected, (body, name)


def test_glob_agrees_with_a_translated_regex() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        pattern = "".join(rng.choice("ab*?.") for _ in range(rng.randint(1, 6)))
        name = "".join(rng.choice("abAB.") for _ in range(rng.randint(0, 7)))
        translated = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        assert glob_matches(name, pattern) is (re.fullmatch(translated, name, re.IGNORECASE | re.DOTALL) is not None)


def test_copy_layout_cannot_leave_its_folder() -> None:
    assert safe_segment("..") == "_" and safe_segment("a/b\\c\x00") == "a_b_c_"
    assert safe_folder("/Mail//../in/") == "Mail/_/in"
    assert destination_key("task", "42", "", "a.pdf") == "crm/task/42/a.pdf"
    assert destination_key("company", "7", "Mail/in", "../x.pdf") == "crm/company/7/Mail/in/.._x.pdf"
    assert hashed_name("report.pdf", "abcdef0123456789") == "report.abcdef012345.pdf"
    assert hashed_name("README", "abcdef0123456789") == "README.abcdef012345"


def test_plan_lists_each_target_and_file_once() -> None:
    att = Attachment(filename="a.pdf", content_type="application/pdf", size_bytes=1, sha256="cd" * 32,
                     object_key=f"att/sha256/cd/{'cd' * 32}")
    copy = FileCopy(target_type="task", target_id="9", folder="F", object_keys=[att.object_key], filenames=["a.pdf"])
    email = ParsedEmail(email_id="00000000-0000-0000-0000-000000000009", message_id=None, size_bytes=1,
                        sha256="0" * 64, sighting=Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1),
                        attachments=[att])
    matched = MatchedEmail(email=email, actions=[Action(kind="files_to_copy", reason="r", copies=[copy, copy]),
                                                 Action(kind="case_created", reason="r")])
    [only] = planned_copies(matched)
    assert (only.dest_key, only.source_key, only.sha256) == ("crm/task/9/F/a.pdf", att.object_key, att.sha256)
    assert planned_copies(MatchedEmail(email=email)) == []
