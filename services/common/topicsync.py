"""Bring a Kafka cluster's topics in line with ``schemas/topics``: create the missing ones and
compare the existing ones with their contract (behind ``mailpipe topics create``).

A topic with fewer partitions than declared is an error unless the operator asks for partitions
to be added: adding partitions changes which partition a key hashes to, so records of one key
written before and after the change land on different partitions and per-key order across it is
lost for mail still in flight (a parser could see a mailbox's later mail before its earlier mail,
the matcher's per-mailbox state would move). That is acceptable only when the operator chose the
moment, e.g. with the pipeline drained. More partitions than declared is kept (Kafka cannot
remove partitions) and reported; so is a replication factor below the setting (changing it is a
partition reassignment, a cluster operator's job)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafka import errors as kafka_errors

from .adapters.kafka_errors import translate
from .errors import ConfigError
from .topics import TopicSpec

_MISSING = kafka_errors.UnknownTopicOrPartitionError.errno

class PartitionsBelowSchemaError(ConfigError):
    """Existing topics have fewer partitions than their contract and adding them was not asked for."""


@dataclass(frozen=True)
class _Found:
    partitions: int
    replicas: int  # the fewest replicas of any of its partitions


def _kafka(exc: BaseException) -> BaseException:
    return translate(exc) or exc


def _describe(admin: Any, names: list[str]) -> dict[str, _Found]:
    """The topics of ``names`` that exist, asked of a broker (not a cached listing)."""
    if not names:
        return {}
    found = {}
    for topic in admin.describe_topics(names):
        if topic["error_code"] == _MISSING:
            continue
        if topic["error_code"]:
            raise _kafka(kafka_errors.for_code(topic["error_code"])(topic["name"]))
        parts = topic["partitions"]
        found[topic["name"]] = _Found(len(parts), min((len(p["replica_nodes"]) for p in parts), default=0))
    return found


def _short(specs: list[TopicSpec], found: dict[str, _Found]) -> dict[str, tuple[int, int]]:
    return {s.name: (found[s.name].partitions, s.partitions) for s in specs
            if s.name in found and found[s.name].partitions < s.partitions}


def _shortfall_message(short: dict[str, tuple[int, int]]) -> str:
    lines = [f"{name}: {have} partitions on the cluster, {want} declared in schemas/topics"
             for name, (have, want) in sorted(short.items())]
    return ("topics with fewer partitions than their contract:\n  " + "\n  ".join(lines) +
            "\nrun `mailpipe topics create --add-partitions` to add them (adding partitions remaps keys: "
            "per-key order across the change is lost for mail in flight, so drain the pipeline first), "
            "or declare the cluster's count in schemas/topics")


def sync_topics(admin: Any, specs: list[TopicSpec], replication_factor: int, *,
                add_partitions: bool = False) -> dict[str, Any]:
    """Create the topics of ``specs`` that are missing (``replication_factor`` replicas) and
    compare the others with their spec; with ``add_partitions``, grow those with fewer
    partitions. Blocks on the broker (the admin client's request timeout). Nothing changes when
    the cluster already matches, and nothing at all when it raises PartitionsBelowSchemaError
    (a topic has fewer partitions and ``add_partitions`` is off). Kafka errors are raised as
    ``adapters.kafka_errors`` classifies them (TransientError, DependencyConfigError).
    Returns the report ``mailpipe topics create`` prints."""
    from kafka.admin import NewPartitions, NewTopic

    try:
        found = _describe(admin, [s.name for s in specs])
        short = _short(specs, found)
        if short and not add_partitions:
            raise PartitionsBelowSchemaError(_shortfall_message(short))
        created, raced = [], []
        for spec in (s for s in specs if s.name not in found):
            try:
                admin.create_topics([NewTopic(spec.name, spec.partitions, replication_factor,
                                              topic_configs=spec.config)])
                created.append(spec.name)
            except kafka_errors.TopicAlreadyExistsError:
                raced.append(spec.name)  # a concurrent creator won: compare what it made
        if raced:
            found.update(_describe(admin, raced))
            short = _short(specs, found)
            if short and not add_partitions:
                raise PartitionsBelowSchemaError(_shortfall_message(short))
        if short:
            admin.create_partitions({name: NewPartitions(want) for name, (_, want) in short.items()})
    except kafka_errors.KafkaError as exc:
        raise _kafka(exc) from exc
    present = [s for s in specs if s.name in found]
    return {
        "created": created,
        "existing": sorted(s.name for s in present),
        "partitions_added": {name: {"from": have, "to": want} for name, (have, want) in sorted(short.items())},
        # kept: Kafka cannot remove partitions, and consumers scale up to the larger count
        "more_partitions_than_declared": {
            s.name: {"existing": found[s.name].partitions, "declared": s.partitions}
            for s in present if found[s.name].partitions > s.partitions},
        "replication_below_setting": {
            s.name: {"replicas": found[s.name].replicas, "setting": replication_factor}
            for s in present if found[s.name].replicas < replication_factor},
    }
