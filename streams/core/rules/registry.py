"""How a rule is declared, looked up and run.

A rule is one function decorated with :func:`rule`; it receives a :class:`RuleContext` and
yields :class:`Hit`s. The registry attaches the rule id and the configured severity, so the
same function serves whatever severity a deployment chooses. Adding a rule is adding one
module to this package: ``streams.core.rules`` imports every module in it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from schemas.endorsement_event import EndorsementEvent
from schemas.enums import Severity
from schemas.person import Person
from schemas.policy_event import PolicyEvent
from streams.core.thresholds import Thresholds


class PartyKind(StrEnum):
    POLICYHOLDER = "policyholder"
    INSURED = "insured"
    BENEFICIARY = "beneficiary"


@dataclass(frozen=True, slots=True)
class PartyView:
    """One party as the rules see it.

    ``complete`` is False for a party rebuilt from an endorsement's ``changes``: only the
    changed fields are there, so presence rules must not judge it.
    """

    label: str
    kind: PartyKind
    person: Person
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Hit:
    party: str | None
    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class RuleContext:
    event: PolicyEvent | EndorsementEvent
    event_date: date
    parties: tuple[PartyView, ...]
    thresholds: Thresholds = field(default_factory=Thresholds)

    def of_kind(self, *kinds: PartyKind) -> Iterator[PartyView]:
        return (party for party in self.parties if party.kind in kinds)


RuleCheck = Callable[[RuleContext], Iterable[Hit]]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    check: RuleCheck = field(compare=False)
    summary: str = ""


REGISTRY: dict[str, Rule] = {}


def rule(rule_id: str, severity: Severity, summary: str) -> Callable[[RuleCheck], RuleCheck]:
    """Register ``check`` under ``rule_id`` with its contract-default severity."""

    def register(check: RuleCheck) -> RuleCheck:
        if rule_id in REGISTRY:
            raise ValueError(f"rule {rule_id} is registered twice")
        REGISTRY[rule_id] = Rule(rule_id, severity, check, summary)
        return check

    return register
