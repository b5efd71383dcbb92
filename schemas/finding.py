"""A rule's verdict on one field of one party (docs/contract.md §3.1)."""
from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from schemas.enums import Severity, ValidationStatus


class Finding(BaseModel):
    rule: str = Field(description="Rule id from docs/contract.md §4")
    severity: Severity
    party: str | None = Field(default=None, description="policyholder, insureds[0], beneficiaries[1]…")
    field: str | None = Field(default=None, description="Person field, e.g. id_no or address.detail")
    message: str = Field(description="Chinese explanation with PII masked")


class Validation(BaseModel):
    status: ValidationStatus
    findings: list[Finding] = Field(default_factory=list)
    validated_at: AwareDatetime
    validator_version: str
