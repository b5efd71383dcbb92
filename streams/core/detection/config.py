"""Detection parameters (docs/contract.md §2.2, §3.3, §3.4); defaults are the contract's.

They are the ``detection`` section of the worker's settings (``POLICYGUARD_DETECTION__<FIELD>`` or
``[detection]`` in a settings file), so each is written once, here.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.alert import Penalty
from schemas.enums import ActorRole, PolicyEventType

DEFAULT_PENALTIES: dict[ActorRole, Penalty | None] = {
    ActorRole.SALES_AGENT: Penalty(direct_cny=200, supervisor_cny=100),
    ActorRole.OPERATIONS_CLERK: Penalty(direct_cny=100, supervisor_cny=50),
    ActorRole.UNDERWRITER: Penalty(direct_cny=100, supervisor_cny=50),
    ActorRole.CUSTOMER_SERVICE: Penalty(direct_cny=100, supervisor_cny=50),
    # The intermediary's staff, the customer and the system are named but not fined by the insurer.
    ActorRole.BANK_TELLER: None,
    ActorRole.CUSTOMER: None,
    ActorRole.SYSTEM: None,
}


class DetectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lock_event_types: frozenset[PolicyEventType] = Field(
        default=frozenset(
            {PolicyEventType.APPLICATION_CONFIRMED, PolicyEventType.UNDERWRITING_APPROVED, PolicyEventType.POLICY_ISSUED}
        ),
        min_length=1,
        description="policy event types whose first occurrence is the lock point (JSON list)",
    )
    clock_skew_s: float = Field(default=120.0, ge=0, description="an approval may be this much later than the edit")
    arrival_grace_s: float = Field(default=600.0, ge=0, description="how long a held edit waits for its authorization")
    max_lateness_s: float = Field(
        default=300.0, ge=0,
        description="how far out of event-time order one topic partition may be: the partition's stream time "
        "decides a held edit only this much after the grace",
    )
    outlier_after_days: float = Field(
        default=180.0, gt=0,
        description="an event time this far ahead of its partition's stream time or the wall clock, or this far "
        "before its policy's previous event, is an outlier: warned about, and moving no clock",
    )
    hold_deadline_days: float = Field(default=30.0, gt=0, description="INTERMEDIARY_CORRECTION_OVERDUE after this")
    retention_days: float = Field(default=400.0, gt=0, description="a terminated policy is forgotten this long after its termination (one in force never is)")
    seen_event_ids: int = Field(default=2000, ge=10, description="idempotency memory per policy")
    penalties: dict[ActorRole, Penalty | None] = Field(
        default_factory=lambda: dict(DEFAULT_PENALTIES),
        description='fines by role (JSON), merged over the contract\'s schedule, e.g. '
        '{"SALES_AGENT": {"direct_cny": 300, "supervisor_cny": 150}}; null: named, not fined',
    )

    @field_validator("penalties", mode="after")
    @classmethod
    def _over_schedule(cls, given: dict[ActorRole, Penalty | None]) -> dict[ActorRole, Penalty | None]:
        """A role left out keeps the contract's fine: changing one role's amount must not
        silently stop fining the others."""
        return {**DEFAULT_PENALTIES, **given}
