"""Running the rules over one parsed event; a crashing rule is reported, never raised."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta, timezone

from schemas.endorsement_event import EndorsementEvent
from schemas.finding import Finding
from schemas.person import Person
from schemas.policy_event import PolicyEvent
from streams.core.canonical import insurer_date
from streams.core.rules import PartyKind, PartyView, RuleContext
from streams.core.ruleset import RuleSet

CHINA_STANDARD_TIME = timezone(timedelta(hours=8))


@dataclass(frozen=True, slots=True)
class Crash:
    """A rule that raised: a defect or an input it did not foresee."""

    rule: str
    exception: str

    def __str__(self) -> str:
        return f"{self.rule}: rule crashed with {self.exception}"


@dataclass(frozen=True, slots=True)
class Evaluation:
    findings: tuple[Finding, ...]
    crashes: tuple[Crash, ...]


def event_date(event: PolicyEvent | EndorsementEvent) -> date:
    """docs/domain.md §1: ages and expiry are judged on the date of the event time in the
    insurer's zone, as detection judges every date (streams.core.canonical)."""
    return insurer_date(event.occurred_at)


def _kind_of(label: str) -> PartyKind:
    if label.startswith("insureds"):
        return PartyKind.INSURED
    if label.startswith("beneficiaries"):
        return PartyKind.BENEFICIARY
    return PartyKind.POLICYHOLDER


def parties_of(event: PolicyEvent | EndorsementEvent) -> tuple[PartyView, ...]:
    if isinstance(event, PolicyEvent):
        views = [PartyView("policyholder", PartyKind.POLICYHOLDER, event.policyholder)]
        views += [PartyView(f"insureds[{i}]", PartyKind.INSURED, p) for i, p in enumerate(event.insureds)]
        views += [
            PartyView(f"beneficiaries[{i}]", PartyKind.BENEFICIARY, p) for i, p in enumerate(event.beneficiaries)
        ]
        return tuple(views)
    # An endorsement carries only changes: judge each party's new values, field by field.
    new_values: dict[str, dict[str, object]] = {}
    for change in event.changes:
        new_values.setdefault(change.party, {})[change.field] = change.new
    return tuple(
        PartyView(label, _kind_of(label), Person.model_validate(fields), complete=False)
        for label, fields in new_values.items()
    )


def evaluate(event: PolicyEvent | EndorsementEvent, ruleset: RuleSet) -> Evaluation:
    ctx = RuleContext(
        event=event, event_date=event_date(event), parties=parties_of(event), thresholds=ruleset.thresholds
    )
    channel = event.channel.value if event.channel is not None else None
    findings: list[Finding] = []
    crashes: list[Crash] = []
    for active in ruleset.rules:
        rule, severity = active.rule, active.severity_for(channel)
        if severity is None:
            continue
        try:
            hits = list(rule.check(ctx))
        except Exception as exc:  # noqa: BLE001 - a rule bug must quarantine, not crash the worker
            crashes.append(Crash(rule.id, type(exc).__name__))
            continue
        findings.extend(
            Finding(rule=rule.id, severity=severity, party=hit.party, field=hit.field, message=hit.message)
            for hit in hits
        )
    return Evaluation(tuple(findings), tuple(crashes))
