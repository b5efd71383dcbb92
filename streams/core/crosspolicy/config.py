"""Thresholds of the cross-policy detectors; defaults are the contract's."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CrossPolicyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shared_contact_min_ids: int = Field(
        default=3, ge=2, description="SHARED_CONTACT: this many distinct policyholder IDs on one mobile"
    )
    shared_contact_window_days: float = Field(default=30.0, gt=0, description="SHARED_CONTACT: within this window")
    retention_days: float = Field(default=400.0, gt=0, description="index entries unused this long expire")
    policies_per_person: int = Field(
        default=500, ge=2,
        description="policies indexed per ID number: a group policyholder on thousands of policies costs no more",
    )
    holders_per_mobile: int = Field(
        default=200, ge=2, description="policyholders indexed per mobile: far past any SHARED_CONTACT threshold"
    )
    policies_per_mobile: int = Field(
        default=20, ge=1, description="policies remembered per (mobile, policyholder): enough to name them in evidence"
    )
