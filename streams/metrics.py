"""Prometheus metrics of docs/contract.md §5. Labels stay low-cardinality: no policy, ID or user."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

from schemas.enums import AlertType, CommissionAction
from streams.core.detection import Step
from streams.core.outputs import REASON_HEADER, OutputKind
from streams.core.pipeline import Verdict
from streams.core.processor import Emission

EVENTS = Counter("policyguard_events", "Input events handled, by outcome", ["topic", "outcome"])
QUARANTINED = Counter(
    "policyguard_quarantined", "Inputs sent to quarantine, by the record's reason (docs/contract.md §3.2)", ["reason"]
)
RULE_FINDINGS = Counter(
    "policyguard_rule_findings", "Findings raised by validation rules", ["rule", "severity", "channel"]
)
RULE_CRASHES = Counter("policyguard_rule_crashes", "Rules that raised instead of judging (a defect)", ["rule"])
ALERTS = Counter("policyguard_alerts", "Alerts raised", ["alert_type", "severity", "channel"])
UNAUTHORIZED_EDITS = Counter(
    "policyguard_unauthorized_edits", "Contact fields changed without customer authorization",
    ["field", "channel", "actor_role"],
)
PENALTY_CNY = Counter("policyguard_penalty_cny", "Penalties (direct + supervisor) in CNY by responsible role", ["role"])
HOLDS_OPEN = Gauge("policyguard_commission_holds_open", "Commission holds open on this worker's policies", ["channel"])
CONSUMER_LAG = Gauge(
    "policyguard_consumer_lag", "Records behind the partition's high watermark after the last batch",
    ["topic", "partition"],
)
DUPLICATES = Counter("policyguard_duplicate_events", "Re-delivered events ignored (same event_id)", ["topic"])
STAGE_ERRORS = Counter(
    "policyguard_stage_errors",
    "Inputs quarantined (or timed decisions skipped) because a stage failed: a defect or an input it did not foresee",
    ["stage"],
)
WORKER_CRASHES = Counter(
    "policyguard_worker_crashes", "The worker stopped because a batch could not be delivered (it exits, then)"
)
PROCESSING_SECONDS = Histogram(
    "policyguard_processing_seconds",
    "Time to judge and route one event inside the worker",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
CROSS_SKIPPED = Counter(
    "policyguard_cross_policy_skipped",
    "Events whose cross-policy checks were skipped: no_store (no REDIS_URL), backlog_full (a long Redis outage), "
    "defect",
    ["reason"],
)
ROSTER_MISSING = Gauge(
    "policyguard_cross_policy_roster_missing",
    "1 while the staff roster this worker found in the customer index is gone (a Redis restarted empty): "
    "cross-policy checks wait for `policyguard roster load`",
)
CROSS_BACKLOG = Gauge(
    "policyguard_cross_policy_backlog", "Events whose cross-policy checks wait for the customer index to answer"
)
CROSS_STORE_UP = Gauge(
    "policyguard_cross_policy_store_up", "1 while the customer index (Redis) answers, 0 during an outage"
)
CROSS_SECONDS = Histogram(
    "policyguard_cross_policy_seconds",
    "One batch's cross-policy stage: the index exchange, the detectors and the claims",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5),
)
EVENT_AGE_SECONDS = Histogram(
    "policyguard_event_age_seconds",
    "Now minus occurred_at when the event is handled",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600, 86400, 604800),
)


def _channel(value: object) -> str:
    return getattr(value, "value", None) or "UNKNOWN"


def observe_verdict(verdict: Verdict, seconds: float, now: datetime) -> None:
    """What validation found; the event's final outcome is counted by :func:`observe_step`."""
    PROCESSING_SECONDS.observe(seconds)
    event = verdict.event
    channel = _channel(event.channel if event is not None else None)
    for finding in verdict.findings:
        RULE_FINDINGS.labels(rule=finding.rule, severity=finding.severity.value, channel=channel).inc()
    for rule_id in verdict.crashed_rules:
        RULE_CRASHES.labels(rule=rule_id).inc()
    if event is not None:
        EVENT_AGE_SECONDS.observe(max((now - event.occurred_at).total_seconds(), 0.0))


def observe_emission(emission: Emission, now: datetime) -> None:
    for verdict, seconds in emission.verdicts:
        observe_verdict(verdict, seconds, now)
    for step in emission.steps:
        observe_step(step)
    for stage, count in emission.stage_errors.items():
        STAGE_ERRORS.labels(stage=stage).inc(count)


def count_duplicates(topic: str, count: int) -> None:
    if count:
        DUPLICATES.labels(topic=topic).inc(count)


def observe_step(step: Step, topic: str | None = None) -> None:
    for source, outcome in step.decided:
        EVENTS.labels(topic=source or topic or "unknown", outcome=outcome).inc()
    for output in step.outputs:
        if output.kind is OutputKind.QUARANTINE:
            reason = dict(output.headers).get(REASON_HEADER, b"UNKNOWN").decode()
            QUARANTINED.labels(reason=reason).inc()
    for alert in step.alerts:
        channel = _channel(alert.channel)
        ALERTS.labels(alert_type=alert.alert_type.value, severity=alert.severity.value, channel=channel).inc()
        role = alert.responsible.role.value if alert.responsible and alert.responsible.role else "UNKNOWN"
        if alert.penalty is not None:
            PENALTY_CNY.labels(role=role).inc(alert.penalty.direct_cny + alert.penalty.supervisor_cny)
        if alert.alert_type is AlertType.UNAUTHORIZED_CONTACT_EDIT:
            for change in alert.changes:
                UNAUTHORIZED_EDITS.labels(field=change.field, channel=channel, actor_role=role).inc()
    for item in step.instructions:
        channel = _channel(item.channel)
        _HOLD_CHANNELS.add(channel)
        gauge = HOLDS_OPEN.labels(channel=channel)
        gauge.inc() if item.action is CommissionAction.HOLD else gauge.dec()


_HOLD_CHANNELS: set[str] = set()


def set_holds_open(counts: dict[str, int]) -> None:
    """Re-anchor the gauge on the holds actually in this worker's state (after a restart or rebalance)."""
    _HOLD_CHANNELS.update(counts)
    for channel in _HOLD_CHANNELS:
        HOLDS_OPEN.labels(channel=channel).set(counts.get(channel, 0))


def count_cross_skipped(reason: str, count: int) -> None:
    if count:
        CROSS_SKIPPED.labels(reason=reason).inc(count)


def set_cross_state(*, up: bool, backlog: int) -> None:
    CROSS_STORE_UP.set(1 if up else 0)
    CROSS_BACKLOG.set(backlog)


def forget_partitions(partitions: Iterable[tuple[str, int]]) -> None:
    """Drop the lag of partitions this worker no longer owns: a revoked partition's last value
    would otherwise be exported for ever, and the lag alert (``max by (topic)``) page on it."""
    for topic, partition in partitions:
        try:
            CONSUMER_LAG.remove(topic, str(partition))
        except KeyError:
            pass  # never measured here


def set_lag(topic: str, partition: int, highwater: int | None, last_offset: int) -> None:
    """Lag from the consumer's cached high watermark (tansu under-reports it: a floor there)."""
    if highwater is not None:
        CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(max(highwater - last_offset - 1, 0))
