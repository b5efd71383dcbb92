"""PolicyEvent (`policy-events`): a full snapshot of the parties after each change."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.enums import BeneficiaryDesignation, PolicyEventType, ReturnVisitStatus
from schemas.envelope import Envelope
from schemas.person import Beneficiary, Insured, Person
from schemas.text import Code, OptEventTime, OptLandline


class ReturnVisit(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Annotated[ReturnVisitStatus | None, Code] = None
    phone_called: OptLandline = None
    at: OptEventTime = None


class PolicyEvent(Envelope):
    event_type: Annotated[PolicyEventType, Code]
    policyholder: Person
    insureds: list[Insured] = Field(default_factory=list)
    beneficiaries: list[Beneficiary] = Field(default_factory=list)
    beneficiary_designation: Annotated[BeneficiaryDesignation | None, Code] = None
    return_visit: ReturnVisit | None = None
