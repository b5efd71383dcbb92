"""What PolicyGuard remembers about one policy; JSON-serialisable for the changelog.

Identifiers in here are the customer's own data, as on the input topics; the state lives
only in the worker's table and its changelog topic (restrict it like the input topics).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from schemas.enums import Applicant, Channel


class Slot(BaseModel):
    """One party slot of the last snapshot: who (ID type + number) and their contact fields."""

    label: str
    person: str | None = Field(default=None, description="id_type:id_no, or None when unknown")
    birth_date: date | None = None
    contacts: dict[str, Any] = Field(default_factory=dict)


class EndorsementRecord(BaseModel):
    endorsement_no: str
    endorsement_type: str | None = None
    applicant: Applicant | None = None
    customer_evidence: bool = False
    attorney_ok: bool = False
    changes: list[tuple[str, str, Any, Any]] = Field(
        default_factory=list, description="(party, field, old value, new value) as the endorsement states them"
    )
    statuses: list[tuple[str, AwareDatetime]] = Field(default_factory=list)
    approved_at: AwareDatetime | None = None
    rejected: bool = False
    flagged: bool = Field(default=False, description="already alerted as an unauthorized edit")


class ContactChange(BaseModel):
    party: str
    person: str | None
    field: str
    old: Any = None
    new: Any = None


class PendingEdit(BaseModel):
    """An edit waiting, within the arrival grace, for what decides it.

    A policy edit waits for an authorization to arrive; an approved endorsement without
    customer authorization (``endorsement_no`` set) waits for the policy's lock point, when
    its policy events are consumed after it.
    """

    event_id: str
    endorsement_no: str | None = None
    event_time: AwareDatetime
    held_since: AwareDatetime
    changes: list[ContactChange]
    actor: dict[str, Any]
    channel: Channel | None = None
    branch_code: str | None = None
    source_topic: str | None = None
    clean_json: str | None = Field(default=None, description="the clean record, when validation passed")
    quarantine_json: str = Field(description="the record to emit if unauthorized (findings added then)")
    outcome: str = Field(default="clean", description="the validation outcome, emitted if the edit is covered")


class CommissionHold(BaseModel):
    intermediary_code: str
    channel: Channel | None = None
    branch_code: str | None = None
    opened_by: str
    opened_by_actor: dict[str, Any] = Field(default_factory=dict)
    opened_at: AwareDatetime
    deadline: AwareDatetime
    reasons: list[str]
    overdue_alerted: bool = False


class PolicyState(BaseModel):
    policy_no: str
    lock_at: AwareDatetime | None = None
    lock_event_id: str | None = None
    slots: list[Slot] = Field(default_factory=list)
    endorsements: dict[str, EndorsementRecord] = Field(default_factory=dict)
    pending: list[PendingEdit] = Field(default_factory=list)
    hold: CommissionHold | None = None
    seen: list[str] = Field(default_factory=list, description="recent event_ids, oldest first")
    last_seen_at: AwareDatetime | None = None
    endorsement_time: AwareDatetime | None = Field(
        default=None, description="latest occurred_at on the policy's endorsement stream"
    )
    terminated_at: AwareDatetime | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_defaults=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> PolicyState:
        return cls.model_validate_json(raw)

    def next_deadline(self, grace_s: float) -> datetime | None:
        """When :meth:`PolicyMachine.tick` next has a held edit or a hold to judge."""
        moments = [edit.held_since + timedelta(seconds=grace_s) for edit in self.pending]
        if self.hold is not None and not self.hold.overdue_alerted:
            moments.append(self.hold.deadline)
        return min(moments) if moments else None
