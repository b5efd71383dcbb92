"""The rules in force, their severities (per channel if wanted) and thresholds.

The contract's defaults come from the registry; a deployment's rules file
(:mod:`streams.core.rules_config`) can switch a rule off, move it between ERROR and
WARNING, do either for one channel only, and tune thresholds.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.enums import Severity
from streams.core.rules import REGISTRY, Rule
from streams.core.thresholds import Thresholds


@dataclass(frozen=True, slots=True)
class ActiveRule:
    rule: Rule
    severity: Severity | None  # None: switched off
    by_channel: Mapping[str, Severity | None] = field(default_factory=dict)

    def severity_for(self, channel: str | None) -> Severity | None:
        if channel is not None and channel in self.by_channel:
            return self.by_channel[channel]
        return self.severity


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[ActiveRule, ...]
    thresholds: Thresholds = field(default_factory=Thresholds)

    @classmethod
    def of(cls, *rules: Rule, thresholds: Thresholds | None = None) -> RuleSet:
        """Exactly these rules at their own severities (tests, experiments)."""
        return cls(tuple(ActiveRule(rule, rule.severity) for rule in rules), thresholds or Thresholds())

    @classmethod
    def default(cls) -> RuleSet:
        return cls.of(*(REGISTRY[rule_id] for rule_id in sorted(REGISTRY)))

    @classmethod
    def configured(
        cls,
        *,
        severities: Mapping[str, Severity | None] | None = None,
        by_channel: Mapping[str, Mapping[str, Severity | None]] | None = None,
        thresholds: Thresholds | None = None,
    ) -> RuleSet:
        """Defaults with overrides; ``None`` as a severity switches the rule off."""
        severities = dict(severities or {})
        by_channel = dict(by_channel or {})
        unknown = (set(severities) | set(by_channel)) - set(REGISTRY)
        if unknown:
            raise KeyError(f"unknown rule id(s): {', '.join(sorted(unknown))}")
        chosen = tuple(
            ActiveRule(rule, severities.get(rule.id, rule.severity), dict(by_channel.get(rule.id, {})))
            for rule in (REGISTRY[rule_id] for rule_id in sorted(REGISTRY))
        )
        return cls(chosen, thresholds or Thresholds())

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(active.rule.id for active in self.rules)
