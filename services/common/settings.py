"""Settings: read once at start from ``MAILPIPE_*`` environment variables, validated, frozen.

Nested fields use ``__``: ``MAILPIPE_KAFKA__BOOTSTRAP_SERVERS``. For local work a dotenv file
(``MAILPIPE_ENV_FILE``, else ``.state/stack.env`` written by ``make up``) supplies defaults;
real environment variables win over it. Secrets are ``SecretStr`` and print as ``**********``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

PREFIX = "MAILPIPE_"


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(Section):
    bootstrap_servers: str
    client_id: str = "mailpipe"
    max_request_bytes: int = Field(8 * 1024 * 1024, gt=0)
    request_timeout_seconds: float = Field(30.0, gt=0)


class PostgresSettings(Section):
    dsn: SecretStr
    connect_timeout_seconds: int = Field(5, gt=0)


class S3Settings(Section):
    endpoint_url: str | None = None
    access_key_id: str
    secret_access_key: SecretStr
    bucket: str
    region: str = "us-east-1"


class RuntimeSettings(Section):
    """How the consumer loop behaves; the defaults suit every stage."""

    group_id: str | None = None  # default: mailpipe-<stage>
    batch_max_records: int = Field(200, gt=0)
    poll_timeout_seconds: float = Field(0.5, gt=0)
    retry_attempts: int = Field(5, ge=1)
    retry_backoff_seconds: float = Field(0.2, ge=0)
    retry_backoff_max_seconds: float = Field(10.0, ge=0)
    dlq_window_records: int = Field(100, gt=0)
    dlq_min_records: int = Field(20, gt=0)
    dlq_max_ratio: float = Field(0.5, gt=0, le=1)
    backpressure_pause_seconds: float = Field(1.0, ge=0)


class HttpSettings(Section):
    """The metrics and health endpoint (``/metrics``, ``/healthz``, ``/readyz``)."""

    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)  # 0: any free port, logged at start


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class ServiceSettings(BaseSettings):
    """What every service reads; each service subclasses it with its own sections."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_nested_delimiter="__", frozen=True, extra="ignore", case_sensitive=False,
    )
    kafka: KafkaSettings
    runtime: RuntimeSettings = RuntimeSettings()
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()


S = TypeVar("S", bound=BaseSettings)


def env_file() -> Path | None:
    """The dotenv file to read defaults from, if any."""
    explicit = os.environ.get(f"{PREFIX}ENV_FILE")
    if explicit:
        return Path(explicit)
    local = Path(".state/stack.env")
    return local if local.exists() else None


def load(cls: type[S], **overrides: Any) -> S:
    """Read ``cls`` from the environment; raise ConfigError naming each bad variable."""
    try:
        return cls(_env_file=env_file(), **overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            names = _required_variables(cls, err["loc"]) if err["type"] == "missing" else []
            for var in names or [PREFIX + "__".join(str(p) for p in err["loc"]).upper()]:
                problems.append(f"{var}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def _required_variables(cls: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """For a missing section, the variables of its required fields (what the operator must set)."""
    model: Any = cls
    for part in loc:
        fields = getattr(model, "model_fields", None) if isinstance(model, type) else None
        field = fields.get(str(part)) if fields else None
        if field is None:
            return []
        model = field.annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    prefix = PREFIX + "__".join(str(p) for p in loc).upper()
    return [f"{prefix}__{name.upper()}" for name, f in model.model_fields.items() if f.is_required()]


def masked(settings: BaseSettings) -> dict[str, Any]:
    """The effective settings for logging, secrets replaced by asterisks."""
    return settings.model_dump(mode="json")
