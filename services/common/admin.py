"""Operator tasks behind the CLI: create topics, migrate the database, load a CRM directory.

The client factories and settings are imported by the tasks that use them, not here:
``read_entities`` also serves ``mailpipe match``, which must start without Kafka, PostgreSQL
or pydantic-settings loaded."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .messages import Entity, EntityEnvelope, encode, routing_headers


def create_topics(add_partitions: bool = False) -> dict[str, Any]:
    """``mailpipe topics create``: every topic of ``schemas/topics`` that is missing, with
    MAILPIPE_KAFKA__TOPIC_REPLICATION_FACTOR replicas, and the existing ones compared with their
    contract (``topicsync.sync_topics``: blocks on the broker, raises PartitionsBelowSchemaError
    for too few partitions unless ``add_partitions``, Kafka errors classified)."""
    from kafka.errors import KafkaError

    from . import clients
    from .adapters.kafka_errors import translate
    from .settings import ServiceSettings, load
    from .topics import load_specs
    from .topicsync import sync_topics

    settings = load(ServiceSettings)
    try:
        admin = clients.make_admin(settings.kafka)
    except KafkaError as exc:  # no broker answered, SASL refused: classified like every Kafka error
        raise (translate(exc) or exc) from exc
    try:
        return sync_topics(admin, load_specs(), settings.kafka.topic_replication_factor,
                           add_partitions=add_partitions)
    finally:
        admin.close()


def migrate_db() -> dict[str, list[str]]:
    """Apply pending migrations; returns their names."""
    from . import clients, db
    from .settings import PostgresSettings, ServiceSettings, load

    class _PostgresOnly(ServiceSettings):
        postgres: PostgresSettings

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
    from . import clients
    from .settings import ServiceSettings, load
    from .topics import ENTITIES

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


