"""A table of realistic cases per rule of docs/contract.md §4 (docs/domain.md §2), valid and invalid.

Each case edits a clean baseline event and states the complete set of findings of the rule
under test, so an unexpected extra finding of that rule fails too.
"""
from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from typing import Any

import pytest

from schemas.enums import Severity
from tests.oracle import person, policy_event, resident_id
from tests.unit.conftest import judge, rules_of

Edit = Callable[[dict[str, Any]], None]
HOLDER = "policyholder"


def holder(**fields: Any) -> Edit:
    def edit(event: dict[str, Any]) -> None:
        event["policyholder"].update(fields)
        event["insureds"][0].update(fields)  # the SELF insured is the same person
    return edit


def insured(index: int, **fields: Any) -> Edit:
    def edit(event: dict[str, Any]) -> None:
        while len(event["insureds"]) <= index:
            event["insureds"].append(child())
        event["insureds"][index].update(fields)
    return edit


def top(**fields: Any) -> Edit:
    return lambda event: event.update(fields)


def child(**fields: Any) -> dict[str, Any]:
    return dict(person(name="陈雨桐", gender="F", birth_date="2015-07-20", mobile=None, landline=None,
                       id_no=resident_id("330106", "2015-07-20", "F")), relation_to_policyholder="CHILD", **fields)


def beneficiary(name: str, birth: str, gender: str, order: int | None, share: float | None) -> dict[str, Any]:
    return {"name": name, "gender": gender, "birth_date": birth, "id_type": "RESIDENT_ID",
            "id_no": resident_id("330106", birth, gender), "order": order, "share_pct": share,
            "relation_to_insured": "SPOUSE"}


def beneficiaries(*people: dict[str, Any]) -> Edit:
    return top(beneficiaries=list(people), beneficiary_designation="NAMED")


WIFE = ("李梅", "1987-01-02", "F")
SON = ("陈子轩", "2012-05-01", "M")
I0 = "insureds[0]"
I1 = "insureds[1]"

