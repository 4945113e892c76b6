"""The one pattern module (common/patterns.py): ``matches`` conditions and file name filters in time
linear in the text whatever the pattern, the same answers as before where they were right, and a
PatternError (with the reason) for what cannot run. No timing assertions: the adversarial cases
would run for minutes to hours on the engines they replace, so the per-test timeout catches them."""

from __future__ import annotations

import random
import re
import uuid

import pytest
from mailpipe.common.messages import Condition, ParsedEmail, Sighting
from mailpipe.common.patterns import (
    MAX_PATTERN_CHARS,
    PatternError,
    compile_pattern,
    filename_matches,
    filename_passes,
    filter_kind,
    value_matches,
)
from mailpipe.matcher.rules import filters
from mailpipe.parser.bodies import BODY_CAP_CHARS


def email(text_body: str = "", html_body: str = "", subject: str = "") -> ParsedEmail:
    return ParsedEmail(email_id=uuid.uuid4(), message_id=None, size_bytes=1, sha256="0" * 64, subject=subject,
                       sighting=Sighting(mailbox_id="m", folder="INBOX", uidvalidity=1, uid=1),
                       text_body=text_body, html_body=html_body)


def holds(body: str, value: str) -> bool:
    return filters.condition_holds(email(text_body=body), Condition(field="body", op="matches", value=value))


# --- bounded time ---------------------------------------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize(("body", "pattern", "expected"), [
    ("a" * BODY_CAP_CHARS, "*a*a*a*a*a*b", False),
    (("http unsubscribe " * BODY_CAP_CHARS)[:BODY_CAP_CHARS], "*http*unsubscribe*list*", False),
    (("see http://x.example/unsubscribe?list=1 " * BODY_CAP_CHARS)[:BODY_CAP_CHARS - 1] + "!",
     "*HTTP*unsubscribe*list*!", True),
    ("a" * BODY_CAP_CHARS + "!", "/(a+)+$/", False),
    ("a" * BODY_CAP_CHARS, "/(a|aa)*b/", False),
    ("a" * BODY_CAP_CHARS + "!", "/(.*a){20}/", True),
    ("x" * BODY_CAP_CHARS, "/(x+x+)+y/", False),
])
def test_adversarial_patterns_on_a_body_at_the_cap_return(body: str, pattern: str, expected: bool) -> None:
    # the old wildcard (translated to re, fullmatch) was cubic: ~40 minutes for the first two
    assert len(body) >= BODY_CAP_CHARS
    assert holds(body, pattern) is expected


@pytest.mark.timeout(60)
def test_html_bodies_full_of_unclosed_tags_return() -> None:
    # re.sub("<[^>]*>") retried from every "<": quadratic, seconds per condition at the cap
    e = email(html_body="<" * BODY_CAP_CHARS)
    for _ in range(20):
        assert filters.condition_holds(e, Condition(field="body", op="contains", value="<<<"))
    assert filters.strip_tags("a<b>c<d") == "a c<d"


@pytest.mark.timeout(60)
def test_catastrophic_file_name_filters_return() -> None:
    name = "a" * 5000 + "!"
    for pattern in ["/(a+)+$/", "/^(a|a)*$/", "/(a|aa)*b/", "/^(a*)*$/", "/(.*a){20}/"]:
        assert filename_matches(name, pattern) is (pattern == "/(.*a){20}/")
    assert not filename_matches("a" * 5000, "*a*a*a*a*a*a*a*a*a*a*a*a*b")


# --- the same answers as before -------------------------------------------------------------------
@pytest.mark.parametrize(("value", "pattern", "expected"), [
    ("Weekly news", "*news", True), ("Weekly news", "w?ekly*", True), ("Weekly news", "news*", False),
    ("Weekly news", "WEEKLY NEWS", True), ("Weekly news", "weekly", False), ("", "*", True), ("", "", True),
    ("line one\nline two", "*one*two", True), ("a.b", "a?b", True), ("axb", "a.b", False),
    ("(x)[y]{z}+^$|\\", "(x)[y]{z}+^$|\\", True), ("Grüße", "GRÜSSE", False), ("Grüße", "grüße", True),
    ("a\ud800b", "a*b", True),  # a lone surrogate (JSON allows one) neither raises nor stops a match
    # /regex/: searched in the value, case ignored either way
    ("Your invoice 2024-17", "/invoice \\d{4}-\\d+$/", True), ("Your invoice 2024-17", "/^invoice/", False),
    ("News", "/news/i", True), ("x", "//", True),
])
def test_matches_operator(value: str, pattern: str, expected: bool) -> None:
    assert value_matches(value, pattern) is expected


def test_wildcard_agrees_with_the_translated_regex_it_replaces() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        pattern = "".join(rng.choice("ab*?.\n") for _ in range(rng.randint(0, 6)))
        value = "".join(rng.choice("abAB.\n") for _ in range(rng.randint(0, 7)))
        old = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        expected = re.fullmatch(old, value, re.IGNORECASE | re.DOTALL) is not None
        assert value_matches(value, pattern) is expected, (pattern, value)
        if "*" in pattern:
            assert filename_matches(value, pattern) is expected, (pattern, value)


