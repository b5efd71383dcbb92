"""PolicyGuard records (docs/contract.md (v1)) as pydantic v2 models: the single source of truth.

The JSON Schemas under ``schemas/json`` are generated from these models
(``policyguard schemas``) and a test fails when they drift.
"""
from schemas.alert import Alert, AlertChange, Penalty, Responsible
from schemas.clean_event import CleanEndorsementEvent, CleanPolicyEvent
from schemas.commission import CommissionInstruction
from schemas.endorsement_event import Authorization, Change, EndorsementEvent
from schemas.envelope import Actor, Envelope
from schemas.finding import Finding, Validation
from schemas.person import Address, Beneficiary, Insured, Person
from schemas.policy_event import PolicyEvent, ReturnVisit
from schemas.quarantine import QuarantineRecord

__all__ = [
    "Actor",
    "Address",
    "Alert",
    "AlertChange",
    "Authorization",
    "Beneficiary",
    "Change",
    "CleanEndorsementEvent",
    "CleanPolicyEvent",
    "CommissionInstruction",
    "EndorsementEvent",
    "Envelope",
    "Finding",
    "Insured",
    "Penalty",
    "Person",
    "PolicyEvent",
    "QuarantineRecord",
    "Responsible",
    "ReturnVisit",
    "Validation",
]
