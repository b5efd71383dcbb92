"""Alert (docs/contract.md §3.3): one actionable case for operations, PII masked."""
from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from schemas.enums import ActorRole, AlertSeverity, AlertType, Channel


class AlertChange(BaseModel):
    party: str
    field: str
    old: str | None = Field(default=None, description="Masked")
    new: str | None = Field(default=None, description="Masked")


class Responsible(BaseModel):
    user_id: str | None = None
    role: ActorRole | None = None
    supervisor_id: str | None = None


class Penalty(BaseModel):
    direct_cny: int
    supervisor_cny: int


class Alert(BaseModel):
    alert_id: str = Field(description="Deterministic from the triggering event and alert type")
    alert_type: AlertType
    severity: AlertSeverity
    policy_no: str
    channel: Channel | None = None
    branch_code: str | None = None
    detected_at: AwareDatetime
    event_time: AwareDatetime
    source_event_ids: list[str]
    changes: list[AlertChange] = Field(default_factory=list)
    responsible: Responsible | None = None
    penalty: Penalty | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    summary_zh: str
