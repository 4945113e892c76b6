"""Operator tasks behind the CLI: create topics, migrate the database, load a CRM directory."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml

from . import clients, db
from .errors import ConfigError
from .messages import Entity, EntityEnvelope, encode, routing_headers
from .settings import PostgresSettings, ServiceSettings, load
from .topics import ENTITIES, load_specs


class _PostgresOnly(ServiceSettings):
    postgres: PostgresSettings


def create_topics() -> dict[str, list[str]]:
    """Create every topic of ``schemas/topics`` that is missing, each with
    MAILPIPE_KAFKA__TOPIC_REPLICATION_FACTOR replicas; returns created and existing."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    settings = load(ServiceSettings)
    admin = clients.make_admin(settings.kafka)
    try:
        existing = set(admin.list_topics())
        wanted = [s for s in load_specs() if s.name not in existing]
        for spec in wanted:
            try:
                admin.create_topics([NewTopic(spec.name, spec.partitions, settings.kafka.topic_replication_factor,
                                              topic_configs=spec.config)])
            except TopicAlreadyExistsError:
                pass  # a concurrent creator won; the topic is there, which is all we need
        return {"created": [s.name for s in wanted], "existing": sorted(existing)}
    finally:
        admin.close()


def migrate_db() -> dict[str, list[str]]:
    """Apply pending migrations; returns their names."""
    settings = load(_PostgresOnly)
    with clients.connect_postgres(settings.postgres) as conn:
        return {"applied": db.migrate(conn)}


_CSV_LISTS = ("emails", "company_ids", "hostnames", "team_ids")
_CSV_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _csv_items(text: str) -> list[dict[str, Any]]:
    """Rows of a CSV with a header line naming Entity fields (``type`` and ``id`` required); list
    fields hold values separated by ``;``, booleans are true/false, empty cells mean the default."""
    items = []
    for row in csv.DictReader(io.StringIO(text)):
        item: dict[str, Any] = {}
        for key, value in row.items():
            value = (value or "").strip()
            if not key or not value:
                continue
            if key in _CSV_LISTS:
                item[key] = [v.strip() for v in value.split(";") if v.strip()]
            elif key in ("blocked", "active"):
                item[key] = _CSV_BOOLS.get(value.lower(), value)
            else:
                item[key] = value
        items.append(item)
    return items


def read_entities(path: Path) -> list[Entity]:
    """Entities from a YAML or JSON file holding a list (or ``{entities: [...]}``), or a CSV."""
    text = path.read_text()
    doc: Any
    if path.suffix == ".csv":
        doc = _csv_items(text)
    else:
        doc = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    items = doc.get("entities", []) if isinstance(doc, dict) else doc
    try:
        return [Entity.model_validate(item) for item in items]
    except Exception as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def load_directory(path: Path) -> dict[str, int]:
    """Publish every entity of ``path`` to ``crm.entities`` (keyed ``type:id``) and wait for acks."""
    settings = load(ServiceSettings)
    entities = read_entities(path)
    producer = clients.make_producer(settings.kafka)
    try:
        futures = []
        for entity in entities:
            env = EntityEnvelope(producer="mailpipe directory load", payload=entity)
            futures.append(producer.send(ENTITIES, key=entity.key.encode(), value=encode(env),
                                         headers=routing_headers(env)))
        producer.flush(60)
        for f in futures:
            f.get(timeout=0)
    finally:
        producer.close()
    return {"published": len(entities)}


