"""Every knob of PolicyGuard in one typed object, read from the environment.

``KAFKA_BOOTSTRAP_SERVERS`` and ``REDIS_URL`` keep their conventional names; everything else
is ``POLICYGUARD_<FIELD>``. The broker profile picks consumer-group timeouts: Kafka's usual
defaults for a real cluster, short ones for the embedded tansu broker, where Faust would
otherwise wait 30–110 s to join its group.
"""
from __future__ import annotations

import json
from enum import StrEnum

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.alert import Penalty
from schemas.enums import ActorRole
from streams.core.crosspolicy import DEV_SECRET, CrossPolicyConfig
from streams.core.detection.config import DEFAULT_PENALTIES, DetectionConfig


class BrokerProfile(StrEnum):
    KAFKA = "kafka"
    EMBEDDED = "embedded"


# (session timeout, heartbeat interval, rebalance timeout) in seconds.
GROUP_TIMEOUTS: dict[BrokerProfile, tuple[float, float, float]] = {
    BrokerProfile.KAFKA: (60.0, 3.0, 60.0),
    BrokerProfile.EMBEDDED: (3.0, 0.3, 2.0),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLICYGUARD_", extra="ignore")

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "POLICYGUARD_KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port]; unset means: start the embedded broker (demo only)",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "POLICYGUARD_REDIS_URL"),
        description="redis://host:port/db; pinged at worker start when set",
    )
    hash_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key of the customer index (Redis holds keyed hashes only); required by a worker with "
        "REDIS_URL; replay and the demo fall back to a development key",
    )
    redis_prefix: str = Field(default="policyguard", min_length=1, description="prefix of every Redis key")
    redis_timeout_s: float = Field(
        default=2.0, gt=0, description="a Redis call slower than this counts as an outage (checks are deferred)"
    )
    shared_contact_min_ids: int = Field(
        default=3, ge=2, description="SHARED_CONTACT: distinct policyholder IDs on one mobile"
    )
    shared_contact_window_days: float = Field(default=30.0, gt=0, description="SHARED_CONTACT: within this window")
    index_retention_days: float = Field(
        default=400.0, gt=0, description="customer-index entries (Redis) without a write this long expire"
    )
    cross_backlog_max: int = Field(
        default=100_000, ge=0, description="events whose cross-policy checks wait through a Redis outage; beyond: skipped"
    )
    dingtalk_webhook: SecretStr | None = Field(
        default=None, description="dingtalk-bridge: the robot's webhook URL (it carries the access token)"
    )
    dingtalk_secret: SecretStr | None = Field(default=None, description="dingtalk-bridge: the robot's 加签 secret")
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

    arrival_grace_s: float = Field(default=600.0, ge=0, description="how long a held edit waits for its authorization")
    clock_skew_s: float = Field(default=120.0, ge=0, description="an approval may be this much later than the edit")
    max_lateness_s: float = Field(
        default=300.0, ge=0, description="how far out of event-time order a topic partition may be"
    )
    hold_deadline_days: float = Field(
        default=30.0, gt=0, description="a commission hold open longer raises INTERMEDIARY_CORRECTION_OVERDUE"
    )
    retention_days: float = Field(default=400.0, gt=0, description="idle or terminated policies are forgotten after")
    penalties: dict[ActorRole, Penalty | None] = Field(
        default_factory=dict, description='JSON, e.g. {"SALES_AGENT": {"direct_cny": 300, "supervisor_cny": 150}}'
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
    data_dir: str = Field(default="policyguard-data", description="Faust's local state directory")
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

    def detection(self) -> DetectionConfig:
        return DetectionConfig(
            arrival_grace_s=self.arrival_grace_s,
            clock_skew_s=self.clock_skew_s,
            max_lateness_s=self.max_lateness_s,
            hold_deadline_days=self.hold_deadline_days,
            retention_days=self.retention_days,
            penalties={**DEFAULT_PENALTIES, **self.penalties},
        )

    def cross_policy(self) -> CrossPolicyConfig:
        return CrossPolicyConfig(
            shared_contact_min_ids=self.shared_contact_min_ids,
            shared_contact_window_days=self.shared_contact_window_days,
            retention_days=self.index_retention_days,
        )

    def secret(self) -> str:
        """The customer index's HMAC key (the development key when none is set)."""
        return self.hash_secret.get_secret_value() if self.hash_secret is not None else DEV_SECRET

    def as_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(mode="json", exclude_none=True).items():
            secret = getattr(self, name)
            if isinstance(secret, SecretStr):
                value = secret.get_secret_value()
            env[env_name(name)] = json.dumps(value) if isinstance(value, dict | list) else str(value)
        return env

    def group_timeouts(self) -> tuple[float, float, float]:
        session, heartbeat, rebalance = GROUP_TIMEOUTS[self.broker_profile]
        return (
            self.session_timeout_s or session,
            self.heartbeat_interval_s or heartbeat,
            self.rebalance_timeout_s or rebalance,
        )


UNPREFIXED = ("kafka_bootstrap_servers", "redis_url")


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return field.upper() if field in UNPREFIXED else f"POLICYGUARD_{field.upper()}"


def settings_errors(exc: ValidationError) -> list[str]:
    """One ``VARIABLE: what is wrong`` per problem; the offending value is not echoed (it may
    be a secret or a URL with a password)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        field = str(error["loc"][0]).lower() if error["loc"] else ""
        variable = env_name(field) if field else "(settings)"
        lines.append(f"{variable}: {error['msg']}")
    return lines

