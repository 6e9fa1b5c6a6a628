"""Settings of every service, read from the environment by a function (never at import time).

Shared variables carry explicit names (``KAFKA_BOOTSTRAP_SERVERS``, ``PLATFORM_*``); each
service's own variables carry its prefix (``APPROVAL_``, ``SUPERVISION_``, ``NOTIFY_``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar, TypeVar

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BROKER_PORT = 9092
REAL_DAY_SECONDS = 86_400.0


class PlatformSettings(BaseSettings):
    """What every process of the platform needs to know."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
        description="Kafka cluster to use; unset means the embedded broker on BROKER_PORT.",
    )
    broker_port: int = Field(
        default=DEFAULT_BROKER_PORT,
        validation_alias=AliasChoices("BROKER_PORT", "broker_port"),
        description="Port of the embedded broker (used when KAFKA_BOOTSTRAP_SERVERS is unset).",
    )
    topic_partitions: int = Field(
        default=6,
        ge=1,
        validation_alias=AliasChoices("KAFKA_TOPIC_PARTITIONS", "topic_partitions"),
    )
    topic_replication: int = Field(
        default=1,
        ge=1,
        validation_alias=AliasChoices("KAFKA_REPLICATION_FACTOR", "topic_replication"),
    )
    kafka_rebalance_timeout_s: float = Field(
        default=4.0,
        gt=0,
        validation_alias=AliasChoices("KAFKA_REBALANCE_TIMEOUT_S", "kafka_rebalance_timeout_s"),
        description="Consumer-group rebalance timeout; short so a first join is quick locally.",
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=100,
        ge=1,
        le=30_000,
        validation_alias=AliasChoices("KAFKA_FETCH_MAX_WAIT_MS", "kafka_fetch_max_wait_ms"),
        description="Longest a service's consumer fetch waits for data on an empty partition. "
        "Each hop of a project's path may wait this long (faust's own value is 1.5 s).",
    )
    kafka_fetch_idle_wait_ms: int = Field(
        default=1000,
        ge=0,
        le=30_000,
        validation_alias=AliasChoices("KAFKA_FETCH_IDLE_WAIT_MS", "kafka_fetch_idle_wait_ms"),
        description="Fetch wait of a service consumer whose partitions stayed empty for "
        "KAFKA_FETCH_IDLE_AFTER_S: fewer fetches at rest; 0 keeps the short wait always.",
    )
    kafka_fetch_idle_after_s: float = Field(
        default=10.0,
        gt=0,
        validation_alias=AliasChoices("KAFKA_FETCH_IDLE_AFTER_S", "kafka_fetch_idle_after_s"),
        description="Seconds without records after which a consumer fetches with the idle wait.",
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PLATFORM_JWT_SECRET", "jwt_secret"),
    )
    jwt_max_ttl_s: int = Field(
        default=86_400,
        gt=0,
        validation_alias=AliasChoices("PLATFORM_JWT_MAX_TTL_S", "jwt_max_ttl_s"),
        description="Longest lifetime a token may have: its 'exp' at most this far ahead.",
    )
    jwt_leeway_s: int = Field(
        default=5,
        ge=0,
        validation_alias=AliasChoices("PLATFORM_JWT_LEEWAY_S", "jwt_leeway_s"),
        description="Clock skew tolerated on a token's exp, nbf and iat.",
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        gt=0,
        validation_alias=AliasChoices("PLATFORM_MAX_BODY_BYTES", "max_body_bytes"),
        description="Largest request body accepted (413 beyond), counted while it streams in.",
    )
    max_json_items: int = Field(
        default=1000,
        gt=0,
        validation_alias=AliasChoices("PLATFORM_MAX_JSON_ITEMS", "max_json_items"),
        description="Most elements any JSON array of a request body may hold (422 beyond).",
    )
    http_read_timeout_s: float = Field(
        default=30.0,
        gt=0,
        validation_alias=AliasChoices("PLATFORM_HTTP_READ_TIMEOUT_S", "http_read_timeout_s"),
        description="Time a client has to send a request's headers, and then its body.",
    )
    day_seconds: float = Field(
        default=REAL_DAY_SECONDS,
        gt=0,
        validation_alias=AliasChoices("PLATFORM_DAY_SECONDS", "day_seconds"),
        description="How many real seconds one platform day lasts (compressed time for demos).",
    )
    clock_epoch: datetime | None = Field(
        default=None,
        validation_alias=AliasChoices("PLATFORM_CLOCK_EPOCH", "clock_epoch"),
        description="Instant where compressed time starts; all processes must share it.",
    )
    data_dir: Path = Field(
        default=Path("data"),
        validation_alias=AliasChoices("PLATFORM_DATA_DIR", "data_dir"),
    )
    log_level: str = Field(
        default="INFO", validation_alias=AliasChoices("PLATFORM_LOG_LEVEL", "log_level")
    )
    log_json: bool = Field(
        default=True, validation_alias=AliasChoices("PLATFORM_LOG_JSON", "log_json")
    )

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.broker_port}"

    @property
    def embedded_broker(self) -> bool:
        return not self.kafka_bootstrap_servers

    def require_jwt_secret(self) -> str:
        """The shared signing secret; a service refuses to start without one."""
        if self.jwt_secret is None or not self.jwt_secret.get_secret_value():
            raise RuntimeError(
                "PLATFORM_JWT_SECRET is not set: refusing to start without a token secret "
                "(`make run` generates a development secret for you)"
            )
        return self.jwt_secret.get_secret_value()


