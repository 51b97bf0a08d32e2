"""Settings: embedded defaults, then a TOML file, then OMEN_* environment variables, then flags.

Every setting is validated with pydantic at start-up; a bad one stops the server with a message
naming the setting and where its value came from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from omen.errors import ConfigError

ENV_PREFIX = "OMEN_"
# OMEN_* variables that are not settings: the config path and the native-code switches.
NON_SETTING_ENV = frozenset({"OMEN_CONFIG", "OMEN_NO_EXTENSIONS", "OMEN_REQUIRE_NATIVE"})
MIB = 1024 * 1024


_PUBLISHER_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class PublisherSettings(BaseModel):
    """One downstream publisher ([[publishers]] in the config file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_PUBLISHER_NAME, description="unique; names its cursor file")
    kind: Literal["console", "webhook", "kafka"]
    # webhook
    url: str | None = Field(None, description="webhook: the URL signals are POSTed to")
    secret: SecretStr | None = Field(
        None, description="webhook: HMAC-SHA256 key for the X-Omen-Signature header"
    )
    timeout_s: float = Field(10.0, gt=0, le=300, description="webhook: per-request timeout")
    # kafka
    bootstrap_servers: str | None = Field(None, description="kafka: host:port[,host:port]")
    topic: str | None = Field(None, description="kafka: topic signals are produced to")
    security_protocol: Literal["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"] = Field(
        "plaintext", description="kafka: librdkafka's security.protocol"
    )
    ssl_ca_location: Path | None = Field(
        None, description="kafka: CA certificate(s) (PEM file or directory); default: system CAs"
    )
    ssl_certificate_location: Path | None = Field(
        None, description="kafka: client certificate (PEM), with ssl_key_location"
    )
    ssl_key_location: Path | None = Field(
        None, description="kafka: client private key (PEM), with ssl_certificate_location"
    )
    ssl_key_password: SecretStr | None = Field(
        None, description="kafka: passphrase of an encrypted ssl_key_location"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="kafka: SASL mechanism (sasl_plaintext, sasl_ssl)"
    )
    sasl_username: str | None = Field(None, min_length=1, description="kafka: SASL user name")
    sasl_password: SecretStr | None = Field(None, description="kafka: SASL password")
    # delivery
    batch_size: int = Field(100, ge=1, le=10_000, description="signals read per delivery round")
    backoff_initial_s: float = Field(0.2, gt=0, le=60, description="first retry delay")
    backoff_max_s: float = Field(30.0, gt=0, le=3600, description="largest retry delay")
    breaker_failures: int = Field(
        5, ge=1, le=1000, description="consecutive failures that open the circuit breaker"
    )
    breaker_reset_s: float = Field(
        30.0, gt=0, le=3600, description="how long an open breaker waits before a trial"
    )

    @model_validator(mode="after")
    def _needs(self) -> PublisherSettings:
        missing = []
        if self.kind == "webhook" and not self.url:
            missing.append("url")
        if self.kind == "kafka":
            missing += [f for f in ("bootstrap_servers", "topic") if not getattr(self, f)]
        if missing:
            raise ValueError(f"a {self.kind} publisher needs {', '.join(missing)}")
        self._check_kafka_security()
        return self

    def _check_kafka_security(self) -> None:
        """TLS and SASL: kafka only, and only the combinations librdkafka would use. Names
        fields, never their values (some are secrets)."""
        given = [f for f in _KAFKA_SECURITY_FIELDS if f in self.model_fields_set]
        who = f"{self.kind} publisher {self.name!r}"
        if self.kind != "kafka":
            if given:
                raise ValueError(f"{who}: {', '.join(given)} apply to kafka publishers only")
            return
        protocol = self.security_protocol
        sasl = [f for f in _SASL_FIELDS if getattr(self, f) is not None]
        if protocol.startswith("sasl_"):
            if len(sasl) < len(_SASL_FIELDS):
                lacking = [f for f in _SASL_FIELDS if f not in sasl]
                raise ValueError(
                    f"{who}: security_protocol {protocol} needs {', '.join(lacking)} "
                    "(sasl_mechanism, sasl_username and sasl_password go together)"
                )
        elif sasl:
            raise ValueError(
                f"{who}: {', '.join(sasl)} {_need(sasl)} security_protocol sasl_plaintext or "
                f"sasl_ssl (it is {protocol})"
            )
        tls = [f for f in _SSL_FIELDS if getattr(self, f) is not None]
        if tls and protocol not in ("ssl", "sasl_ssl"):
            raise ValueError(
                f"{who}: {', '.join(tls)} {_need(tls)} security_protocol ssl or sasl_ssl (it "
                f"is {protocol}: the connection would not use TLS)"
            )
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise ValueError(
                f"{who}: ssl_certificate_location and ssl_key_location go together "
                "(client certificate authentication needs both)"
            )
        if self.ssl_key_password is not None and self.ssl_key_location is None:
            raise ValueError(f"{who}: ssl_key_password needs ssl_key_location")


