"""Cross-policy and return-visit cases: each alert type on its case, and its look-alikes.

Shared by the pure tests (in-process store) and the integration tests (real redis-server),
so both stores are held to the same answers.
"""
from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from streams.core.crosspolicy import DEV_SECRET, CrossPolicyStage, CrossStore, Observation
from streams.core.crosspolicy.index import RosterEntry
from streams.core.crosspolicy.observation import MobileUse, PhoneCheck, Sighting
from streams.core.crosspolicy.roster import parse_roster
from streams.core.driver import TopologyDriver
from streams.core.origin import Origin, Stream
from streams.core.outputs import OutputKind
from streams.core.pipeline import process_record
from streams.core.ruleset import RuleSet
from streams.cross_backlog import Backlog
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
            Counter({"SHARED_CONTACT": 3})),  # one per policy carrying the crowded mobile
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
                roster: str | None = ROSTER_CSV, seen_marker: Path | None = None,
                backlog: Backlog | None = None) -> TopologyDriver:
    runner = CrossPolicyRunner(CrossPolicyStage.default(secret), store, seen_marker=seen_marker, backlog=backlog)
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


# -- random observation sets: the same answers whatever the batching and interleaving -------------

SCENARIO_T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
SCENARIO_STAFF = {"mob-staff": RosterEntry("A0107", "SALES_AGENT")}
"""A roster for the scenarios: one staff mobile, which some policies carry."""
ACTORS = [{"user_id": "A0107", "role": "SALES_AGENT", "supervisor_id": "S0001"},
          {"user_id": "T0101", "role": "BANK_TELLER", "supervisor_id": None},
          {"user_id": "OP0002", "role": "OPERATIONS_CLERK", "supervisor_id": "OP0100"},
          {"user_id": "SYS", "role": "SYSTEM", "supervisor_id": None}]