class ServiceSettings(PlatformSettings):
    """A service: its own database, port and name on top of the platform settings."""

    service_name: ClassVar[str] = "service"
    default_port: ClassVar[int] = 8000

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset means a SQLite file in the data dir."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=0, validate_default=True, ge=0, le=65535)
    outbox_batch_size: int = Field(default=500, ge=1)
    outbox_poll_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="How often an idle outbox relay looks for rows committed by another "
        "process (another instance of the service); this process's commits wake it at once.",
    )
    outbox_retention_hours: float = Field(
        default=24.0,
        gt=0,
        validation_alias=AliasChoices("OUTBOX_RETENTION_HOURS", "outbox_retention_hours"),
        description="How long sent outbox rows are kept, to publish them again to a broker "
        "that lost its topics (a restarted in-memory broker); older ones are deleted.",
    )
    consumer_batch_size: int = Field(default=500, ge=1)
    consumer_fetch_min_bytes: int = Field(
        default=1,
        ge=1,
        le=52_428_800,
        description="Least data a consumer fetch asks the broker for; the broker answers "
        "at the fetch wait (KAFKA_FETCH_MAX_WAIT_MS) at the latest. 1 answers at once: for "
        "a consumer on the path of an approval. More gathers the events of an off-path "
        "consumer into fewer fetches: less CPU per event for it and for the broker.",
    )
    consumer_batch_window_ms: int = Field(
        default=50,
        ge=0,
        le=10_000,
        description="How long a consumer batch, opened by its first event, waits for more "
        "before it is applied: longer batches cost less CPU per event and add this much "
        "latency to a lone event.",
    )
    consumer_group: str | None = Field(
        default=None, description="Kafka consumer group; unset means '<service>-svc'."
    )

    @property
    def group_id(self) -> str:
        return self.consumer_group or f"{self.service_name}-svc"

    @field_validator("port", mode="after")
    @classmethod
    def _default_port(cls, value: int) -> int:
        return value or cls.default_port

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / f'{self.service_name}.db').as_posix()}"


S = TypeVar("S", bound=PlatformSettings)


def build_settings(cls: type[S], **overrides: object) -> S:
    """Read settings from the environment now; keyword overrides win (tests, composition)."""
    # pydantic's mypy plugin types __init__ field by field; overrides are checked at runtime
    # by the model itself (and BaseSettings reads the environment only in __init__).
    return cls(**overrides)  # type: ignore[arg-type]


def get_platform_settings(**overrides: object) -> PlatformSettings:
    return build_settings(PlatformSettings, **overrides)
