"""Cross-policy and return-visit cases: each alert type on its case, and its look-alikes.

Shared by the pure tests (in-process store) and the integration tests (real redis-server),
so both stores are held to the same answers.
"""
from __future__ import annotations

from collections import Counter
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from streams.core.crosspolicy import DEV_SECRET, CrossPolicyStage, CrossStore
from streams.core.crosspolicy.roster import parse_roster
from streams.core.driver import TopologyDriver
from streams.core.origin import Stream
from streams.core.outputs import OutputKind
from streams.cross_runner import CrossPolicyRunner
from tests.lifecycle import AGENT, CLERK, CUSTOMER, SYSTEM, T0, endorsement, policy
from tests.oracle import encode, person, resident_id

Event = tuple[Stream, dict[str, Any]]

STAFF_MOBILE = "13911862740"  # A0107's roster mobile
ROSTER_CSV = (
    "user_id,role,mobile,id_no\n"
    f"A0107,SALES_AGENT,{STAFF_MOBILE},\n"
    f"A0222,SALES_AGENT,13802214477,{resident_id('440305', '1990-05-06', 'F')}\n"
    "OP0002,OPERATIONS_CLERK,18601127394,\n"
    "A0333,SALES_AGENT,13902223333,E98765432\n"  # a staff member known by a passport number
)
CROSS_TYPES = {"STAFF_PHONE_AS_CUSTOMER", "IDENTITY_CONFLICT", "SHARED_CONTACT", "RETURN_VISIT_INTERCEPTION"}


def customer(name: str, gender: str, birth: str, *, region: str = "110105", serial: int = 12,
             mobile: str = "13661025273", landline: str | None = None) -> dict[str, Any]:
    return person(name=name, gender=gender, birth_date=birth, id_no=resident_id(region, birth, gender, serial),
                  mobile=mobile, landline=landline, postal_code="100020",
                  address={"province": "北京市", "city": "北京市", "district": "朝阳区", "detail": "望京西园三区312号楼6单元802"})


def issued(policy_no: str, holder: dict[str, Any], *, minutes: float = 0, channel: str = "AGENCY",
           actor: dict[str, Any] | None = None) -> list[Event]:
    """Submitted, confirmed (the lock point), issued."""
    return [policy(policy_no, 1, "APPLICATION_SUBMITTED", minutes, holder=holder, channel=channel, actor=actor),
            policy(policy_no, 2, "APPLICATION_CONFIRMED", minutes + 20, holder=holder, channel=channel, actor=actor),
            policy(policy_no, 3, "POLICY_ISSUED", minutes + 60, holder=holder, channel=channel, actor=SYSTEM)]


def visit(policy_no: str, n: int, minutes: float, holder: dict[str, Any], called: str) -> Event:
    return policy(policy_no, n, "RETURN_VISIT_COMPLETED", minutes, holder=holder, actor=SERVICE,
                  return_visit={"status": "COMPLETED", "phone_called": called, "at": (T0 + timedelta(
                      minutes=minutes)).isoformat()})


SERVICE = {"user_id": "CS0003", "role": "CUSTOMER_SERVICE", "supervisor_id": "CS0100", "department": None}
DAY = 24 * 60.0


@dataclass
class CrossCase:
    events: list[Event]
    alerts: Counter[str] = field(default_factory=Counter)
    """alert type → count, cross-policy and return-visit types only"""


