"""Prometheus metrics of CONTRACT.md §5. Labels stay low-cardinality: no policy, ID or user."""
from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Histogram

from streams.core.pipeline import Verdict

EVENTS = Counter("policyguard_events", "Input events handled, by outcome", ["topic", "outcome"])
RULE_FINDINGS = Counter(
    "policyguard_rule_findings", "Findings raised by validation rules", ["rule", "severity", "channel"]
)
RULE_CRASHES = Counter("policyguard_rule_crashes", "Rules that raised instead of judging (a defect)", ["rule"])
PROCESSING_SECONDS = Histogram(
    "policyguard_processing_seconds",
    "Time to judge and route one event inside the worker",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
EVENT_AGE_SECONDS = Histogram(
    "policyguard_event_age_seconds",
    "Now minus occurred_at when the event is handled",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 21600, 86400, 604800),
)


def observe(verdict: Verdict, topic: str, seconds: float, now: datetime) -> None:
    EVENTS.labels(topic=topic, outcome=verdict.outcome).inc()
    PROCESSING_SECONDS.observe(seconds)
    event = verdict.event
    channel = event.channel.value if event is not None and event.channel is not None else "UNKNOWN"
    for finding in verdict.findings:
        RULE_FINDINGS.labels(rule=finding.rule, severity=finding.severity.value, channel=channel).inc()
    for rule_id in verdict.crashed_rules:
        RULE_CRASHES.labels(rule=rule_id).inc()
    if event is not None:
        EVENT_AGE_SECONDS.observe(max((now - event.occurred_at).total_seconds(), 0.0))