def test_regex_agrees_with_python_re_on_random_patterns() -> None:
    rng = random.Random(6)
    atoms = ["a", "b", ".", "[ab]", "[^a]", "\\d", "\\w", "(a|b)", "(ab|a)", "x", "\\.", "(?:b)"]
    quants = ["", "", "*", "+", "?", "{1,2}", "*?", "{2}"]
    for _ in range(3000):
        body = "".join(rng.choice(atoms) + rng.choice(quants) for _ in range(rng.randint(1, 5)))
        body = ("^" if rng.random() < 0.3 else "") + body + ("$" if rng.random() < 0.3 else "")
        name = "".join(rng.choice("abAB1x._") for _ in range(rng.randint(0, 8)))
        expected = re.search(body, name, re.IGNORECASE) is not None
        assert filename_matches(name, f"/{body}/") is expected, (body, name)
        assert value_matches(name, f"/{body}/i") is expected, (body, name)


@pytest.mark.parametrize(("name", "matches"), [("picture.jpg", True), ("photo.jpg", True),
                                               ("company-logo.jpg", True), ("photo.jpeg", False)])
def test_reference_wildcard_example(name: str, matches: bool) -> None:
    assert filename_matches(name, "*.jpg") is matches


@pytest.mark.parametrize(("pattern", "kind"), [("/\\.pdf$/", "regex"), ("/a*b/", "regex"), ("*.jpg", "wildcard"),
                                               ("signature.jpg", "literal"), ("a/b*", "wildcard"), ("/", "regex")])
def test_kind_precedence_regex_then_wildcard_then_literal(pattern: str, kind: str) -> None:
    assert filter_kind(pattern) == kind


@pytest.mark.parametrize(("name", "pattern", "matches"), [
    # literal: the whole name, case ignored; ? and other punctuation are just characters
    ("signature.jpg", "signature.jpg", True), ("Signature.JPG", "signature.jpg", True),
    ("my-signature.jpg", "signature.jpg", False), ("signature.jpg.exe", "signature.jpg", False),
    ("img01.png", "img??.png", False), ("img??.png", "img??.png", True), ("a+b (1).txt", "A+B (1).TXT", True),
    # wildcards: the whole name; * at both ends; ? one character
    ("report.pdf", "*report*", True), ("q3-report-final.PDF", "*REPORT*", True), ("rep.pdf", "*report*", False),
    ("invoice.pdf", "invoice*", True), ("my invoice.pdf", "invoice*", False), ("a.b", "*", True), ("", "*", True),
    ("img01.png", "img*?.png", True), ("img.png", "img*?.png", False), ("x.tar.gz", "*.tar.*", True),
    ("a*b", "a*b", True), ("ab", "a**b", True),
    # regular expressions: searched, anchors honoured, /i accepted, case ignored either way
    ("invoice-2024.pdf", "/^invoice-\\d+\\.pdf$/", True), ("INVOICE-2024.PDF", "/^invoice-\\d+\\.pdf$/i", True),
    ("old-invoice-2024.pdf", "/^invoice/", False), ("scan.PDF", "/\\.pdf$/", True),
    ("scan.pdf.txt", "/\\.pdf$/", False),
    ("x.doc", "/\\.(docx?|xlsx?)$/", True), ("x.docm", "/\\.(docx?|xlsx?)$/", False),
    ("image001.png", "/^image\\d{3}\\.(png|gif)$/", True), ("image01.png", "/^image\\d{3}\\.(png|gif)$/", False),
    ("a.txt", "/[^a-c]\\.txt/", False), ("z.txt", "/[^a-c]\\.txt/", True), ("foo.txt", "/\\bfoo\\b/", True),
    ("xfoo.txt", "/\\bfoo\\b/", False), ("ÆRØ.pdf", "/ærø/", True), ("Årsrapport.pdf", "/^\\pL+\\.pdf$/", True),
])
def test_file_name_filters(name: str, pattern: str, matches: bool) -> None:
    assert filename_matches(name, pattern) is matches


def test_include_and_exclude_lists() -> None:
    assert filename_passes("a.pdf", [], [])  # an empty include list keeps all
    assert filename_passes("a.pdf", ["*.doc", "*.pdf"], [])  # at least one include filter
    assert not filename_passes("a.png", ["*.doc", "*.pdf"], [])
    assert not filename_passes("image001.png", [], ["/^image\\d+/", "logo.png"])  # any exclude filter drops it
    assert not filename_passes("a.pdf", ["*.pdf"], ["a.pdf"])  # exclude wins over include
    assert filename_passes("b.pdf", ["*.pdf"], ["a.pdf"])


# --- what cannot run is refused, with the reason --------------------------------------------------
@pytest.mark.parametrize(("pattern", "reason"), [
    ("/(?=x)/", "invalid perl operator: (?="), ("/(?<!a)b/", "invalid perl operator: (?<"),
    ("/(a)\\1/", "invalid escape sequence: \\1"), ("/abc", "no closing /"), ("/", "no closing /"),
    ("/abc/q", "unknown flag 'q'"), ("/abc/ix", "unknown flag 'x'"), ("/(abc/", "missing )"),
    ("/a*+/", "bad repetition operator"), ("/x{1001}/", "invalid repetition size"),
    ("/(x{0,100}){0,100}/", "invalid repetition size"),
    ("*" * (MAX_PATTERN_CHARS + 1), f"longer than {MAX_PATTERN_CHARS}"),
])
def test_a_pattern_that_cannot_run_is_refused_with_the_reason(pattern: str, reason: str) -> None:
    for use in ("filename", "condition"):
        with pytest.raises(PatternError, match=re.escape(reason)):
            compile_pattern(pattern, use)  # type: ignore[arg-type]


def test_a_refused_pattern_stored_before_the_check_matches_nothing() -> None:
    assert not filename_matches("aa", "/(a)\\1/") and not filename_matches("abc", "/abc")
    assert not value_matches("abc", "/abc/q")
    assert filename_passes("x.png", [], ["/(?=x)/"])  # an exclude filter that cannot run excludes nothing
