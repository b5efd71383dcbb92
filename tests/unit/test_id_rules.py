"""ID_FORMAT, ID_CHECKSUM, ID_BIRTH_DATE_MISMATCH, ID_GENDER_MISMATCH by realistic cases."""
from __future__ import annotations

import pytest

from tests.oracle import person, policy_event, resident_id, wrong_check
from tests.unit.conftest import judge, rules_of

VALID = resident_id("330106", "1985-03-12", "M")


def holder_only(**fields: object) -> dict:
    event = policy_event(policyholder=person(**fields))
    event["insureds"] = []
    return event


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, set()),
        ({"id_no": f" {VALID[:6]} {VALID[6:]} "}, set()),  # spaces inside are dropped
        ({"id_no": wrong_check(VALID)}, {("ID_CHECKSUM", "policyholder", "id_no")}),
        ({"id_no": VALID[:17]}, {("ID_FORMAT", "policyholder", "id_no")}),
        ({"id_no": VALID[:17] + "Y"}, {("ID_FORMAT", "policyholder", "id_no")}),
        # 1985-02-30 is not a calendar date: one ID_FORMAT, and no derived checks on top.
        ({"id_no": resident_id("330106", "1985-02-30", "M")}, {("ID_FORMAT", "policyholder", "id_no")}),
        ({"birth_date": "1985-03-13"}, {("ID_BIRTH_DATE_MISMATCH", "policyholder", "birth_date")}),
        ({"gender": "F"}, {("ID_GENDER_MISMATCH", "policyholder", "gender")}),
        (
            {"gender": "F", "birth_date": "1986-03-12"},
            {("ID_GENDER_MISMATCH", "policyholder", "gender"), ("ID_BIRTH_DATE_MISMATCH", "policyholder", "birth_date")},
        ),
    ],
)
def test_resident_id_cases(fields: dict, expected: set) -> None:
    assert rules_of(judge(holder_only(**fields))) == expected


def test_check_character_x_is_accepted_in_either_case() -> None:
    # Search a serial whose check character is X, computed by the test oracle.
    with_x = next(
        candidate
        for serial in range(100)
        if (candidate := resident_id("650102", "1992-05-02", "F", serial)).endswith("X")
    )
    for written in (with_x, with_x.lower(), f" {with_x[:6]} {with_x[6:].lower()} "):
        verdict = judge(holder_only(id_no=written, birth_date="1992-05-02", gender="F", name="阿依古丽·艾合买提"))
        assert rules_of(verdict) == set(), written
        assert verdict.clean is not None and verdict.clean.policyholder.id_no == with_x


def test_legacy_15_digit_id_checks_birth_and_gender_without_checksum() -> None:
    legacy = "330106850312413"  # 1985-03-12, sequence digit 3 (odd: male)
    warning = ("ID_LEGACY_15", "policyholder", "id_no")
    assert rules_of(judge(holder_only(id_no=legacy))) == {warning}
    assert rules_of(judge(holder_only(id_no=legacy, gender="F"))) == {
        warning, ("ID_GENDER_MISMATCH", "policyholder", "gender")}
    assert rules_of(judge(holder_only(id_no=legacy, birth_date="1985-03-11"))) == {
        warning, ("ID_BIRTH_DATE_MISMATCH", "policyholder", "birth_date")}


def test_retired_region_code_is_not_an_error() -> None:
    # 110103 (崇文区) was merged into 东城区 in 2010; IDs issued before stay valid.
    retired = resident_id("110103", "1970-01-01", "F")
    assert rules_of(judge(holder_only(id_no=retired, birth_date="1970-01-01", gender="F"))) == set()


@pytest.mark.parametrize(
    ("id_type", "id_no", "ok"),
    [
        ("RESIDENCE_PERMIT_HMT", resident_id("810000", "1985-03-12", "M"), True),
        ("RESIDENCE_PERMIT_HMT", resident_id("330106", "1985-03-12", "M"), False),
        ("FOREIGN_PERMANENT_RESIDENT", "USA330185031201", True),
        ("FOREIGN_PERMANENT_RESIDENT", "9" + resident_id("330106", "1985-03-12", "M")[1:], True),
        ("FOREIGN_PERMANENT_RESIDENT", "US1234", False),
        ("HK_MACAO_PERMIT", "H12345678", True),
        ("HK_MACAO_PERMIT", "M1234567801", True),
        ("HK_MACAO_PERMIT", "C12345678", False),
        ("TAIWAN_PERMIT", "01234567", True),
        ("TAIWAN_PERMIT", "0123456", False),
        ("PASSPORT", "E12345678", True),
        ("PASSPORT", "E1234", True),
        ("PASSPORT", "E12-345", False),
        ("BIRTH_CERTIFICATE", "Q330012345", True),
        ("BIRTH_CERTIFICATE", "Q3300", False),
        ("OTHER", "军(2019)-123", False),
        ("OTHER", "JG-2019-123", True),
        ("HOUSEHOLD_REGISTER", resident_id("330106", "1985-03-12", "M"), True),
    ],
)
def test_document_formats(id_type: str, id_no: str, ok: bool) -> None:
    verdict = judge(holder_only(id_type=id_type, id_no=id_no, name="CHAN TAI MAN" if id_type == "PASSPORT" else "陈晓明"))
    found = {rule for rule, _, _ in rules_of(verdict)}
    assert ("ID_FORMAT" not in found) is ok, verdict.findings


def test_hmt_residence_permit_gets_checksum_check() -> None:
    permit = resident_id("810000", "1985-03-12", "M")
    verdict = judge(holder_only(id_type="RESIDENCE_PERMIT_HMT", id_no=wrong_check(permit)))
    assert rules_of(verdict) == {("ID_CHECKSUM", "policyholder", "id_no")}


def test_every_party_is_checked_and_named() -> None:
    event = policy_event()
    child_id = resident_id("330106", "2015-07-20", "F")
    event["insureds"].append(person(name="陈雨桐", gender="F", birth_date="2015-07-20", id_no=wrong_check(child_id),
                                    mobile=None, relation_to_policyholder="CHILD"))
    event["beneficiaries"] = [
        dict(person(name="李梅", gender="F", birth_date="1987-01-02", id_no=resident_id("330106", "1987-01-02", "F")),
             order=1, share_pct=100),
        dict(person(name="陈大山", gender="F", birth_date="1950-01-02", id_no=resident_id("330106", "1950-01-02", "M")),
             order=2, share_pct=100),
    ]
    event["beneficiary_designation"] = "NAMED"
    assert rules_of(judge(event)) == {
        ("ID_CHECKSUM", "insureds[1]", "id_no"),
        ("ID_GENDER_MISMATCH", "beneficiaries[1]", "gender"),
    }


def test_messages_are_chinese_and_mask_the_id() -> None:
    bad = wrong_check(VALID)
    finding, = judge(holder_only(id_no=bad)).findings
    assert "投保人" in finding.message and "校验位" in finding.message
    assert bad not in finding.message
    assert f"{bad[:4]}**********{bad[-4:]}" in finding.message
