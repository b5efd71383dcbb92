"""REQUIRED_FIELD_MISSING, MOBILE_FORMAT, POSTAL_CODE_FORMAT, and endorsement changes."""
from __future__ import annotations

import pytest

from schemas.enums import QuarantineReason
from tests.oracle import endorsement_event, person, policy_event
from tests.unit.conftest import judge, rules_of


@pytest.mark.parametrize("field", ["name", "gender", "birth_date", "id_type", "id_no", "postal_code"])
@pytest.mark.parametrize("blank", [None, "", "   ", "\u3000"])
def test_policyholder_required_fields(field: str, blank: object) -> None:
    event = policy_event(policyholder=person(**{field: blank}))
    event["insureds"] = []
    found = rules_of(judge(event))
    assert found == {("REQUIRED_FIELD_MISSING", "policyholder", field)}


def test_insured_postal_code_is_not_required_but_id_is() -> None:
    event = policy_event()
    event["insureds"][0].update(postal_code=None, id_no=None)
    assert rules_of(judge(event)) == {("REQUIRED_FIELD_MISSING", "insureds[0]", "id_no")}


def test_beneficiaries_need_name_and_id_unless_legal_heirs() -> None:
    named = policy_event(beneficiary_designation="NAMED", beneficiaries=[{"order": 1, "share_pct": 100}])
    assert rules_of(judge(named)) == {
        ("REQUIRED_FIELD_MISSING", "beneficiaries[0]", "name"),
        ("REQUIRED_FIELD_MISSING", "beneficiaries[0]", "id_no"),
    }
    assert rules_of(judge(policy_event(beneficiaries=[], beneficiary_designation="LEGAL_HEIRS"))) == set()
    assert rules_of(judge(policy_event(beneficiaries=[], beneficiary_designation=None))) == set()


@pytest.mark.parametrize(
    ("mobile", "normalised", "ok"),
    [
        ("13957102846", "13957102846", True),
        ("+86 139-5710-2846", "13957102846", True),
        ("0086 13957102846", "13957102846", True),
        ("１３９５７１０２８４６", "13957102846", True),
        ("(139)5710 2846", "13957102846", True),
        ("1395710284", "1395710284", False),
        ("12957102846", "12957102846", False),
        ("139571028460", "139571028460", False),
        ("0571-87652093", "057187652093", False),
    ],
)
def test_mobile_format(mobile: str, normalised: str, ok: bool) -> None:
    event = policy_event(policyholder=person(mobile=mobile))
    event["insureds"] = []
    verdict = judge(event)
    assert (rules_of(verdict) == set()) is ok
    if ok:
        assert verdict.clean is not None and verdict.clean.policyholder.mobile == normalised
    else:
        assert rules_of(verdict) == {("MOBILE_FORMAT", "policyholder", "mobile")}
        assert normalised not in verdict.findings[0].message


@pytest.mark.parametrize(
    ("code", "province", "city", "ok"),
    [
        ("310013", "浙江省", "杭州市", True),
        ("３１００１３", "浙江省", "杭州市", True),
        ("31001", "浙江省", "杭州市", False),
        ("910013", "浙江省", "杭州市", False),
        ("31001A", "浙江省", "杭州市", False),
        ("999077", "香港特别行政区", "香港", True),
        ("999077", "澳门特别行政区", "澳门", True),
        ("999077", "浙江省", "杭州市", False),
        ("106", "台湾省", "台北市", True),
        ("10699", "台湾省", "台北市", True),
    ],
)
def test_postal_code_format(code: str, province: str, city: str, ok: bool) -> None:
    address = {"province": province, "city": city, "district": "某区", "detail": "某路1号"}
    event = policy_event(policyholder=person(postal_code=code, address=address))
    event["insureds"] = []
    assert (rules_of(judge(event), "POSTAL_CODE_FORMAT") == set()) is ok


def test_endorsement_changes_are_checked_field_by_field() -> None:
    good = judge(endorsement_event())
    assert good.outcome == "clean"
    bad = judge(endorsement_event(changes=[
        {"party": "policyholder", "field": "mobile", "old": "13957102846", "new": "1892673058"},
        {"party": "insureds[0]", "field": "postal_code", "old": "310013", "new": "31001"},
    ]))
    assert bad.reason is QuarantineReason.RULE_ERROR
    assert rules_of(bad) == {("MOBILE_FORMAT", "policyholder", "mobile"), ("POSTAL_CODE_FORMAT", "insureds[0]", "postal_code")}


def test_endorsement_change_values_are_normalised_on_the_clean_record() -> None:
    verdict = judge(endorsement_event(changes=[{"party": "policyholder", "field": "Mobile", "old": "139 5710 2846",
                                                "new": "+86 189-2673-0584"}]))
    assert verdict.clean is not None
    change, = verdict.clean.changes
    assert (change.field, change.old, change.new) == ("mobile", "13957102846", "18926730584")
