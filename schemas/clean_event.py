"""What the `*.clean` topics carry: the normalised input event plus its validation."""
from __future__ import annotations

from schemas.endorsement_event import EndorsementEvent
from schemas.finding import Validation
from schemas.policy_event import PolicyEvent


class CleanPolicyEvent(PolicyEvent):
    validation: Validation


class CleanEndorsementEvent(EndorsementEvent):
    validation: Validation
