"""``mailpipe parse`` over many files: one JSON object per line, in the order given, an error
object for each file that cannot be read or parsed, and a non-zero exit only at the end; the
same JSON Lines from ``mailpipe match`` given several emails."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from mailpipe.cli import main
from mailpipe.common.runtime.ports import Record
from mailpipe.common.topics import RAW
from mailpipe.parser.stage import ParseStage

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "parser"
GOOD = [GOLDEN / "attachment-plain-name.eml", GOLDEN / "big5.eml", GOLDEN / "tnef-winmail.eml"]


def stage_payload(path: Path) -> dict[str, object]:
    """What the parser stage emits for the file as a ``mail.raw`` record (the CLI's promise)."""
    raw = path.read_bytes()
    headers = [("mailbox", b"file"), ("folder", path.name.encode()), ("uidvalidity", b"0"), ("uid", b"0"),
               ("size", str(len(raw)).encode()), ("sha256", hashlib.sha256(raw).hexdigest().encode())]
    parsed = ParseStage(lambda key: b"").parse(Record(RAW, 0, 0, b"file", raw, headers))
    return json.loads(parsed.model_dump_json(by_alias=True))  # type: ignore[no-any-return]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(["parse", *argv])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_many_files_one_broken_and_one_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.eml"  # no header at all: the stage dead-letters it as not_mail
    empty.write_bytes(b"")
    missing = tmp_path / "missing.eml"
    code, lines, err = run(capsys, str(GOOD[0]), str(empty), str(GOOD[1]), str(missing), str(GOOD[2]))
    assert code == 1
    assert [line["file"] for line in lines] == [str(GOOD[0]), str(empty), str(GOOD[1]), str(missing), str(GOOD[2])]
    assert lines[1]["error"] == {"reason": "not_mail", "detail": "no RFC 822 header found at the start of the message"}
    assert lines[3]["error"]["reason"] == "unreadable"  # type: ignore[index]
    assert "parsed" not in lines[1] and "parsed" not in lines[3]
    for n, path in ((0, GOOD[0]), (2, GOOD[1]), (4, GOOD[2])):
        assert lines[n]["parsed"] == stage_payload(path)
        assert "error" not in lines[n]
    assert err == ""


def test_all_good_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, *map(str, GOOD))
    assert code == 0
    assert [line["parsed"]["message_id"] for line in lines] == [stage_payload(p)["message_id"] for p in GOOD]  # type: ignore[index]


def test_a_directory_is_every_file_in_it_sorted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cur").mkdir()
    (tmp_path / "cur" / "2").write_bytes(GOOD[1].read_bytes())
    (tmp_path / "1").write_bytes(GOOD[0].read_bytes())
    (tmp_path / ".hidden").write_bytes(b"")
    code, lines, _ = run(capsys, str(tmp_path))
    assert code == 0
    assert [line["file"] for line in lines] == [str(tmp_path / "1"), str(tmp_path / "cur" / "2")]


def test_one_file_prints_the_payload_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(GOOD[0])]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == stage_payload(GOOD[0])
    assert out.startswith("{\n  ")  # one indented document, as jq users and docs/parser.md expect


def test_one_broken_file_exits_one_with_the_reason_on_stderr(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    assert main(["parse", str(empty)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "dead letter (not_mail)" in err


def test_dash_reads_the_message_from_standard_input() -> None:
    done = subprocess.run([sys.executable, "-m", "mailpipe", "parse", "-"], input=GOOD[0].read_bytes(),
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = stage_payload(GOOD[0])
    expected["sighting"]["folder"] = "-"  # type: ignore[index]
    assert json.loads(done.stdout) == expected


def test_match_of_several_emails_prints_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "directory.yaml"
    directory.write_text("- {type: company, id: '1', name: Acme, hostnames: [acme.example]}\n")
    missing = tmp_path / "missing.eml"
    code = main(["match", "--directory", str(directory), str(GOOD[0]), str(missing), str(GOOD[1])])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert [line["file"] for line in lines] == [str(GOOD[0]), str(missing), str(GOOD[1])]
    assert lines[1]["error"]["reason"] == "unreadable"
    assert lines[0]["message_id"] == stage_payload(GOOD[0])["message_id"]
    assert lines[0]["links"] and lines[2]["links"]  # both from acme.example: the company by its host
