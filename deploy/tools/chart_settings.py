"""The chart's view of mailpipe's settings: which ``MAILPIPE_*`` variables values can set, which come
from secrets, and which the chart fixes in the pod. Derived from the pydantic models, so a new
setting shows up in ``values.schema.json`` when ``chart_data.py`` runs again (and the drift test
fails until it does)."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
from mailpipe.common.settings import ServiceSettings
from mailpipe.fetcher.settings import FetcherSettings
from mailpipe.matcher.settings import MatcherSettings
from mailpipe.parser.settings import ParserSettings
from mailpipe.sender.settings import SenderSettings
from mailpipe.storage.settings import StorageSettings
from pydantic import BaseModel, SecretStr

# Every service's settings class: the union of their sections is what values.config can hold.
SETTINGS_CLASSES: tuple[type[ServiceSettings], ...] = (
    ServiceSettings, FetcherSettings, ParserSettings, MatcherSettings, StorageSettings, SenderSettings)

# Variables the chart sets itself, with the reason; values cannot set them.
FIXED_BY_CHART = {
    ("http", "host"): "0.0.0.0 in the pod: probes and scrapes come from outside the container",
    ("http", "port"): "the pod's fixed HTTP port (services.<name>.http.port)",
    ("storage", "api_host"): "0.0.0.0 in the API pod",
    ("storage", "api_port"): "the API pod's HTTP port (services.api.http.port)",
    ("runtime", "group_id"): "per service: services.<name>.consumer.group (default mailpipe-<name>)",
    ("fetch", "replica_id"): "each pod's own (hostname-pid): one shared id would make leases non-exclusive",
}

# Credentials: only through a Secret (secrets.existingSecret or the chart-made one). Keys are the
# values names under secrets.values / secrets.keys.
SECRETS = {
    "postgresDsn": "MAILPIPE_POSTGRES__DSN",
    "s3AccessKeyId": "MAILPIPE_S3__ACCESS_KEY_ID",
    "s3SecretAccessKey": "MAILPIPE_S3__SECRET_ACCESS_KEY",
    "secretsKeys": "MAILPIPE_SECRETS__KEYS",
    "apiToken": "MAILPIPE_STORAGE__API_TOKEN",
    "kafkaSaslUsername": "MAILPIPE_KAFKA__SASL_USERNAME",
    "kafkaSaslPassword": "MAILPIPE_KAFKA__SASL_PASSWORD",
}
SECRET_FIELDS = {("postgres", "dsn"), ("s3", "access_key_id"), ("s3", "secret_access_key"),
                 ("secrets", "keys"), ("storage", "api_token"), ("kafka", "sasl_username"),
                 ("kafka", "sasl_password")}


def sections() -> dict[str, type[BaseModel]]:
    """Section name -> model, over every service."""
    found: dict[str, type[BaseModel]] = {}
    for cls in SETTINGS_CLASSES:
        for name, field in cls.model_fields.items():
            model = _unwrap(field.annotation)[0]
            if isinstance(model, type) and issubclass(model, BaseModel):
                found.setdefault(name, model)
    return dict(sorted(found.items()))


def config_schema() -> dict[str, Any]:
    """JSON Schema of values.config: one object per section, one property per settable field."""
    props: dict[str, Any] = {}
    for section, model in sections().items():
        fields = {}
        for name, field in model.model_fields.items():
            if (section, name) in FIXED_BY_CHART or (section, name) in SECRET_FIELDS:
                continue
            if _unwrap(field.annotation)[0] is SecretStr:
                raise SystemExit(f"{section}.{name} is a secret the chart does not map: add it to SECRETS")
            fields[name] = _field_schema(section, name, field)
        if fields:
            props[section] = {"type": "object", "additionalProperties": False, "properties": fields,
                              "description": f"MAILPIPE_{section.upper()}__*"}
    return props


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type inside ``X | None``, whether None is allowed)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), True
    return annotation, False


def _field_schema(section: str, name: str, field: Any) -> dict[str, Any]:
    inner, _ = _unwrap(field.annotation)
    schema: dict[str, Any]
    if typing.get_origin(inner) is typing.Literal:
        schema = {"enum": list(typing.get_args(inner))}
    elif inner is bool:
        schema = {"type": "boolean"}
    elif inner is int:
        schema = {"type": "integer"}
    elif inner is float:
        schema = {"type": "number"}
    elif inner in (str, Path):
        schema = {"type": "string"}
    else:
        raise SystemExit(f"{section}.{name}: no JSON Schema type for {inner!r}")
    for rule in field.metadata:
        for attr, key in (("gt", "exclusiveMinimum"), ("ge", "minimum"), ("lt", "exclusiveMaximum"),
                          ("le", "maximum"), ("min_length", "minLength")):
            if isinstance(rule, (at.Gt, at.Ge, at.Lt, at.Le, at.MinLen)) and hasattr(rule, attr):
                schema[key] = getattr(rule, attr)
    # null: leave the code's default (the chart sets no variable)
    if "enum" in schema:
        schema["enum"].append(None)
    else:
        schema["type"] = [schema["type"], "null"]
    text = f"MAILPIPE_{section.upper()}__{name.upper()}"
    if field.description:
        text += f": {field.description}"
    schema["description"] = text
    return schema
