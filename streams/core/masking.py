"""PII masks for anything a person reads: findings, alerts, logs, the demo summary.

The shapes follow the contract's examples (3301**********4176, 139****2846, 陈*明) and keep
just enough for an operator to recognise the record in the policy-admin system.
"""
from __future__ import annotations

from typing import Any


def mask_id(value: str | None) -> str:
    if not value:
        return ""
    if len(value) <= 8:
        return value[:1] + "*" * (len(value) - 2) + value[-1:] if len(value) > 2 else "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str:
    if not value:
        return ""
    if len(value) == 1:
        return "*"
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_text(value: str | None, keep: int = 2) -> str:
    """Free text such as an address detail or a postal code: first characters only."""
    if not value:
        return ""
    return value[:keep] + "*" * max(len(value) - keep, 0)


def mask_address(value: Any) -> str:
    """Province, city and district stay (enough to route the case and see a move), the rest is hidden."""
    if value is None:
        return ""
    if isinstance(value, dict):
        parts = [value.get(part) for part in ("province", "city", "district")]
    else:
        parts = [getattr(value, part, None) for part in ("province", "city", "district")]
    return "".join(part or "" for part in parts) + "***"


MASKS = {
    "id_no": mask_id,
    "mobile": mask_phone,
    "landline": mask_phone,
    "name": mask_name,
    "postal_code": mask_text,
    "address": mask_address,
}


def mask_field(field: str, value: Any) -> str:
    """Mask a Person field's value for display, whatever the field."""
    if value is None:
        return ""
    masker = MASKS.get(field)
    if masker is not None:
        return masker(value)
    return mask_text(str(value))
