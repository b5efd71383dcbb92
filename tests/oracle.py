"""Test-side GB 11643-1999 arithmetic, written from the standard, independent of the code under test.

Tests build their IDs here so that a wrong checksum in production code cannot agree with
itself.
"""
from __future__ import annotations

import json
from copy import deepcopy
from typing import Any

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"


def check_char(first17: str) -> str:
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def resident_id(region: str, birth: str, gender: str, serial: int = 12) -> str:
    """An 18-digit number: region + YYYYMMDD + 2 serial digits + gender digit + check."""
    gender_digit = 1 if gender == "M" else 2
    body = f"{region}{birth.replace('-', '')}{serial:02d}{gender_digit}"
    return body + check_char(body)


def wrong_check(id_no: str) -> str:
    right = id_no[17]
    return id_no[:17] + ("0" if right != "0" else "1")


def person(**overrides: Any) -> dict[str, Any]:
    base = {
        "name": "陈晓明",
        "gender": "M",
        "birth_date": "1985-03-12",
        "id_type": "RESIDENT_ID",
        "id_no": resident_id("330106", "1985-03-12", "M"),
        "id_valid_to": "LONG_TERM",
        "mobile": "13957102846",
        "landline": "0571-87652093",
        "address": {"province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "文三路259号3幢1502室"},
        "postal_code": "310013",
    }
    base.update(overrides)
    return base


def policy_event(**overrides: Any) -> dict[str, Any]:
    holder = overrides.pop("policyholder", person())
    event = {
        "event_id": "evt-T-01",
        "event_type": "APPLICATION_SUBMITTED",
        "occurred_at": "2025-11-03T10:15:00+08:00",
        "policy_no": "P86330125119999",
        "source_seq": 1,
        "channel": "AGENCY",
        "branch_code": "86330100",
        "agent_code": "A0001",
        "intermediary_code": None,
        "actor": {"user_id": "A0001", "role": "SALES_AGENT", "supervisor_id": "S0001", "department": None},
        "policyholder": holder,
        "insureds": [dict(deepcopy(holder), relation_to_policyholder="SELF")],
        "beneficiaries": [],
        "beneficiary_designation": "LEGAL_HEIRS",
    }
    event.update(overrides)
    return event


def endorsement_event(**overrides: Any) -> dict[str, Any]:
    event = {
        "event_id": "evt-T-E1",
        "event_type": "ENDORSEMENT_REQUESTED",
        "occurred_at": "2025-11-10T09:30:02+08:00",
        "policy_no": "P86330125119999",
        "channel": "AGENCY",
        "actor": {"user_id": "C1", "role": "CUSTOMER"},
        "endorsement_no": "E1",
        "endorsement_type": "CONTACT_CHANGE",
        "application_channel": "MOBILE_APP",
        "authorization": {"applicant": "POLICYHOLDER", "customer_signature": "E_SIGN",
                          "id_verification": "FACE_LIVENESS", "otp_verified_to": "OLD_MOBILE"},
        "changes": [{"party": "policyholder", "field": "mobile", "old": "13957102846", "new": "18926730584"}],
    }
    event.update(overrides)
    return event


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")