def _attributes(rng: random.Random, person: str, usual: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Mostly the policy's usual values; now and then another (a typo, a correction) or none."""
    chosen = {}
    for name, value in usual.items():
        draw = rng.random()
        if draw < 0.12:
            continue  # not given, or rejected by a rule
        chosen[name] = value if draw < 0.8 else f"{person}-{name}-{rng.randrange(3)}"
    return tuple(sorted(chosen.items()))


def scenario(rng: random.Random) -> dict[str, list[Observation]]:
    """Policy → its observations in order: a handful of people and mobiles shared between policies,
    values that change and change back, times that sometimes step back within a policy, policies
    months and years apart, a staff mobile now and then. Small enough that no cap is reached."""
    persons = [f"person-{i}" for i in range(rng.randint(2, 5))]
    mobiles = [f"mob-{i}" for i in range(rng.randint(1, 3))] + ["mob-staff"]
    spread_days = rng.choice([10, 90])
    policies: dict[str, list[Observation]] = {}
    for n in range(rng.randint(3, 9)):
        policy_no = f"XR{n:02d}"
        holder = rng.choice(persons)
        insured = rng.choice([holder, *persons, None])
        usual = {p: {"name": f"{p}-name-{rng.randrange(2)}", "birth_date": f"{p}-birth-{rng.randrange(2)}",
                     "gender": f"{p}-gender-{rng.randrange(2)}"} for p in {holder, insured} if p is not None}
        mobile = rng.choice(mobiles)
        channel, branch = rng.choice(["AGENCY", "BANCASSURANCE", "TELESALES"]), rng.choice(["861100", "864403"])
        at = SCENARIO_T0 + rng.choice([0, 0, 0, 400, 900]) * 86_400 + rng.randrange(spread_days * 86_400)
        events = []
        for k in range(rng.randint(1, 5)):
            at += rng.choice([-2 * 86_400, 0, 600, 86_400, 5 * 86_400, 20 * 86_400, 45 * 86_400])
            if rng.random() < 0.2:
                mobile = rng.choice(mobiles)
            parties = [("policyholder", holder)] + ([("insureds[0]", insured)] if insured is not None else [])
            sightings = {}
            for label, party in parties:
                role = "policyholder" if label == "policyholder" else "insured"
                if party in sightings:
                    sightings[party] = Sighting(party, "1101**********0000", (*sightings[party].roles, role),
                                                sightings[party].attributes)
                else:
                    sightings[party] = Sighting(party, "1101**********0000", (role,),
                                                _attributes(rng, party, usual[party]))
            events.append(Observation(
                event_id=f"{policy_no}-p{k:02d}", policy_no=policy_no, channel=channel, branch_code=branch,
                at=datetime.fromtimestamp(at, tz=UTC), actor=rng.choice(ACTORS),
                sightings=tuple(sightings.values()),
                phones=(PhoneCheck(mobile, "136****0000", holder, ("policyholder",)),),
                use=MobileUse(mobile, "136****0000", holder) if rng.random() < 0.9 else None,
            ))
        policies[policy_no] = events
    return policies


T = TypeVar("T")


def interleave(policies: dict[str, list[T]], rng: random.Random) -> list[T]:
    """Each policy's items (observations, events) in order, policies interleaved at random (as
    partitions are)."""
    queues = {policy: list(events) for policy, events in policies.items()}
    out = []
    while queues:
        policy = rng.choice(sorted(queues))
        out.append(queues[policy].pop(0))
        if not queues[policy]:
            del queues[policy]
    return out


def in_order(policies: dict[str, list[Observation]]) -> list[Observation]:
    """Policy after policy: the reference order."""
    return [obs for events in policies.values() for obs in events]


def split(observations: Sequence[Observation], sizes: Sequence[int]) -> list[list[Observation]]:
    """Batches of the given sizes, the last size repeated until the observations run out."""
    batches, start, turn = [], 0, 0
    while start < len(observations):
        size = max(1, sizes[min(turn, len(sizes) - 1)])
        batches.append(list(observations[start:start + size]))
        start, turn = start + size, turn + 1
    return batches


def run_batches(store: CrossStore, batches: Sequence[Sequence[Observation]], *,
                roster: dict[str, RosterEntry] | None = None) -> list[dict[str, Any]]:
    """The cross-policy alerts the batches raise one after another, as comparable JSON, sorted."""
    runner = CrossPolicyRunner(CrossPolicyStage.default(DEV_SECRET), store)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(store.load_roster(dict(SCENARIO_STAFF if roster is None else roster)))
        now = datetime(2030, 1, 1, tzinfo=UTC)
        alerts = []
        for n, batch in enumerate(batches):
            alerts += loop.run_until_complete(runner.run(batch, now + timedelta(seconds=n)))
        loop.run_until_complete(runner.close())
    finally:
        loop.close()
    return sorted((comparable(alert.model_dump(mode="json")) for alert in alerts), key=lambda a: a["alert_id"])


FARM = "13612340000"
"""A mobile many policyholders are given (a salesperson's, a placeholder)."""


def farm_holder(n: int, mobile: str = FARM) -> dict[str, Any]:
    """The n-th of many unrelated policyholders (distinct ID numbers), all on ``mobile``."""
    birth = f"19{70 + n % 25}-0{1 + n % 9}-1{n % 10}"
    return dict(customer("客户", "F", birth, region="500103", serial=10 + n % 90), mobile=mobile,
                id_no=resident_id(f"5001{n // 90:02d}", birth, "F", 10 + n % 90))


def observations(events: list[Event], stage: CrossPolicyStage) -> list[Observation]:
    """What the stage observes of judged policy events, in their order."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    ruleset = RuleSet.default()
    verdicts = [process_record(encode(doc), Origin(topic="policy-events"), now=now, ruleset=ruleset, stream=stream)
                for stream, doc in events]
    return [obs for obs in map(stage.observe, verdicts) if obs is not None]
