"""Topic names and their definitions from ``schemas/topics/*.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .runtime.ports import Record

RAW = "mail.raw"
PARSED = "mail.parsed"
MATCHED = "mail.matched"
ENTITIES = "crm.entities"
MAILBOXES = "mail.mailboxes"
AUTOREPLY = "mail.autoreply"
OUTBOUND = "mail.outbound"

# Record header on mail.raw, mail.parsed and mail.matched: the reindex that published the message
# again (milliseconds since the epoch of `accounts reindex`; absent or 0 for an ordinary fetch). The
# matcher decides anew for a generation newer than its stored decision's; storage then replaces the
# email's links. A crash replay carries the same generation, so it repeats the stored decision.
REINDEX_GENERATION = "reindex-generation"


def reindex_generation(record: Record) -> int:
    """The record's reindex generation; 0 when absent or malformed (an ordinary fetch). Pure."""
    value = record.header(REINDEX_GENERATION)
    try:
        return max(0, int(value)) if value else 0
    except ValueError:
        return 0

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"


def dlq(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}.dlq"


@dataclass(frozen=True)
class SchemaRef:
    """One message version a topic carries: its JSON Schema file and its examples folder
    (absolute paths; the yaml gives them relative to ``schemas/``)."""

    version: int
    schema: Path
    examples: Path


@dataclass(frozen=True)
class TopicSpec:
    """One topic's contract: partitions, broker config, whether it has a dead-letter topic, and
    the message versions it carries (none for a dead-letter topic: it holds its source's records)."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    dead_letter: bool = False
    schemas: tuple[SchemaRef, ...] = ()


def load_specs(directory: Path = SCHEMAS_DIR / "topics") -> list[TopicSpec]:
    """Every topic the project owns, dead-letter topics included (they share the source's config,
    minus compaction: a DLQ keeps every record until retention ends it). Reads the files; raises
    KeyError or ValueError for a file without a required key."""
    specs: list[TopicSpec] = []
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        config = {k: str(v) for k, v in (doc.get("config") or {}).items()}
        refs = tuple(SchemaRef(int(s["version"]), directory.parent / s["schema"], directory.parent / s["examples"])
                     for s in doc.get("schemas") or ())
        spec = TopicSpec(doc["topic"], int(doc["partitions"]), config, bool(doc.get("dead_letter")), refs)
        specs.append(spec)
        if spec.dead_letter:
            dlq_config = {**config, "cleanup.policy": "delete", "retention.ms": str(30 * 24 * 3600 * 1000)}
            specs.append(TopicSpec(dlq(spec.name), spec.partitions, dlq_config))
    return specs
