"""Every knob of PolicyGuard in one typed object, read from the environment and a settings file.

``KAFKA_BOOTSTRAP_SERVERS`` and ``REDIS_URL`` keep their conventional names; everything else
is ``POLICYGUARD_<FIELD>``, and a section's field ``POLICYGUARD_<SECTION>__<FIELD>``. A TOML file
named by ``POLICYGUARD_SETTINGS_FILE`` (``policyguard --settings FILE``) gives the same fields,
sections as tables; the environment overrides it, so one file serves a fleet and each pod
changes what it must. A variable or key that is not a setting is an error, not ignored: a typo
in a compliance threshold must not pass for the default.

The broker profile picks consumer-group timeouts: Kafka's usual defaults for a real cluster,
short ones for the embedded tansu broker, where Faust would otherwise wait 30–110 s to join.
"""
from __future__ import annotations

import difflib
import json
import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, get_origin

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from streams.core.crosspolicy import DEV_SECRET, CrossPolicyConfig
from streams.core.detection.config import DetectionConfig

PREFIX = "POLICYGUARD_"
NESTING = "__"
SETTINGS_FILE_VARIABLE = "POLICYGUARD_SETTINGS_FILE"
UNPREFIXED = ("kafka_bootstrap_servers", "redis_url")
ACCESS_TRAIL_RETENTION_DAYS = 1095
"""Three years of who looked up which customer (``policyguard customer``)."""


