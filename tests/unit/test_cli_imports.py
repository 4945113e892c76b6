"""Start-up cost of the CLI: a command imports only what it uses.

``mailpipe parse`` and ``mailpipe --version`` run in a fresh interpreter and report which heavy
libraries ended up in ``sys.modules``; the Kafka, PostgreSQL and S3 clients (and the metrics and
settings libraries) cost most of a second to import and neither command needs them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "parser"
CLIENTS = {"kafka", "psycopg", "psycopg_binary", "boto3", "botocore", "s3transfer"}

# Runs the CLI in-process (a --version exits through SystemExit), then prints the top-level
# packages loaded, on the last line of stderr.
PROBE = """
import json, sys
from mailpipe.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
sys.exit(code)
"""


def loaded_packages(*argv: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("mailpipe " if argv == ("--version",) else "{")
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_parse_imports_no_clients_metrics_or_settings() -> None:
    loaded = loaded_packages("parse", str(GOLDEN / "attachment-plain-name.eml"))
    assert sorted(loaded & (CLIENTS | {"prometheus_client", "pydantic_settings", "cryptography", "imapclient"})) == []


def test_parse_of_many_files_imports_no_clients() -> None:
    loaded = loaded_packages("parse", str(GOLDEN / "attachment-plain-name.eml"), str(GOLDEN / "big5.eml"))
    assert sorted(loaded & (CLIENTS | {"prometheus_client", "pydantic_settings"})) == []


def test_version_imports_no_service_code_at_all() -> None:
    loaded = loaded_packages("--version")
    assert sorted(loaded & (CLIENTS | {"prometheus_client", "pydantic", "pydantic_settings", "yaml", "re2"})) == []


def test_help_lists_every_command_without_importing_them() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("run", "topics", "db", "directory", "schemas", "accounts", "parse", "match", "retention",
                    "emails", "dlq"):
        assert command in done.stdout
    assert sorted(set(json.loads(done.stderr.strip().splitlines()[-1])) & (CLIENTS | {"pydantic"})) == []


def test_every_command_of_the_table_is_wired() -> None:
    """Each COMMANDS entry names a function that exists and gives its command a handler (or
    actions that each have one): the table is the only place a command is declared."""
    from mailpipe.cli import COMMANDS, build_parser

    def handled(parser: argparse.ArgumentParser) -> bool:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if actions:
            return all(handled(p) for p in actions[0].choices.values())
        return parser.get_default("handler") is not None

    for name in COMMANDS:
        parser = build_parser([name])
        command = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
        assert handled(command), name


def test_match_imports_no_clients(tmp_path: Path) -> None:
    """The rules need the directory and the parser, not Kafka, PostgreSQL or S3 (the Matcher lives
    apart from MatchStage, whose runtime base loads the clients)."""
    directory = tmp_path / "directory.yaml"
    directory.write_text("- {type: company, id: acme, name: Acme, domains: [acme.example]}\n")
    loaded = loaded_packages("match", "--directory", str(directory), str(GOLDEN / "attachment-plain-name.eml"))
    assert sorted(loaded & CLIENTS) == []
