"""The rules in force and their severities: the contract's defaults, or a deployment's choice."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas.enums import Severity
from streams.core.rules import REGISTRY, Rule


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]

    @classmethod
    def default(cls) -> RuleSet:
        return cls(tuple(REGISTRY[rule_id] for rule_id in sorted(REGISTRY)))

    @classmethod
    def configured(
        cls, *, disabled: frozenset[str] = frozenset(), severities: Mapping[str, Severity] | None = None
    ) -> RuleSet:
        """Defaults minus ``disabled``, with ``severities`` overriding; unknown ids are refused."""
        severities = dict(severities or {})
        unknown = (set(disabled) | set(severities)) - set(REGISTRY)
        if unknown:
            raise KeyError(f"unknown rule id(s): {', '.join(sorted(unknown))}")
        chosen = []
        for rule in cls.default().rules:
            if rule.id in disabled:
                continue
            severity = severities.get(rule.id, rule.severity)
            chosen.append(Rule(rule.id, severity, rule.check, rule.summary))
        return cls(tuple(chosen))

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules)
