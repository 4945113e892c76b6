"""Settings: read once at start from ``MAILPIPE_*`` environment variables, validated, frozen.

Nested fields use ``__``: ``MAILPIPE_KAFKA__BOOTSTRAP_SERVERS``. For local work a dotenv file
(``MAILPIPE_ENV_FILE``, else ``.state/stack.env`` written by ``make up``) supplies defaults;
real environment variables win over it. Secrets are ``SecretStr`` and print as ``**********``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import redact
from .errors import ConfigError

PREFIX = "MAILPIPE_"


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(Section):
    """The brokers and how to reach them: plaintext for local work; production clusters want TLS
    (``SSL``) and SASL (``SASL_SSL`` with PLAIN or SCRAM)."""

    bootstrap_servers: str
    client_id: str = "mailpipe"
    max_request_bytes: int = Field(8 * 1024 * 1024, gt=0)
    request_timeout_seconds: float = Field(30.0, gt=0)
    # replicas of each topic `mailpipe topics create` makes: 1 suits the local single broker; a
    # production cluster wants 3 (and the topics' min.insync.replicas 2)
    topic_replication_factor: int = Field(1, ge=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_file: str | None = Field(None, description="the CA bundle to verify brokers by; default: the system's")
    ssl_check_hostname: bool = True
    ssl_cert_file: str | None = Field(None, description="a client certificate, for brokers that demand mutual TLS")
    ssl_key_file: str | None = None
    # Client tuning, chosen by bench/kafka_tuning.py (figures in docs/operations.md). Every stage
    # flushes its producer once per poll batch, and a flush sends at once whatever linger waits for.
    compression_type: Literal["none", "gzip", "lz4", "zstd"] = Field(
        "lz4", description="producer record-batch compression; consumers read every codec")
    linger_seconds: float = Field(0.1, ge=0, le=1, description="how long a producer batch waits to fill "
                                  "before it is sent; a flush sends it at once")
    # records reach hundreds of KiB (raw mail below the claim-check threshold): kafka-python's 16 KiB
    # default would put almost every one in a request of its own
    producer_batch_bytes: int = Field(1024 * 1024, ge=1024, description="bytes per partition a producer "
                                      "collects into one record batch")
    fetch_min_bytes: int = Field(1, gt=0, description="bytes the broker waits for before it answers a fetch")
    fetch_max_wait_seconds: float = Field(0.5, ge=0, le=10, description="longest a fetch waits for "
                                          "fetch_min_bytes")
    max_partition_fetch_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="bytes per partition one "
                                           "fetch returns at most (a larger record batch still comes whole)")

    @field_validator("compression_type")
    @classmethod
    def _codec_installed(cls, codec: str) -> str:
        # kafka-python checks its codec library only when the producer is built, and a consumer
        # only when a compressed batch arrives: a missing one must stop the service at start
        from kafka import codec as codecs

        installed = {"none": True, "gzip": codecs.has_gzip(), "lz4": codecs.has_lz4(), "zstd": codecs.has_zstd()}
        if not installed[codec]:
            package = {"lz4": "lz4", "zstd": "zstandard"}.get(codec, codec)
            raise ValueError(f"compression {codec} needs the Python package {package}, which is not installed")
        return codec

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (self.sasl_username and self.sasl_password):
            raise ValueError(f"security_protocol {self.security_protocol} needs MAILPIPE_KAFKA__SASL_USERNAME and "
                             "MAILPIPE_KAFKA__SASL_PASSWORD")
        if bool(self.ssl_cert_file) != bool(self.ssl_key_file):
            raise ValueError("MAILPIPE_KAFKA__SSL_CERT_FILE and MAILPIPE_KAFKA__SSL_KEY_FILE go together")
        if self.producer_batch_bytes > self.max_request_bytes:
            raise ValueError("MAILPIPE_KAFKA__PRODUCER_BATCH_BYTES must not exceed MAILPIPE_KAFKA__MAX_REQUEST_BYTES "
                             "(a record batch above the topics' max.message.bytes is refused)")
        return self


class PostgresSettings(Section):
    dsn: SecretStr
    connect_timeout_seconds: int = Field(5, gt=0)

    @field_validator("dsn")
    @classmethod
    def _parseable(cls, dsn: SecretStr) -> SecretStr:
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(dsn.get_secret_value())
        except Exception:  # psycopg's message quotes the whole string, password included
            raise ValueError("not a PostgreSQL connection string (postgresql://user:password@host:port/db "
                             "or key=value pairs); the value is not shown: it may hold a password") from None
        redact.register(str(params["password"]) if params.get("password") else None)
        if not all(p.strip().isdigit() for p in str(params.get("port") or "5432").split(",")):
            raise ValueError("its port is not a number (libpq would refuse it at every connect)")
        return dsn


class S3Settings(Section):
    endpoint_url: str | None = None
    access_key_id: str
    secret_access_key: SecretStr
    bucket: str
    region: str = "us-east-1"
    # S3-compatible servers want path-style (http://host/bucket/key); AWS S3 takes virtual-host style
    addressing_style: Literal["path", "virtual", "auto"] = "path"

    @field_validator("endpoint_url")
    @classmethod
    def _plain_url(cls, url: str | None) -> str | None:
        from urllib.parse import urlsplit

        if url is None:
            return None
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
        except ValueError:
            raise ValueError("not a URL (http://host:port); the value is not shown") from None
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not hold credentials (user:password@); the value is not shown: set "
                             "MAILPIPE_S3__ACCESS_KEY_ID and MAILPIPE_S3__SECRET_ACCESS_KEY instead")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http:// or https:// URL with a host")
        return url


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
        settings = cls(_env_file=env_file(), **overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            names = _required_variables(cls, err["loc"]) if err["type"] == "missing" else []
            for var in names or [PREFIX + "__".join(str(p) for p in err["loc"]).upper()]:
                problems.append(f"{var}: {redact.redact(err['msg'])}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
    _register_secrets(settings)
    return settings


def _register_secrets(model: BaseModel) -> None:
    """Every SecretStr in ``model`` registered with ``redact``, so no log line can print one."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            redact.register(value.get_secret_value())
        elif isinstance(value, BaseModel):
            _register_secrets(value)


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
