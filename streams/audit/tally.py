"""The audit's counts: what the summary, the report and finance's hold list are made of.

Plain JSON-shaped data, so a checkpoint can hold it and a resumed run go on counting.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from streams.audit.judge import BadRow, Judged

DIMENSIONS = ("channel", "branch_code", "intermediary_code")
BASELINE = {"overall": 0.0402, "BANCASSURANCE": 0.0643}
"""The 2014 industry inspection: 4.02 % of checked policies carried untrue customer information, 6.43 %
in the bank channel (银保)."""


@dataclass
class Tally:
    rows: int = 0
    policies: int = 0
    defective: int = 0
    """policies with at least one ERROR finding: untrue or incomplete data to correct"""
    warned: int = 0
    bad_rows: int = 0
    bad_reasons: dict[str, int] = field(default_factory=dict)
    by: dict[str, dict[str, list[int]]] = field(default_factory=lambda: {d: {} for d in DIMENSIONS})
    """dimension → value → [policies, defective]"""
    rules: dict[str, list[int]] = field(default_factory=dict)
    """rule → [policies with it as ERROR, as WARNING]"""
    holds: dict[str, dict[str, Any]] = field(default_factory=dict)
    """intermediary → channel, policies, defective, rules"""
    cross: dict[str, int] = field(default_factory=dict)
    """cross-policy alert type → count"""

    def add(self, result: Judged | BadRow) -> None:
        self.rows += 1
        if isinstance(result, BadRow):
            self.bad_rows += 1
            self.bad_reasons[result.reason] = self.bad_reasons.get(result.reason, 0) + 1
            return
        errors = result.errors
        self.policies += 1
        self.defective += bool(errors)
        self.warned += any(severity == "WARNING" for _, severity, *_ in result.findings)
        for dimension in DIMENSIONS:
            value = getattr(result, dimension) or "-"
            if dimension == "intermediary_code" and value == "-":
                continue
            counts = self.by[dimension].setdefault(value, [0, 0])
            counts[0] += 1
            counts[1] += bool(errors)
        for rule, severity in {(rule, severity) for rule, severity, *_ in result.findings}:
            self.rules.setdefault(rule, [0, 0])[0 if severity == "ERROR" else 1] += 1
        if result.intermediary_code:
            hold = self.holds.setdefault(result.intermediary_code, {
                "channel": result.channel, "policies": 0, "defective": 0, "rules": {}})
            hold["policies"] += 1
            if errors:
                hold["defective"] += 1
                for rule in errors:
                    hold["rules"][rule] = hold["rules"].get(rule, 0) + 1

    def rate(self) -> float:
        return self.defective / self.policies if self.policies else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Tally:
        return cls(**document)
