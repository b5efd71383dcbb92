"""A built-in day of events: clean lifecycles, real-world data errors and poison messages.

All people and numbers are fictional. Every resident-ID number is built from a real
GB/T 2260 region code, the birth date and a sequence digit of the right parity, and gets
its GB 11643 check character computed, except where a scene breaks one on purpose.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from stdnum.cn.ric import calc_check_digit


def resident_id(region: str, birth: str, sequence: str, *, wrong_check: bool = False) -> str:
    body = region + birth.replace("-", "") + sequence
    check = calc_check_digit(body + "0")  # stdnum ignores the last character it is given
    if wrong_check:
        check = "0" if check != "0" else "1"
    return body + check


def address(province: str, city: str, district: str, detail: str) -> dict[str, str]:
    return {"province": province, "city": city, "district": district, "detail": detail}


def person(name: str, gender: str, birth: str, region: str, sequence: str, **fields: Any) -> dict[str, Any]:
    wrong = fields.pop("wrong_check", False)
    base = {
        "name": name,
        "gender": gender,
        "birth_date": birth,
        "id_type": "RESIDENT_ID",
        "id_no": resident_id(region, birth, sequence, wrong_check=wrong),
        "id_valid_to": "LONG_TERM",
        "mobile": None,
        "landline": None,
        "address": None,
        "postal_code": None,
    }
    base.update(fields)
    return base


@dataclass(frozen=True, slots=True)
class Scene:
    """One input and what the demo expects of it (shown next to what really happened)."""

    topic: str  # "policy" or "endorsement"
    value: bytes
    expect: str


def _event(policy_no: str, n: int, event_type: str, at: str, **fields: Any) -> dict[str, Any]:
    actor = fields.pop("actor", {"user_id": "A0001", "role": "SALES_AGENT", "supervisor_id": "S0001", "department": None})
    event = {
        "event_id": f"demo-{policy_no}-{n:02d}",
        "event_type": event_type,
        "occurred_at": at,
        "policy_no": policy_no,
        "channel": fields.pop("channel", "AGENCY"),
        "branch_code": fields.pop("branch_code", "86330100"),
        "agent_code": "A0001",
        "intermediary_code": fields.pop("intermediary_code", None),
        "actor": actor,
    }
    event.update(fields)
    return event


def _bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


ROSTER_CSV = """user_id,role,mobile
A0001,SALES_AGENT,13906711835
S0001,SALES_AGENT,13732104968
A0107,SALES_AGENT,13511112946
OP0002,OPERATIONS_CLERK,18601127394
T0101,BANK_TELLER,15808816247
"""
"""The demo's staff roster: agent A0107's own mobile is the one they type in for a customer below."""


def scenes() -> list[Scene]:
    hangzhou = address("浙江省", "杭州市", "西湖区", "文三路259号3幢1502室")
    holder = person("陈晓明", "M", "1985-03-12", "330106", "417", mobile="13957102846",
                    landline="0571-87652093", address=hangzhou, postal_code="310013")
    child = person("陈雨桐", "F", "2015-07-20", "330106", "226", address=hangzhou, postal_code="310013")
    family: dict[str, Any] = {
        "policyholder": holder,
        "insureds": [dict(holder, relation_to_policyholder="SELF"), dict(child, relation_to_policyholder="CHILD")],
        "beneficiaries": [],
        "beneficiary_designation": "LEGAL_HEIRS",
    }
    out: list[Scene] = []

    def policy(expect: str, policy_no: str, n: int, event_type: str, at: str, parties: dict[str, Any], **kw: Any) -> None:
        out.append(Scene("policy", _bytes(_event(policy_no, n, event_type, at, **copy.deepcopy(parties), **kw)), expect))

    p1 = "P86330125110001"
    policy("clean", p1, 1, "APPLICATION_SUBMITTED", "2025-11-03T10:15:00+08:00", family)
    policy("clean", p1, 2, "APPLICATION_CONFIRMED", "2025-11-03T10:40:12+08:00", family)
    policy("clean", p1, 3, "POLICY_ISSUED", "2025-11-05T09:00:00+08:00", family,
           actor={"user_id": "SYS-UW", "role": "SYSTEM", "supervisor_id": None, "department": None})

    # Bank channel: the teller typed the ID with a wrong check digit, then corrected it.
    jinghong = address("云南省", "西双版纳傣族自治州", "景洪市", "曼听路34号2单元301室")
    teller = {"user_id": "T0101", "role": "BANK_TELLER", "supervisor_id": None, "department": None}
    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK532801007", "branch_code": "86532800", "actor": teller}
    wrong = person("岩罕", "M", "1979-10-03", "532801", "031", wrong_check=True, mobile="15808816001",
                   address=jinghong, postal_code="666100")
    right = dict(wrong, id_no=resident_id("532801", "1979-10-03", "031"))
    p2 = "P86532825110002"
    policy("RULE_ERROR ID_CHECKSUM", p2, 1, "APPLICATION_SUBMITTED", "2025-11-04T14:02:00+08:00",
           {"policyholder": wrong, "insureds": [dict(wrong, relation_to_policyholder="SELF")]}, **bank)
    policy("clean", p2, 2, "APPLICATION_AMENDED", "2025-11-04T16:30:00+08:00",
           {"policyholder": right, "insureds": [dict(right, relation_to_policyholder="SELF")]}, **bank)

    # Full-width digits and a +86 prefix from a web form: normalised, still clean.
    shenzhen = address("广东省", "深圳市", "南山区", "科苑路15号A座1203室")
    web = person("林美华", "F", "1990-06-18", "440305", "062", mobile="＋86 139-2671-0584",
                 address=shenzhen, postal_code="５１８０５７")
    policy("clean", "P86440325110003", 1, "APPLICATION_SUBMITTED", "2025-11-05T20:11:00+08:00",
           {"policyholder": web, "insureds": [dict(web, relation_to_policyholder="SELF")]}, channel="ONLINE")

    # Online: a Uyghur name typed with '•', and the insured's address copied as "同上" (same as above).
    urumqi = address("新疆维吾尔自治区", "乌鲁木齐市", "天山区", "解放南路88号2单元501室")
    uyghur = person("阿依古丽•艾合买提", "F", "1992-05-02", "650102", "342", mobile="+86 138-9915-2047",
                    address=urumqi, postal_code="830002")
    lazy = dict(uyghur, address=address("新疆维吾尔自治区", "乌鲁木齐市", "天山区", "同上"))
    policy("clean_with_warnings ADDRESS_VAGUE", "P86650125110010", 1, "APPLICATION_SUBMITTED",
           "2025-11-05T21:40:00+08:00", {"policyholder": uyghur, "insureds": [dict(lazy, relation_to_policyholder="SELF")]},
           channel="ONLINE")

    # A ten-digit mobile and a five-digit postal code.
    beijing = address("北京市", "北京市", "朝阳区", "望京西园三区312号楼6单元802")
    typo = person("赵国强", "M", "1972-01-09", "110105", "153", mobile="1391186274", address=beijing, postal_code="10010")
    policy("RULE_ERROR MOBILE_FORMAT POSTAL_CODE_FORMAT", "P86110025110004", 1, "APPLICATION_SUBMITTED",
           "2025-11-06T09:20:00+08:00", {"policyholder": typo, "insureds": [dict(typo, relation_to_policyholder="SELF")]})

    # The insured's ID says female, the form says male; her birth date was mistyped.
    wuhan = address("湖北省", "武汉市", "洪山区", "珞喻路1037号7栋502室")
    mother = person("周丽", "F", "1962-04-30", "420111", "084", mobile="13871234509", address=wuhan, postal_code="430074")
    daughter = person("王芳", "F", "1988-09-15", "420111", "128", address=wuhan, postal_code="430074")
    bad_daughter = dict(daughter, gender="M", birth_date="1988-09-16")
    policy("RULE_ERROR ID_BIRTH_DATE_MISMATCH ID_GENDER_MISMATCH", "P86420125110005", 1, "APPLICATION_SUBMITTED",
           "2025-11-06T11:45:00+08:00", {"policyholder": mother, "insureds": [dict(bad_daughter, relation_to_policyholder="CHILD")]})

    # Telesales sells the same mother a second policy and types her name with the wrong character.
    misnamed = dict(mother, name="周莉")
    policy("clean", "P86420125110011", 1, "APPLICATION_SUBMITTED", "2025-11-07T10:10:00+08:00",
           {"policyholder": misnamed, "insureds": [dict(misnamed, relation_to_policyholder="SELF")]},
           channel="TELESALES", actor={"user_id": "TS0031", "role": "SALES_AGENT", "supervisor_id": "TS0001",
                                       "department": "电销中心"})

    # The insured's ID number was left blank.
    no_id = dict(daughter, id_no="  ")
    policy("RULE_ERROR REQUIRED_FIELD_MISSING", "P86420125110006", 1, "APPLICATION_SUBMITTED",
           "2025-11-06T13:05:00+08:00", {"policyholder": mother, "insureds": [dict(no_id, relation_to_policyholder="CHILD")]})

    # A legacy system sends GBK instead of UTF-8: undecodable, quarantined as base64.
    gbk = _event("P86330125110007", 1, "APPLICATION_SUBMITTED", "2025-11-07T08:30:00+08:00", **copy.deepcopy(family))
    out.append(Scene("policy", json.dumps(gbk, ensure_ascii=False).encode("gbk"), "DECODE_ERROR"))
    out.append(Scene("policy", b'{"event_id": "demo-P86330125110008-01", "event_type": "APPLICATION_SUBM', "DECODE_ERROR"))
    # Timestamp without an offset and no actor: the envelope itself is broken.
    broken = _event("P86330125110009", 1, "APPLICATION_SUBMITTED", "2025-11-07 08:30:00", **copy.deepcopy(family))
    del broken["actor"]
    out.append(Scene("policy", _bytes(broken), "SCHEMA_ERROR"))

    # The customer's own contact change (保全), requested and approved; then one whose new mobile is a typo.
    def endorsement(expect: str, n: int, event_type: str, at: str, new_mobile: str) -> None:
        document = _event(p1, n, event_type, at,
                          actor={"user_id": "C-CXM", "role": "CUSTOMER", "supervisor_id": None, "department": None},
                          endorsement_no=f"E20251110{n:04d}", endorsement_type="CONTACT_CHANGE",
                          application_channel="MOBILE_APP",
                          authorization={"applicant": "POLICYHOLDER", "customer_signature": "E_SIGN",
                                         "id_verification": "FACE_LIVENESS", "otp_verified_to": "OLD_MOBILE",
                                         "power_of_attorney_ref": None},
                          changes=[{"party": "policyholder", "field": "mobile", "old": "13957102846", "new": new_mobile}])
        out.append(Scene("endorsement", _bytes(document), expect))

    endorsement("clean", 11, "ENDORSEMENT_REQUESTED", "2025-11-10T09:30:02+08:00", "18926730584")
    endorsement("clean", 12, "ENDORSEMENT_APPROVED", "2025-11-10T09:31:10+08:00", "18926730584")
    endorsement("RULE_ERROR MOBILE_FORMAT", 13, "ENDORSEMENT_REQUESTED", "2025-11-10T10:02:00+08:00", "1892673058")
    out.append(Scene("endorsement", b"\x00\x01not json at all\xff", "DECODE_ERROR"))

    # After confirmation: the policy-admin system applies the approved mobile change (clean) ...
    moved = copy.deepcopy(family)
    for slot in (moved["policyholder"], moved["insureds"][0]):
        slot["mobile"] = "18926730584"
    clerk = {"user_id": "OP0005", "role": "OPERATIONS_CLERK", "supervisor_id": "OP0100", "department": "杭州分公司运营部"}
    policy("clean", p1, 4, "CUSTOMER_INFO_UPDATED", "2025-11-10T09:32:00+08:00", moved, actor=clerk)
    # ... then a clerk changes the postal code and address with no endorsement at all: an unauthorized edit.
    tampered = copy.deepcopy(moved)
    for slot in (tampered["policyholder"], tampered["insureds"][0], tampered["insureds"][1]):
        slot["address"] = address("浙江省", "杭州市", "拱墅区", "湖墅南路88号2幢301室")
        slot["postal_code"] = "310005"
    policy("UNAUTHORIZED_EDIT UNAUTHORIZED_CONTACT_EDIT", p1, 5, "CUSTOMER_INFO_UPDATED", "2025-11-12T15:20:00+08:00",
           tampered, actor={"user_id": "OP0002", "role": "OPERATIONS_CLERK", "supervisor_id": "OP0100",
                            "department": "杭州分公司运营部"})

    # A sales agent swaps the customer's mobile for their own after issue (200 / 100 yuan, twice).
    p3 = "P86440325110003"
    swapped = dict(web, mobile="13511112946")
    agent_edit = {"policyholder": swapped, "insureds": [dict(swapped, relation_to_policyholder="SELF")]}
    policy("clean", p3, 2, "POLICY_ISSUED", "2025-11-06T10:00:00+08:00",
           {"policyholder": web, "insureds": [dict(web, relation_to_policyholder="SELF")]}, channel="ONLINE",
           actor={"user_id": "SYS-UW", "role": "SYSTEM", "supervisor_id": None, "department": None})
    policy("UNAUTHORIZED_EDIT UNAUTHORIZED_CONTACT_EDIT", p3, 3, "CUSTOMER_INFO_UPDATED", "2025-11-08T18:05:00+08:00", agent_edit,
           channel="ONLINE", actor={"user_id": "A0107", "role": "SALES_AGENT", "supervisor_id": "S0001", "department": None})
    return out