def cases() -> dict[str, CrossCase]:
    wang = customer("王建国", "M", "1975-02-14", region="110108", serial=31)
    wang_bank = dict(deepcopy(wang), name="王建华")
    li = customer("李晓明", "M", "1988-11-02", region="310104", serial=44, mobile="13501234567")
    li_fixed = dict(deepcopy(li), name="李小明")
    staff_self = customer("周丽", "F", "1990-05-06", region="440305", mobile="13802214477")
    husband = customer("张伟", "M", "1982-03-03", region="320102", serial=51, mobile="13776543210")
    wife = customer("刘芳", "F", "1984-08-08", region="320102", serial=52, mobile="13776543210")
    shared = "13612345678"
    strangers = [customer(name, gender, birth, region="500103", serial=61 + i, mobile=shared)
                 for i, (name, gender, birth) in enumerate(
                     [("陈静", "F", "1991-01-01"), ("杨洋", "M", "1979-07-07"), ("黄敏", "F", "1986-06-16")])]
    family = [customer(name, gender, birth, region="420106", serial=71 + i, mobile=mobile, landline="027-87654321")
              for i, (name, gender, birth, mobile) in enumerate(
                  [("吴强", "M", "1960-04-04", "13971110001"), ("吴娜", "F", "1988-09-09", "13971110002"),
                   ("吴磊", "M", "1990-10-10", "13971110003")])]
    apart = [dict(deepcopy(holder), id_no=resident_id("500103", holder["birth_date"], holder["gender"], 81 + i),
                  mobile="13612345999")
             for i, holder in enumerate(strangers)]
    visited = customer("孙涛", "M", "1970-12-12", region="210102", serial=91, mobile="13840001111",
                       landline="024-23456789")
    switched = dict(deepcopy(visited), mobile="13840002222")
    staff_passport = dict(customer("林凯", "M", "1987-04-04", region="350102"), id_type="PASSPORT",
                          id_no="E98765432", mobile="13902223333")
    uyghur = customer("阿依古丽·艾合买提", "F", "1992-02-02", region="650102", serial=17, mobile="13999110022")
    uyghur_bank = dict(deepcopy(uyghur), name="阿依古丽艾合买提")  # the bank's system drops the middle dot
    return {
        "staff-with-a-passport-insures-self": CrossCase(issued("XSP3", staff_passport, actor=AGENT)),
        "name-with-and-without-the-middle-dot": CrossCase(
            issued("XND1", uyghur) + issued("XND2", uyghur_bank, minutes=2 * DAY, channel="BANCASSURANCE")),
        "staff-phone": CrossCase(
            issued("XSP1", dict(customer("赵敏", "F", "1993-03-15", region="110101"), mobile=STAFF_MOBILE)),
            Counter({"STAFF_PHONE_AS_CUSTOMER": 1})),
        "staff-insures-self": CrossCase(issued("XSP2", staff_self, actor=AGENT)),
        "identity-conflict": CrossCase(
            issued("XIC1", wang) + issued("XIC2", wang_bank, minutes=3 * DAY, channel="BANCASSURANCE"),
            Counter({"IDENTITY_CONFLICT": 1})),
        "typo-corrected-by-endorsement": CrossCase([
            *issued("XTC1", li),
            endorsement("XTC1", 1, "ENDORSEMENT_REQUESTED", 2 * DAY, number="ETC1", field="name", new="李小明",
                        kind="OTHER", actor=CUSTOMER),
            endorsement("XTC1", 2, "ENDORSEMENT_APPROVED", 2 * DAY + 5, number="ETC1", field="name", new="李小明",
                        kind="OTHER"),
            policy("XTC1", 4, "CUSTOMER_INFO_UPDATED", 2 * DAY + 6, holder=li_fixed, actor=CLERK),
        ]),
        "couple-sharing-a-mobile": CrossCase(issued("XCP1", husband) + issued("XCP2", wife, minutes=DAY)),
        "shared-contact": CrossCase(
            [event for i, holder in enumerate(strangers) for event in issued(f"XSC{i + 1}", holder, minutes=i * DAY)],
            Counter({"SHARED_CONTACT": 1})),
        "shared-mobile-spread-beyond-the-window": CrossCase(
            [event for i, holder in enumerate(apart) for event in issued(f"XSW{i + 1}", holder, minutes=i * 20 * DAY)]),
        "family-sharing-a-landline": CrossCase(
            [event for i, holder in enumerate(family) for event in issued(f"XFL{i + 1}", holder, minutes=i * 60)]),
        "visit-intercepted": CrossCase([
            *issued("XRV1", visited),
            policy("XRV1", 4, "CUSTOMER_INFO_UPDATED", 2 * DAY, holder=switched, actor=AGENT),
            visit("XRV1", 5, 3 * DAY, switched, switched["mobile"]),
            policy("XRV1", 6, "CUSTOMER_INFO_UPDATED", 4 * DAY, holder=visited, actor=AGENT),
        ], Counter({"RETURN_VISIT_INTERCEPTION": 1})),
        "visit-on-a-stranger's-number": CrossCase([
            *issued("XRV2", visited),
            visit("XRV2", 4, 3 * DAY, visited, "13840009999"),
        ], Counter({"RETURN_VISIT_INTERCEPTION": 1})),
        "visit-on-the-landline-then-a-new-mobile": CrossCase([
            *issued("XRV3", visited),
            visit("XRV3", 4, 3 * DAY, visited, "024 2345 6789"),
            policy("XRV3", 5, "CUSTOMER_INFO_UPDATED", 4 * DAY, holder=switched, actor=AGENT),
        ]),
        "switched-and-back-before-the-visit": CrossCase([
            *issued("XRV4", visited),
            policy("XRV4", 4, "CUSTOMER_INFO_UPDATED", 2 * DAY, holder=switched, actor=AGENT),
            policy("XRV4", 5, "CUSTOMER_INFO_UPDATED", 2 * DAY + 60, holder=visited, actor=AGENT),
            visit("XRV4", 6, 3 * DAY, visited, visited["mobile"]),
        ]),
    }


def all_events() -> list[Event]:
    return [event for case in cases().values() for event in case.events]


def driver_with(store: CrossStore, *, partitions: int = 1, secret: str = DEV_SECRET,
                roster: str | None = ROSTER_CSV) -> TopologyDriver:
    runner = CrossPolicyRunner(CrossPolicyStage.default(secret), store)
    latest = max(T0 + timedelta(days=200), T0)
    driver = TopologyDriver(start=latest, partitions=partitions, cross=runner)
    if roster is not None:
        driver.run(store.load_roster(parse_roster(roster, runner.stage.hasher).entries))
    return driver


def pipe_all(driver: TopologyDriver, events: list[Event]) -> list[dict[str, Any]]:
    for stream, document in events:
        driver.pipe(stream, encode(document), key=document["policy_no"].encode(), advance_s=1)
    driver.finish()
    return driver.read(OutputKind.ALERTS)


def cross_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [alert for alert in alerts if alert["alert_type"] in CROSS_TYPES]


def comparable(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert without its detection time: what must not depend on arrival order."""
    return {key: value for key, value in alert.items() if key != "detected_at"}