_SSL_FIELDS = (
    "ssl_ca_location",
    "ssl_certificate_location",
    "ssl_key_location",
    "ssl_key_password",
)
_SASL_FIELDS = ("sasl_mechanism", "sasl_username", "sasl_password")


def _need(fields: list[str]) -> str:
    return "needs" if len(fields) == 1 else "need"


_KAFKA_SECURITY_FIELDS = ("security_protocol", *_SSL_FIELDS, *_SASL_FIELDS)


class Settings(BaseModel):
    """Every setting of `omen serve`, with its embedded default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", min_length=1, description="address to listen on")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free one")
    data_dir: Path = Field(Path("data"), description="directory for the ledger and state")
    api_keys: tuple[SecretStr, ...] = Field(
        (), description="accepted x-api-key values; OMEN_API_KEYS is comma-separated"
    )
    grace_period_s: float = Field(
        10.0, ge=0, le=600, description="seconds in-flight calls get to finish on shutdown"
    )
    max_event_bytes: int = Field(
        MIB, ge=1024, le=64 * MIB, description="largest serialised event accepted"
    )
    max_message_bytes: int = Field(
        16 * MIB, ge=64 * 1024, le=256 * MIB, description="largest gRPC message received"
    )
    max_concurrent_rpcs: int | None = Field(
        None, ge=1, description="calls served at once; more are refused with RESOURCE_EXHAUSTED"
    )
    metrics_host: str = Field("127.0.0.1", min_length=1)
    metrics_port: int = Field(
        9464, ge=0, le=65535, description="Prometheus /metrics port; 0 disables the endpoint"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    ruleset_file: Path | None = Field(
        None, description="TOML file overriding parameters of the packaged default ruleset"
    )
    gc_threshold0: int = Field(
        50_000,
        ge=0,
        le=10_000_000,
        description="allocations between young-generation collections; 0 keeps Python's 700",
    )
    gil_switch_interval_ms: float = Field(
        1.0,
        ge=0,
        le=1_000,
        description="how long a thread holds the GIL while another waits for it; 0 keeps "
        "Python's 5 ms",
    )
    process_delay_ms: int = Field(
        0,
        ge=0,
        le=60_000,
        description="fault injection: delay every Process call (testing shutdown and timeouts)",
    )

    ledger_durability: Literal["fsync", "interval", "none"] = Field(
        "fsync",
        description="when an append is acknowledged: after fdatasync (fsync), after the write "
        "with an fdatasync every ledger_interval_ms (interval), or after the write (none)",
    )
    ledger_interval_ms: int = Field(
        50, ge=1, le=60_000, description="interval durability: ms between fdatasyncs"
    )
    ledger_segment_mib: int = Field(
        16, ge=1, le=4096, description="preallocated size of a ledger segment file, MiB"
    )
    ledger_max_batch_kib: int = Field(
        1024, ge=4, le=65_536, description="largest group commit, KiB of framed records"
    )
    ledger_batch_delay_ms: float = Field(
        0.0, ge=0, le=100, description="how long a group commit waits to fill (0: not at all)"
    )
    ledger_auto_seal: bool = Field(
        True, description="seal each date's partition ledger_seal_grace_s after the date ends"
    )
    ledger_seal_grace_s: float = Field(
        3600.0, ge=0, le=30 * 86_400, description="seconds after a UTC date ends before auto-seal"
    )
    ledger_archive_dir: Path | None = Field(
        None, description="where `omen ledger archive` moves sealed partitions"
    )

    max_stream_events: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="ProcessStream: events one stream may have in flight before it stops reading",
    )
    max_server_events: int = Field(
        100_000,
        ge=1,
        le=10_000_000,
        description="ProcessStream: events all streams together may have in flight",
    )
    max_streams: int = Field(
        1_000, ge=1, le=100_000, description="open ProcessStreams; more get RESOURCE_EXHAUSTED"
    )
    publishers: tuple[PublisherSettings, ...] = Field(
        (), description="downstream publishers ([[publishers]] tables in the config file)"
    )

    @field_validator("publishers")
    @classmethod
    def _unique_publishers(
        cls, publishers: tuple[PublisherSettings, ...]
    ) -> tuple[PublisherSettings, ...]:
        names = [p.name for p in publishers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"publisher names must be unique; repeated: {', '.join(dupes)}")
        return publishers

    @property
    def outbox_dir(self) -> Path:
        """Publisher cursors and dead letters: <data_dir>/outbox."""
        return self.data_dir / "outbox"

    @property
    def ledger_dir(self) -> Path:
        """The ledger's root: <data_dir>/ledger."""
        return self.data_dir / "ledger"

    @field_validator("api_keys")
    @classmethod
    def _keys_are_usable(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for key in keys:
            raw = key.get_secret_value()
            if len(raw) < 8 or any(c.isspace() for c in raw) or not raw.isprintable():
                raise ValueError(
                    "each API key must be at least 8 printable characters without whitespace"
                )
        return keys

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


_FIELDS = tuple(Settings.model_fields)
_LIST_FIELDS = frozenset({"api_keys"})
# Never echoed in error messages: they hold (or may hold) secrets.
_SECRET_FIELDS = frozenset({"api_keys", "publishers"})


def _from_env(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in _FIELDS:
        var = ENV_PREFIX + name.upper()
        if var in env:
            raw = env[var]
            values[name] = (
                tuple(p.strip() for p in raw.split(",") if p.strip())
                if name in _LIST_FIELDS
                else raw
            )
            sources[name] = f"environment variable {var}"
    known = {ENV_PREFIX + n.upper() for n in _FIELDS} | NON_SETTING_ENV
    unknown = sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in known)
    return values, sources, unknown


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError([f"config file {path}: not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"config file {path}: not valid TOML: {exc}"]) from None
    except OSError as exc:
        raise ConfigError([f"config file {path}: cannot be read: {exc.strerror}"]) from None
    return data


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[Settings, list[str]]:
    """Build validated settings; returns them and warnings (e.g. unknown OMEN_* variables).

    Precedence, lowest first: embedded defaults, the config file (`config_file`, else
    OMEN_CONFIG), OMEN_* environment variables, `overrides` (command-line flags).
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if config_file is None and env.get("OMEN_CONFIG"):
        config_file = Path(env["OMEN_CONFIG"])
    if config_file is not None:
        for key, value in _from_file(config_file).items():
            values[key] = value
            sources[key] = f"config file {config_file}"
    env_values, env_sources, unknown = _from_env(env)
    values.update(env_values)
    sources.update(env_sources)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
            sources[key] = f"command-line flag --{key.replace('_', '-')}"
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"][:1]) or "?"
            where = sources.get(name, "default")
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown setting '{name}' (from {where})")
                continue
            shown = "" if name in _SECRET_FIELDS else f" (got {err.get('input')!r})"
            problems.append(f"setting '{name}' (from {where}): {err['msg']}{shown}")
        raise ConfigError(problems) from None
    warnings = [f"ignoring unknown environment variable {var}" for var in unknown]
    return settings, warnings