CASES: list[tuple[str, str, Edit, set[tuple[str | None, str | None]]]] = [
    # rule, case, edit, expected (party, field) of that rule
    ("ID_EXPIRED", "valid through a later date", holder(id_valid_to="2030-01-01"), set()),
    ("ID_EXPIRED", "valid through the event day itself", holder(id_valid_to="2025-11-03"), set()),
    ("ID_EXPIRED", "expired the day before", holder(id_valid_to="2025-11-02"), {(HOLDER, "id_valid_to"), (I0, "id_valid_to")}),
    ("ID_EXPIRED", "LONG_TERM never expires", holder(id_valid_to="long_term"), set()),
    ("ID_EXPIRED", "absent never expires", holder(id_valid_to=None), set()),
    ("BIRTH_DATE_INVALID", "real date", holder(), set()),
    ("BIRTH_DATE_INVALID", "30 February", insured(1, birth_date="2015-02-30"), {(I1, "birth_date")}),
    ("BIRTH_DATE_INVALID", "born after the event", insured(1, birth_date="2025-11-04"), {(I1, "birth_date")}),
    ("BIRTH_DATE_INVALID", "born on the event day is fine", insured(1, birth_date="2025-11-03",
                                                                   id_no=resident_id("330106", "2025-11-03", "F")), set()),
    ("BIRTH_DATE_INVALID", "121 years old", insured(1, birth_date="1904-11-02",
                                                   id_no=resident_id("330106", "1904-11-02", "F")), {(I1, "birth_date")}),
    ("BIRTH_DATE_INVALID", "exactly 120 is possible", insured(1, birth_date="1905-11-03",
                                                             id_no=resident_id("330106", "1905-11-03", "F")), set()),
    ("ID_BIRTH_DATE_MISMATCH", "skipped when the birth date is unparseable", insured(1, birth_date="2015-13-01"), set()),
    ("NAME_INVALID", "minority name with middle dot", holder(name="买买提江·吐尔逊"), set()),
    ("NAME_INVALID", "dot variant normalised", holder(name="买买提江•吐尔逊"), set()),
    ("NAME_INVALID", "rare character (Ext B)", holder(name="陈\U00020BB7"), set()),
    ("NAME_INVALID", "single character", holder(name="陈"), {(HOLDER, "name"), (I0, "name")}),
    ("NAME_INVALID", "digit in name", holder(name="陈晓明2"), {(HOLDER, "name"), (I0, "name")}),
    ("NAME_INVALID", "leading dot", holder(name="·吐尔逊"), {(HOLDER, "name"), (I0, "name")}),
    ("NAME_INVALID", "doubled dot", holder(name="买买提江··吐尔逊"), {(HOLDER, "name"), (I0, "name")}),
    ("NAME_INVALID", "Latin name on a resident ID", holder(name="CHEN XIAOMING"), {(HOLDER, "name"), (I0, "name")}),
    ("NAME_INVALID", "Latin name on a passport", holder(name="O'BRIEN MARY-ANNE", id_type="PASSPORT", id_no="E12345678"), set()),
    ("NAME_INVALID", "Han name on an HK permit", holder(name="陈大文", id_type="HK_MACAO_PERMIT", id_no="H12345678"), set()),
    ("NAME_INVALID", "31 Han characters", holder(name="陈" * 31), {(HOLDER, "name"), (I0, "name")}),
    ("NAME_PLACEHOLDER", "ordinary name", holder(), set()),
    ("NAME_PLACEHOLDER", "客户", holder(name="客户"), {(HOLDER, "name"), (I0, "name")}),
    ("NAME_PLACEHOLDER", "surname + 先生", holder(name="王先生"), {(HOLDER, "name"), (I0, "name")}),
    ("NAME_PLACEHOLDER", "compound surname + 女士", insured(1, name="欧阳女士"), {(I1, "name")}),
    ("NAME_PLACEHOLDER", "contains 测试", insured(1, name="测试用户"), {(I1, "name")}),
    ("NAME_PLACEHOLDER", "Test on a passport", holder(name="TEST USER", id_type="PASSPORT", id_no="E12345678"),
     {(HOLDER, "name"), (I0, "name")}),
    ("NAME_PLACEHOLDER", "张三 is a placeholder word", insured(1, name="张三"), {(I1, "name")}),
    ("PHONE_MISSING", "landline only is enough", holder(mobile=None), set()),
    ("PHONE_MISSING", "neither mobile nor landline", holder(mobile=None, landline=None), {(HOLDER, "mobile")}),
    ("PHONE_MISSING", "insured without phone is exempt", insured(1, mobile=None, landline=None), set()),
    ("LANDLINE_FORMAT", "with area code and dash", holder(landline="0571-87652093"), set()),
    ("LANDLINE_FORMAT", "Beijing 3-digit area code", holder(landline="010-62751234"), set()),
    ("LANDLINE_FORMAT", "with extension", holder(landline="0571-87652093-8021"), set()),
    ("LANDLINE_FORMAT", "brackets and spaces", holder(landline="(0571) 8765 2093"), set()),
    ("LANDLINE_FORMAT", "no area code", holder(landline="87652093"), {(HOLDER, "landline"), (I0, "landline")}),
    ("LANDLINE_FORMAT", "subscriber starts with 0", holder(landline="0571-07652093"),
     {(HOLDER, "landline"), (I0, "landline")}),
    ("LANDLINE_FORMAT", "a mobile in the landline field", holder(landline="13957102846"),
     {(HOLDER, "landline"), (I0, "landline")}),
    ("MOBILE_UNASSIGNED_PREFIX", "allocated 199", holder(mobile="19957102846"), set()),
    ("MOBILE_UNASSIGNED_PREFIX", "allocated 146 (data-only block)", holder(mobile="14657102846"), set()),
    ("MOBILE_UNASSIGNED_PREFIX", "unallocated 140", holder(mobile="14057102846"), {(HOLDER, "mobile"), (I0, "mobile")}),
    ("MOBILE_UNASSIGNED_PREFIX", "unallocated 154", holder(mobile="15457102846"), {(HOLDER, "mobile"), (I0, "mobile")}),
    ("MOBILE_UNASSIGNED_PREFIX", "satellite 1349", holder(mobile="13497102846"), {(HOLDER, "mobile"), (I0, "mobile")}),
    ("MOBILE_UNASSIGNED_PREFIX", "bad format is MOBILE_FORMAT's, not this", holder(mobile="1405710284"), set()),
    ("PHONE_PATTERN", "ordinary number", holder(), set()),
    ("PHONE_PATTERN", "eight 8s", holder(mobile="13888888888"), {(HOLDER, "mobile"), (I0, "mobile")}),
    ("PHONE_PATTERN", "seven zeros", holder(mobile="13800000001"), {(HOLDER, "mobile"), (I0, "mobile")}),
    ("PHONE_PATTERN", "six identical is fine", holder(mobile="13811111123"), set()),
    ("PHONE_PATTERN", "ascending run of 8", holder(mobile="13912345678"), {(HOLDER, "mobile"), (I0, "mobile")}),
    ("PHONE_PATTERN", "descending run of 8", holder(mobile="13987654321"), {(HOLDER, "mobile"), (I0, "mobile")}),
    ("PHONE_PATTERN", "service number 13800138000", holder(mobile="13800138000"), {(HOLDER, "mobile"), (I0, "mobile")}),
    ("PHONE_PATTERN", "landline of identical digits", holder(landline="0571-88888888"),
     {(HOLDER, "landline"), (I0, "landline")}),
    ("ADDRESS_INCOMPLETE", "complete", holder(), set()),
    ("ADDRESS_INCOMPLETE", "no address", holder(address=None), {(HOLDER, "address"), (I0, "address")}),
    ("ADDRESS_INCOMPLETE", "blank district", insured(1, address={"province": "浙江省", "city": "杭州市", "district": " ",
                                                             "detail": "文三路259号3幢1502室"}), {(I1, "address.district")}),
    ("ADDRESS_INCOMPLETE", "municipality repeats the city", holder(address={
        "province": "北京市", "city": "北京市", "district": "朝阳区", "detail": "望京西园三区312号楼6单元802"}, postal_code="100102"), set()),
    ("ADDRESS_INCOMPLETE", "beneficiary without address is fine",
     beneficiaries(beneficiary(*WIFE, 1, 100)), set()),
    ("ADDRESS_VAGUE", "precise", holder(), set()),
    ("ADDRESS_VAGUE", "同上", insured(1, address={"province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "同上"}),
     {(I1, "address.detail")}),
    ("ADDRESS_VAGUE", "no house number", holder(address={"province": "浙江省", "city": "杭州市", "district": "西湖区",
                                                        "detail": "文三路西湖科技园旁边"}),
     {(HOLDER, "address.detail"), (I0, "address.detail")}),
    ("ADDRESS_VAGUE", "附近", holder(address={"province": "浙江省", "city": "杭州市", "district": "西湖区",
                                             "detail": "文三路259号附近"}), {(HOLDER, "address.detail"), (I0, "address.detail")}),
    ("ADDRESS_VAGUE", "无锡路 is not 无", holder(address={"province": "浙江省", "city": "杭州市", "district": "西湖区",
                                                       "detail": "无锡路12号3室"}), set()),
    ("ADDRESS_VAGUE", "village address", holder(address={"province": "云南省", "city": "西双版纳傣族自治州",
                                                         "district": "景洪市", "detail": "嘎洒镇曼景保村"}, postal_code="666100"), set()),
    ("POSTAL_CODE_PROVINCE_MISMATCH", "Hangzhou 310013", holder(), set()),
    ("POSTAL_CODE_PROVINCE_MISMATCH", "Beijing code on a Zhejiang address", holder(postal_code="100101"),
     {(HOLDER, "postal_code"), (I0, "postal_code")}),
    ("POSTAL_CODE_PROVINCE_MISMATCH", "autonomous region long name", holder(
        address={"province": "新疆维吾尔自治区", "city": "乌鲁木齐市", "district": "天山区", "detail": "解放南路88号2单元501室"},
        postal_code="830002"), set()),
    ("POSTAL_CODE_PROVINCE_MISMATCH", "山西 is not 陕西", holder(
        address={"province": "陕西省", "city": "西安市", "district": "雁塔区", "detail": "小寨东路1号3栋"},
        postal_code="030001"), {(HOLDER, "postal_code"), (I0, "postal_code")}),
    ("POSTAL_CODE_PROVINCE_MISMATCH", "Hong Kong 999077 is not compared", holder(
        address={"province": "香港特别行政区", "city": "香港", "district": "中西区", "detail": "皇后大道中99号12楼A室"},
        postal_code="999077"), set()),
    ("BENEFICIARY_SHARES", "one order, 100%", beneficiaries(beneficiary(*WIFE, 1, 100)), set()),
    ("BENEFICIARY_SHARES", "two orders each 100%", beneficiaries(
        beneficiary(*WIFE, 1, 60), beneficiary(*SON, 1, 40), beneficiary("陈建国", "1958-02-02", "M", 2, 100)), set()),
    ("BENEFICIARY_SHARES", "listed in any order", beneficiaries(
        beneficiary("陈建国", "1958-02-02", "M", 2, 100), beneficiary(*SON, 1, 40), beneficiary(*WIFE, 1, 60)), set()),
    ("BENEFICIARY_SHARES", "thirds within tolerance", beneficiaries(
        beneficiary(*WIFE, 1, 33.33), beneficiary(*SON, 1, 33.33), beneficiary("陈建国", "1958-02-02", "M", 1, 33.34)), set()),
    ("BENEFICIARY_SHARES", "first order sums to 90", beneficiaries(beneficiary(*WIFE, 1, 50), beneficiary(*SON, 1, 40)),
     {("beneficiaries", "share_pct")}),
    ("BENEFICIARY_SHARES", "missing share counts as 0", beneficiaries(beneficiary(*WIFE, 1, 100), beneficiary(*SON, 2, None)),
     {("beneficiaries", "share_pct")}),
    ("BENEFICIARY_SHARES", "legal heirs need no shares", top(beneficiaries=[], beneficiary_designation="LEGAL_HEIRS"), set()),
    ("SELF_RELATION_MISMATCH", "same person", holder(), set()),
    ("SELF_RELATION_MISMATCH", "another ID on the SELF insured", insured(0, id_no=resident_id("330106", "1985-03-12", "M", 99)),
     {(I0, "id_no")}),
    ("SELF_RELATION_MISMATCH", "another name on the SELF insured", insured(0, name="陈小明"), {(I0, "name")}),
    ("SELF_RELATION_MISMATCH", "spaces and case are normalised before comparing",
     insured(0, name=" 陈 晓明 "), set()),
    ("RELATION_INCONSISTENT", "child younger", insured(1), set()),
    ("RELATION_INCONSISTENT", "child older than the policyholder", insured(1, birth_date="1980-01-01",
                                                                          id_no=resident_id("330106", "1980-01-01", "F")),
     {(I1, "relation_to_policyholder")}),
    ("RELATION_INCONSISTENT", "parent younger than the policyholder", insured(1, relation_to_policyholder="PARENT"),
     {(I1, "relation_to_policyholder")}),
    ("RELATION_INCONSISTENT", "spouse of 21 (man)", insured(1, relation_to_policyholder="SPOUSE", name="张伟", gender="M",
                                                           birth_date="2004-05-05", id_no=resident_id("330106", "2004-05-05", "M")),
     {(I1, "relation_to_policyholder")}),
    ("RELATION_INCONSISTENT", "spouse of 20 (woman)", insured(1, relation_to_policyholder="SPOUSE", birth_date="2005-05-05",
                                                             id_no=resident_id("330106", "2005-05-05", "F")), set()),
    ("RELATION_INCONSISTENT", "skipped on an invalid birth date", insured(1, birth_date="1980-02-30"), set()),
    ("POLICYHOLDER_MINOR", "adult", holder(), set()),
    ("POLICYHOLDER_MINOR", "17 years and 364 days", holder(birth_date="2007-11-04", id_no=resident_id("330106", "2007-11-04", "M")),
     {(HOLDER, "birth_date")}),
    ("POLICYHOLDER_MINOR", "18 on the event day", holder(birth_date="2007-11-03", id_no=resident_id("330106", "2007-11-03", "M")),
     set()),
    ("ID_REGION_UNKNOWN", "current code", holder(), set()),
    ("ID_REGION_UNKNOWN", "retired 110104 宣武区", holder(id_no=resident_id("110104", "1985-03-12", "M")), set()),
    ("ID_REGION_UNKNOWN", "retired 330103 下城区", holder(id_no=resident_id("330103", "1985-03-12", "M")), set()),
    ("ID_REGION_UNKNOWN", "no such region 990101", holder(id_no=resident_id("990101", "1985-03-12", "M")),
     {(HOLDER, "id_no"), (I0, "id_no")}),
    ("ID_REGION_UNKNOWN", "HK residence permit 810000", holder(id_type="RESIDENCE_PERMIT_HMT",
                                                              id_no=resident_id("810000", "1985-03-12", "M")), set()),
]


@pytest.mark.parametrize(("rule", "case", "edit", "expected"), CASES, ids=[f"{r}: {c}" for r, c, _, _ in CASES])
def test_rule_case(rule: str, case: str, edit: Edit, expected: set) -> None:
    event = policy_event()
    event["insureds"].append(child())
    edit(event)
    verdict = judge(deepcopy(event))
    found = {(party, field) for _, party, field in rules_of(verdict, rule)}
    assert found == expected


def test_the_baseline_is_clean() -> None:
    event = policy_event()
    event["insureds"].append(child())
    assert judge(event).findings == ()


@pytest.mark.parametrize(("rule", "severity"), [
    ("ADDRESS_VAGUE", Severity.WARNING), ("ID_EXPIRED", Severity.ERROR), ("PHONE_PATTERN", Severity.WARNING),
    ("BENEFICIARY_SHARES", Severity.ERROR)])
def test_default_severities_are_the_contracts(rule: str, severity: Severity) -> None:
    from streams.core.rules import REGISTRY

    assert REGISTRY[rule].severity is severity


def test_warnings_pass_with_warnings_and_errors_quarantine() -> None:
    vague = policy_event()
    vague["insureds"][0]["address"] = dict(vague["insureds"][0]["address"], detail="同上")
    verdict = judge(vague)
    assert verdict.outcome == "clean_with_warnings"
    assert [(f.rule, f.severity) for f in verdict.clean.validation.findings] == [("ADDRESS_VAGUE", Severity.WARNING)]
    expired = policy_event()
    expired["policyholder"]["id_valid_to"] = "2020-01-01"
    assert judge(expired).outcome == "quarantined"