class SettingsError(ValueError):
    """Settings that cannot be read: each line names the variable or key and what is wrong."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


class BrokerProfile(StrEnum):
    KAFKA = "kafka"
    EMBEDDED = "embedded"


# (session timeout, heartbeat interval, rebalance timeout) in seconds.
GROUP_TIMEOUTS: dict[BrokerProfile, tuple[float, float, float]] = {
    BrokerProfile.KAFKA: (60.0, 3.0, 60.0),
    BrokerProfile.EMBEDDED: (3.0, 0.3, 2.0),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_nested_delimiter=NESTING, extra="forbid")

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        description="host:port[,host:port]; unset means: start the embedded broker (demo only)",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db; pinged at worker start when set",
    )
    hash_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key of the customer index (Redis holds keyed hashes only); required by a worker with "
        "REDIS_URL; replay and the demo fall back to a development key",
    )
    redis_prefix: str = Field(default="policyguard", min_length=1, description="prefix of every Redis key")

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        """Said at once, not as the Redis client's traceback at the first connection."""
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix:// (e.g. redis://localhost:6379/0)")
        return value
    redis_timeout_s: float = Field(
        default=2.0, gt=0, description="a Redis call slower than this counts as an outage (checks are deferred)"
    )
    cross_backlog_max: int = Field(
        default=100_000, ge=0, description="events whose cross-policy checks wait through a Redis outage; beyond: skipped"
    )
    access_trail_retention_days: int = Field(
        default=ACCESS_TRAIL_RETENTION_DAYS, ge=1,
        description="customer: how long the access trail (<prefix>:audit) keeps who looked up whom; older entries "
        "are trimmed, never by count",
    )
    dingtalk_webhook: SecretStr | None = Field(
        default=None, description="dingtalk-bridge: the robot's webhook URL (it carries the access token)"
    )
    dingtalk_secret: SecretStr | None = Field(default=None, description="dingtalk-bridge: the robot's 加签 secret")
    dingtalk_bridge_token: SecretStr | None = Field(
        default=None,
        description="dingtalk-bridge: the bearer token Alertmanager must send (Authorization: Bearer …), at least "
        "16 characters; the bridge does not start without one",
    )
    broker_profile: BrokerProfile = Field(
        default=BrokerProfile.KAFKA, description="kafka: Kafka's usual group timeouts; embedded: short ones for tansu"
    )

    app_id: str = Field(default="policyguard", description="Faust app id = consumer group; names the state changelog")
    topic_policy_events: str = Field(default="policy-events", description="input: policy snapshots")
    topic_endorsement_events: str = Field(default="endorsement-events", description="input: endorsements (保全)")
    topic_policy_clean: str = Field(default="policy-events.clean", description="output: validated policy events")
    topic_endorsement_clean: str = Field(default="endorsement-events.clean", description="output: validated endorsements")
    topic_quarantine: str = Field(default="policyguard.quarantine", description="output: everything else, with reasons")
    topic_alerts: str = Field(default="policyguard.alerts", description="output: alerts for operations")
    topic_commission: str = Field(default="policyguard.commission", description="output: commission HOLD / RELEASE")
    topic_partitions: int = Field(default=1, ge=1, description="for topics PolicyGuard creates")
    topic_replication_factor: int = Field(default=1, ge=1, description="for topics PolicyGuard creates")

    session_timeout_s: float | None = Field(default=None, gt=0, description="overrides the broker profile's")
    heartbeat_interval_s: float | None = Field(default=None, gt=0, description="overrides the broker profile's")
    rebalance_timeout_s: float | None = Field(default=None, gt=0, description="overrides the broker profile's")
    offset_reset: str = Field(default="earliest", pattern="^(earliest|latest)$",
                              description="where a new consumer group starts: earliest or latest")

    detection: DetectionConfig = Field(
        default_factory=DetectionConfig, description="the per-policy state machine (docs/contract.md §3.3, §3.4)"
    )
    cross_policy: CrossPolicyConfig = Field(
        default_factory=CrossPolicyConfig, description="the customer index and its detectors (docs/contract.md §3.5)"
    )
    timer_interval_s: float = Field(default=1.0, gt=0, description="how often held edits and holds are checked")
    connect_timeout_s: float = Field(default=30.0, gt=0, description="how long to wait for the broker at start")
    idle_after_s: float = Field(
        default=5.0, gt=0,
        description="a topic partition with no record for this long is caught up: the wall clock stands in for its time",
    )
    max_message_bytes: int = Field(
        default=1_048_576, ge=65_536,
        description="largest record PolicyGuard writes (the broker's message.max.bytes); larger outputs are quarantined",
    )
    rules_file: str | None = Field(default=None, description="TOML rules configuration; unset: the contract's defaults")
    data_dir: str = Field(
        default="policyguard-data",
        description="local state directory: each owned partition's policy states on disk (RocksDB), kept across "
        "restarts so only the changelog written since is read back",
    )
    state_cache_size: int = Field(
        default=100_000, ge=100, description="parsed policy states kept in memory per partition (the rest are on disk)"
    )
    metrics_host: str = Field(default="0.0.0.0", description="address /metrics listens on")
    metrics_port: int = Field(default=9464, ge=0, le=65535, description="0 disables /metrics")
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$",
                           description="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    log_format: str = Field(default="text", pattern="^(text|json)$",
                            description="text, or json: one object per line (time, level, logger, message)")

    @property
    def input_topics(self) -> tuple[str, str]:
        return (self.topic_policy_events, self.topic_endorsement_events)

    @property
    def output_topics(self) -> tuple[str, ...]:
        return (
            self.topic_policy_clean,
            self.topic_endorsement_clean,
            self.topic_quarantine,
            self.topic_alerts,
            self.topic_commission,
        )

    def secret(self) -> str:
        """The customer index's HMAC key (the development key when none is set)."""
        return self.hash_secret.get_secret_value() if self.hash_secret is not None else DEV_SECRET

    def as_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process (which reads no
        settings file of its own: every value is here)."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(mode="json", exclude_none=True).items():
            if name in SECTIONS:
                env.update({env_name(name, sub): _value_of(item) for sub, item in value.items()})
                continue
            secret = getattr(self, name)
            env[env_name(name)] = secret.get_secret_value() if isinstance(secret, SecretStr) else _value_of(value)
        return env

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the settings file."""
        return (init_settings, CheckedEnvSource(settings_cls), SettingsFileSource(settings_cls, settings_file()))

    def group_timeouts(self) -> tuple[float, float, float]:
        session, heartbeat, rebalance = GROUP_TIMEOUTS[self.broker_profile]
        return (
            self.session_timeout_s or session,
            self.heartbeat_interval_s or heartbeat,
            self.rebalance_timeout_s or rebalance,
        )


SECTIONS: dict[str, type[BaseModel]] = {"detection": DetectionConfig, "cross_policy": CrossPolicyConfig}


def setting_paths() -> list[tuple[tuple[str, ...], FieldInfo]]:
    """Every leaf setting with its path: ``("app_id",)``, ``("detection", "arrival_grace_s")``."""
    paths: list[tuple[tuple[str, ...], FieldInfo]] = []
    for name, field in Settings.model_fields.items():
        section = SECTIONS.get(name)
        if section is None:
            paths.append(((name,), field))
        else:
            paths.extend(((name, sub), info) for sub, info in section.model_fields.items())
    return paths


def env_name(*path: str) -> str:
    """The environment variable that sets the setting at ``path``."""
    if len(path) == 1 and path[0] in UNPREFIXED:
        return path[0].upper()
    return PREFIX + NESTING.join(part.upper() for part in path)


def known_variables() -> set[str]:
    names = {env_name(*path) for path, _ in setting_paths()}
    names |= {env_name(section) for section in SECTIONS}  # a whole section as JSON
    names |= {PREFIX + name.upper() for name in UNPREFIXED}  # the prefixed aliases
    return names | {SETTINGS_FILE_VARIABLE}


RENAMED = {
    f"{PREFIX}{old}": env_name(*new) for old, new in {
        "ARRIVAL_GRACE_S": ("detection", "arrival_grace_s"), "CLOCK_SKEW_S": ("detection", "clock_skew_s"),
        "MAX_LATENESS_S": ("detection", "max_lateness_s"), "HOLD_DEADLINE_DAYS": ("detection", "hold_deadline_days"),
        "RETENTION_DAYS": ("detection", "retention_days"), "PENALTIES": ("detection", "penalties"),
        "SHARED_CONTACT_MIN_IDS": ("cross_policy", "shared_contact_min_ids"),
        "SHARED_CONTACT_WINDOW_DAYS": ("cross_policy", "shared_contact_window_days"),
        "INDEX_RETENTION_DAYS": ("cross_policy", "retention_days"),
    }.items()
}
"""Variables of 0.1 that moved into a section: named exactly, not guessed."""


def unknown_variables(environ: dict[str, str]) -> list[str]:
    """``POLICYGUARD_*`` variables that set nothing, each with the setting it probably meant."""
    known = known_variables()
    lines = []
    for variable in sorted(name.upper() for name in environ if name.upper().startswith(PREFIX)):
        if variable not in known:
            close = [RENAMED[variable]] if variable in RENAMED else difflib.get_close_matches(variable, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            lines.append(f"{variable}: not a setting{hint}")
    return lines


def settings_file() -> Path | None:
    name = os.environ.get(SETTINGS_FILE_VARIABLE)
    return Path(name) if name else None


def _value_of(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def settings_errors(exc: ValidationError) -> list[str]:
    """One ``VARIABLE: what is wrong`` per problem; the offending value is not echoed (it may
    be a secret or a URL with a password). With a settings file the line names its key too."""
    file = settings_file()
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in error["loc"]]
        if not loc:
            lines.append(f"(settings): {error['msg']}")
            continue
        head = loc[:2] if loc[0] in SECTIONS else loc[:1]
        rest = loc[len(head):]
        message = error["msg"].removeprefix("Value error, ")  # a validator's own words stand alone
        where = env_name(*(part.lower() for part in head)) + (f" ({'.'.join(rest)})" if rest else "")
        if error["type"] == "extra_forbidden":
            lines.append(f"{'.'.join(loc)}" + (f" in {file}" if file else "") + ": not a setting")
        elif file is not None:
            lines.append(f"{where} or {'.'.join(loc)} in {file}: {message}")
        else:
            lines.append(f"{where}: {message}")
    return lines


class CheckedEnvSource(EnvSettingsSource):
    """The environment, refusing ``POLICYGUARD_*`` variables that name no setting and
    naming the variable whose JSON does not parse."""

    def __call__(self) -> dict[str, Any]:
        unknown = unknown_variables(dict(os.environ))
        if unknown:
            raise SettingsError(unknown)
        try:
            values = super().__call__()
        except ValueError as exc:  # pydantic-settings' SettingsError: a complex value is not JSON
            bad = [f"{name}: not valid JSON" for name in sorted(_json_variables())
                   if name in os.environ and not _parses(os.environ[name])]
            raise SettingsError(bad or [str(exc)]) from exc
        for name in UNPREFIXED:  # their conventional names; POLICYGUARD_<NAME> wins when both are set
            if name not in values and os.environ.get(name.upper()):
                values[name] = os.environ[name.upper()]
        return values


def _json_variables() -> set[str]:
    """The variables read as JSON: whole sections, lists, sets and maps."""
    names = {env_name(section) for section in SECTIONS}
    names |= {env_name(*path) for path, info in setting_paths()
              if get_origin(info.annotation) in (dict, list, set, frozenset)}
    return names


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


class SettingsFileSource(PydanticBaseSettingsSource):
    """``POLICYGUARD_SETTINGS_FILE``: TOML with the settings' field names, sections as tables."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the whole document is read at once, in __call__

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            return tomllib.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problem = "no such file"
        except IsADirectoryError:
            problem = "a directory, not a file"
        except (OSError, UnicodeDecodeError) as exc:
            problem = f"cannot be read ({exc.__class__.__name__})"
        except tomllib.TOMLDecodeError as exc:
            problem = f"not TOML: {exc}"
        raise SettingsError([f"{SETTINGS_FILE_VARIABLE}={self.path}: {problem}"])
