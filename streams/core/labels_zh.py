"""Chinese names of parties and fields, for findings an operator can read."""
from __future__ import annotations

import re

FIELD_ZH = {
    "name": "姓名",
    "gender": "性别",
    "birth_date": "出生日期",
    "id_type": "证件类型",
    "id_no": "证件号码",
    "id_valid_to": "证件有效期",
    "mobile": "手机号码",
    "landline": "固定电话",
    "address": "地址",
    "postal_code": "邮政编码",
    "address.province": "地址（省）",
    "address.city": "地址（市）",
    "address.district": "地址（区县）",
    "address.detail": "详细地址",
}

_PARTY = re.compile(r"^(insureds|beneficiaries)\[(\d+)\]$")


def party_zh(label: str) -> str:
    """``insureds[0]`` → ``被保险人1``: staff count from one."""
    if label == "policyholder":
        return "投保人"
    match = _PARTY.match(label)
    if not match:
        return label
    role = "被保险人" if match.group(1) == "insureds" else "受益人"
    return f"{role}{int(match.group(2)) + 1}"


def field_zh(field: str) -> str:
    return FIELD_ZH.get(field, field)
