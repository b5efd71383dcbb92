"""Properties of the rules over generated people (hypothesis).

- any valid generated person, in any party, with beneficiaries in any order, passes with no ERROR;
- corrupting exactly one field of a valid policyholder yields exactly the expected rule;
- arbitrary text in any Person field never raises out of the core.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from schemas.enums import Severity
from tests.oracle import policy_event, resident_id, wrong_check
from tests.unit.conftest import judge, judged_without_defect

EVENT_DAY = date(2025, 11, 3)  # local date of tests.oracle.policy_event's occurred_at
# (region, province, city, district, postal code) — real places whose codes agree.
PLACES = [
    ("330106", "浙江省", "杭州市", "西湖区", "310013"),
    ("110105", "北京市", "北京市", "朝阳区", "100020"),
    ("440305", "广东省", "深圳市", "南山区", "518057"),
    ("532801", "云南省", "西双版纳傣族自治州", "景洪市", "666100"),
    ("650102", "新疆维吾尔自治区", "乌鲁木齐市", "天山区", "830002"),
    ("420111", "湖北省", "武汉市", "洪山区", "430074"),
    ("510107", "四川省", "成都市", "武侯区", "610041"),
    ("110104", "北京市", "北京市", "西城区", "100053"),  # 宣武区: retired code, still a valid ID
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗欧阳"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
MINORITY = ["买买提江", "吐尔逊", "阿依古丽", "艾合买提", "古丽娜尔", "扎西", "次仁"]
ALLOCATED = ["130", "133", "135", "139", "145", "150", "153", "158", "166", "170", "177", "180", "186", "189",
             "191", "199"]
HOUSE = ["号", "号3幢1502室", "号2单元301室", "弄7号", "号院5栋"]


@st.composite
def han_names(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return "·".join(draw(st.lists(st.sampled_from(MINORITY), min_size=2, max_size=3)))
    return draw(st.sampled_from(SURNAMES)) + "".join(draw(st.lists(st.sampled_from(GIVEN), min_size=1, max_size=2)))


@st.composite
def people(draw: st.DrawFn, *, min_age: int = 0, max_age: int = 100) -> dict[str, Any]:
    region, province, city, district, postal = draw(st.sampled_from(PLACES))
    gender = draw(st.sampled_from("MF"))
    oldest = EVENT_DAY.replace(year=EVENT_DAY.year - max_age) + timedelta(days=1)
    youngest = EVENT_DAY.replace(year=EVENT_DAY.year - min_age)
    birth = draw(st.dates(min_value=oldest, max_value=youngest))
    serial = draw(st.integers(0, 99))
    mobile = draw(st.sampled_from(ALLOCATED)) + draw(st.text("0123456789", min_size=8, max_size=8))
    valid_to = draw(st.sampled_from(["LONG_TERM", None]) | st.dates(EVENT_DAY, date(2045, 1, 1)).map(str))
    return {
        "name": draw(han_names()),
        "gender": gender,
        "birth_date": birth.isoformat(),
        "id_type": draw(st.sampled_from(["RESIDENT_ID", "HOUSEHOLD_REGISTER"])),
        "id_no": resident_id(region, birth.isoformat(), gender, serial),
        "id_valid_to": valid_to,
        "mobile": mobile,
        "landline": draw(st.none() | st.just("0571-87652093")),
        "address": {"province": province, "city": city, "district": district,
                    "detail": f"{draw(st.sampled_from(['文三路', '解放南路', '科苑路', '曼听路']))}"
                              f"{draw(st.integers(1, 999))}{draw(st.sampled_from(HOUSE))}"},
        "postal_code": postal,
    }


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    holder = draw(people(min_age=18))
    insureds = [dict(holder, relation_to_policyholder="SELF")] if draw(st.booleans()) else []
    insureds += [dict(draw(people()), relation_to_policyholder="OTHER") for _ in range(draw(st.integers(0, 2)))]
    beneficiaries: list[dict[str, Any]] = []
    for order in (1, 2)[: draw(st.integers(0, 2))]:
        count = draw(st.integers(1, 3))
        shares = [100 // count] * count
        shares[0] += 100 - sum(shares)
        for share in shares:
            person = draw(people())
            beneficiaries.append(dict(person, order=order, share_pct=share, relation_to_insured="OTHER"))
    beneficiaries = draw(st.permutations(beneficiaries))
    event = policy_event(policyholder=holder, insureds=insureds, beneficiaries=list(beneficiaries),
                         beneficiary_designation="NAMED" if beneficiaries else "LEGAL_HEIRS")
    event["channel"] = draw(st.sampled_from(["AGENCY", "BANCASSURANCE", "ONLINE", "BROKER"]))
    return event


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=valid_events())
def test_valid_people_never_get_an_error(event: dict[str, Any]) -> None:
    verdict = judge(event)
    errors = [(f.rule, f.party, f.field) for f in verdict.findings if f.severity is Severity.ERROR]
    assert errors == []
    assert verdict.clean is not None


def _shift_birth(person: dict[str, Any], days: int) -> None:
    person["birth_date"] = (date.fromisoformat(person["birth_date"]) - timedelta(days=days)).isoformat()


CORRUPTIONS = {
    "ID_CHECKSUM": lambda p, n: p.update(id_no=wrong_check(p["id_no"])),
    # 15 digits would be a (legacy) valid length, so the cuts skip it
    "ID_FORMAT": lambda p, n: p.update(id_no=p["id_no"][: (10, 11, 12, 13, 14, 16, 17)[n % 7]]),
    "ID_BIRTH_DATE_MISMATCH": lambda p, n: _shift_birth(p, 1 + n % 300),
    "ID_GENDER_MISMATCH": lambda p, n: p.update(gender="F" if p["gender"] == "M" else "M"),
    "MOBILE_FORMAT": lambda p, n: p.update(mobile=p["mobile"][:-1 - n % 3]),
    "POSTAL_CODE_FORMAT": lambda p, n: p.update(postal_code=p["postal_code"][:5]),
    "NAME_INVALID": lambda p, n: p.update(name=p["name"] + str(n % 10)),
    "ID_EXPIRED": lambda p, n: p.update(id_valid_to=(EVENT_DAY - timedelta(days=1 + n % 2000)).isoformat()),
    "ADDRESS_INCOMPLETE": lambda p, n: p["address"].update({("province", "city", "district", "detail")[n % 4]: " "}),
    "LANDLINE_FORMAT": lambda p, n: p.update(landline=str(10_000 + n)),
    "REQUIRED_FIELD_MISSING": lambda p, n: p.update({("name", "gender", "birth_date", "id_no", "postal_code")[n % 5]: ""}),
    "PHONE_MISSING": lambda p, n: p.update(mobile=None, landline=None),
    "BIRTH_DATE_INVALID": lambda p, n: p.update(birth_date=(EVENT_DAY + timedelta(days=1 + n)).isoformat()),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(holder=people(min_age=19, max_age=90), rule=st.sampled_from(sorted(CORRUPTIONS)), n=st.integers(0, 10_000))
def test_one_corrupted_field_yields_exactly_its_rule(holder: dict[str, Any], rule: str, n: int) -> None:
    clean = policy_event(policyholder=holder, insureds=[])
    baseline = judge(clean)
    assume(not baseline.findings)  # e.g. a generated mobile that happens to look like 13888888888
    CORRUPTIONS[rule](holder, n)
    verdict = judge(policy_event(policyholder=holder, insureds=[]))
    assert {f.rule for f in verdict.findings} == {rule}, [f.message for f in verdict.findings]
    assert {f.party for f in verdict.findings} == {"policyholder"}


FIELDS = ["name", "gender", "birth_date", "id_type", "id_no", "id_valid_to", "mobile", "landline", "postal_code"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(holder=people(), field=st.sampled_from(FIELDS), value=st.text(max_size=60) | st.none())
def test_any_text_in_any_field_is_judged_not_raised(holder: dict[str, Any], field: str, value: str | None) -> None:
    holder[field] = value
    judged_without_defect(judge(policy_event(policyholder=holder)))
