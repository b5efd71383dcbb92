"""One row of the book through the worker's own rules, in a worker process.

Returns small picklable results, never the row: the parent writes findings, worklists and
counts; the cross-policy observation (keyed hashes only) goes to the second pass.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.enums import QuarantineReason, Severity
from streams.audit.csv_format import document_of
from streams.audit.reading import Row
from streams.core.crosspolicy import CrossPolicyStage, Observation
from streams.core.crosspolicy.observation import rejected_fields
from streams.core.masking import mask_id, mask_phone
from streams.core.origin import Origin
from streams.core.pipeline import process_record
from streams.core.ruleset import RuleSet

LETTER_BLOCKERS = frozenset({"ADDRESS_INCOMPLETE", "POSTAL_CODE_FORMAT"})


@dataclass(frozen=True, slots=True)
class Judged:
    file: str
    line: int
    policy_no: str
    channel: str
    branch_code: str
    agent_code: str | None
    intermediary_code: str | None
    findings: tuple[tuple[str, str, str | None, str | None, str], ...]
    """(rule, severity, party, field, message in Chinese, PII masked)"""
    holder_name: str | None
    holder_id: str
    holder_phone: str
    contact: str
    """how to reach the customer for the correction: phone, letter or visit"""
    observation: Observation | None = None

    @property
    def errors(self) -> list[str]:
        return sorted({rule for rule, severity, *_ in self.findings if severity == Severity.ERROR.value})


@dataclass(frozen=True, slots=True)
class BadRow:
    file: str
    line: int
    reason: str
    detail: str


class Judge:
    def __init__(self, ruleset: RuleSet, stage: CrossPolicyStage, now: datetime) -> None:
        self.ruleset, self.stage, self.now = ruleset, stage, now

    def __call__(self, row: Row) -> Judged | BadRow:
        if row.problem is not None:
            return BadRow(row.file, row.line, "MISSING_COLUMNS", row.problem)
        raw = row.raw if row.raw is not None else json.dumps(document_of(row.fields or {}), ensure_ascii=False).encode()
        verdict = process_record(raw, Origin(file=row.file, line=row.line), now=self.now, ruleset=self.ruleset)
        if verdict.failed_stage is not None:  # a defect of ours, logged by the pipeline: not the row's fault
            return BadRow(row.file, row.line, "INTERNAL_ERROR", f"the {verdict.failed_stage} stage failed")
        event = verdict.event
        if event is None or verdict.reason in (QuarantineReason.DECODE_ERROR, QuarantineReason.SCHEMA_ERROR) or not hasattr(
                event, "policyholder"):
            quarantine = verdict.quarantine
            reason = quarantine.reason.value if quarantine is not None else "NOT_A_POLICY_SNAPSHOT"
            errors = list(quarantine.errors[:3]) if quarantine is not None else ["an endorsement, not a policy snapshot"]
            return BadRow(row.file, row.line, reason, "; ".join(errors))
        findings = tuple((f.rule, f.severity.value, f.party, f.field, f.message) for f in verdict.findings)
        holder = event.policyholder
        rejected = rejected_fields(verdict.findings)
        phone_ok = any(getattr(holder, name) and ("policyholder", name) not in rejected for name in ("mobile", "landline"))
        holder_errors = {f.rule for f in verdict.findings if f.severity is Severity.ERROR and f.party == "policyholder"}
        contact = "phone" if phone_ok else ("letter" if holder.address and not holder_errors & LETTER_BLOCKERS else "visit")
        phone = holder.mobile or holder.landline
        return Judged(
            file=row.file, line=row.line, policy_no=event.policy_no,
            channel=event.channel.value if event.channel else "UNKNOWN",
            branch_code=event.branch_code or "UNKNOWN", agent_code=event.agent_code,
            intermediary_code=event.intermediary_code, findings=findings,
            holder_name=holder.name, holder_id=mask_id(holder.id_no), holder_phone=mask_phone(phone) if phone else "",
            contact=contact, observation=self.stage.observe(verdict),
        )


def describe_findings(findings: tuple[tuple[str, str, str | None, str | None, Any], ...], severity: str) -> str:
    return "；".join(message for _, level, _, _, message in findings if level == severity)
