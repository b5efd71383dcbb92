"""A realistic feed from a policy-admin system, every alert it must raise planted and named.

Ten years of event time: individual and group policies sold through agents and banks, a go-live
backfill of years-old issued policies, idle gaps of years, customers' own contact changes
(some returned and resubmitted, some approved with a sparse authorization), 15-digit ID cards
upgraded to 18 digits, systems that re-send the same phone formatted their own way, a few
mistyped years, bank policies whose data errors are corrected in time or never — and planted
among them the violations a compliance officer must see: unauthorized contact edits (some
corrected afterwards by a clerk, which is no second fine), return visits completed on a number
an unauthorized edit put there, and bank holds left open past their deadline.

The generator knows what it planted: ``Feed.planted`` is every (alert type, deciding event)
that must come out and nothing else may.
"""
from __future__ import annotations

import random
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from streams.core.origin import Stream
from tests.oracle import resident_id, wrong_check

Event = tuple[Stream, dict[str, Any]]
CST = timezone(timedelta(hours=8))
START = datetime(2016, 1, 4, 9, 0, tzinfo=CST)
END = datetime(2026, 6, 30, 18, 0, tzinfo=CST)

UNAUTHORIZED = "UNAUTHORIZED_CONTACT_EDIT"
INTERCEPTION = "RETURN_VISIT_INTERCEPTION"
OVERDUE = "INTERMEDIARY_CORRECTION_OVERDUE"

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红"
PREFIXES = ("138", "139", "137", "135", "136", "150", "151", "186", "187", "188", "189", "133", "177")
REGIONS = ("110105", "310104", "330106", "440305", "320102", "510107", "420106", "210102")
CITIES = {"110105": ("北京市", "北京市", "朝阳区", "100020"), "310104": ("上海市", "上海市", "徐汇区", "200030"),
          "330106": ("浙江省", "杭州市", "西湖区", "310013"), "440305": ("广东省", "深圳市", "南山区", "518052"),
          "320102": ("江苏省", "南京市", "玄武区", "210018"), "510107": ("四川省", "成都市", "武侯区", "610041"),
          "420106": ("湖北省", "武汉市", "武昌区", "430061"), "210102": ("辽宁省", "沈阳市", "和平区", "110001")}

AGENT = {"user_id": "A0107", "role": "SALES_AGENT", "supervisor_id": "S0001", "department": "个险部"}
TELLER = {"user_id": "T0101", "role": "BANK_TELLER", "supervisor_id": None, "department": None}
CLERK = {"user_id": "OP0002", "role": "OPERATIONS_CLERK", "supervisor_id": "OP0100", "department": "运营部"}
SERVICE = {"user_id": "CS0003", "role": "CUSTOMER_SERVICE", "supervisor_id": "CS0100", "department": "客服部"}
CUSTOMER = {"user_id": "C-SELF", "role": "CUSTOMER", "supervisor_id": None, "department": None}
SYSTEM = {"user_id": "SYS", "role": "SYSTEM", "supervisor_id": None, "department": None}


def formatted(mobile: str, rng: random.Random) -> str:
    """A mobile as one of the source systems writes it."""
    return rng.choice([mobile, f"+86 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}", f"0086{mobile}",
                       f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}", f"(+86){mobile}"])


def landline_formatted(area: str, number: str, rng: random.Random) -> str:
    return rng.choice([f"{area}-{number}", f"{area}{number}", f"{area} {number}"])


@dataclass
class Feed:
    events: list[Event] = field(default_factory=list)
    planted: set[tuple[str, str]] = field(default_factory=set)
    """(alert type, the event that decides it) of every alert the feed must raise."""
    typos: set[str] = field(default_factory=set)
    """Event ids whose date was mistyped by years."""
    happened: dict[str, datetime] = field(default_factory=dict)
    """When each event really happened (a mistyped one is published then, whatever it says)."""

    def in_time_order(self) -> list[Event]:
        """As the source system publishes: in the order things happened, whatever a record says."""
        return sorted(self.events, key=lambda item: (self.happened[item[1]["event_id"]], item[1]["event_id"]))


class Life:
    """One policy's events as its source systems publish them."""

    def __init__(self, feed: Feed, rng: random.Random, policy_no: str, at: datetime, *, group: int = 0,
                 bank: bool = False, legacy_ids: bool = False) -> None:
        self.feed, self.rng, self.policy_no, self.t = feed, rng, policy_no, at
        self.n = 0
        self.e = 0
        self.bank = bank
        channel = "GROUP" if group else ("BANCASSURANCE" if bank else rng.choice(["AGENCY", "ONLINE", "TELESALES"]))
        self.top = {"channel": channel, "branch_code": "86110000", "agent_code": "A0107",
                    "intermediary_code": "BK532801007" if bank else None}
        self.seller = TELLER if bank else AGENT
        self.holder = self.person(legacy=legacy_ids)
        self.insureds = [dict(self.person(), relation_to_policyholder="OTHER") for _ in range(group)] if group else [
            dict(deepcopy(self.holder), relation_to_policyholder="SELF")]
        self.authorized = self.holder["mobile"]
        self.upgrade: str | None = None

    def person(self, *, legacy: bool = False) -> dict[str, Any]:
        rng = self.rng
        region = rng.choice(REGIONS)
        gender = rng.choice("MF")
        birth = f"{rng.randint(1950, 1998)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        id_no = resident_id(region, birth, gender, rng.randint(10, 99))
        province, city, district, postal = CITIES[region]
        mobile = rng.choice(PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
        return {"name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN), "gender": gender,
                "birth_date": birth, "id_type": "RESIDENT_ID", "id_no": id_no[:6] + id_no[8:17] if legacy else id_no,
                "id_valid_to": "LONG_TERM", "mobile": mobile, "landline": None, "postal_code": postal,
                "address": {"province": province, "city": city, "district": district,
                            "detail": f"{rng.choice(GIVEN)}{rng.choice(GIVEN)}路{rng.randint(1, 999)}号"}}

    def wait(self, minutes: float) -> None:
        self.t += timedelta(minutes=minutes)

    def policy(self, event_type: str, actor: dict[str, Any], *, typo_years: int = 0, **top: Any) -> str:
        self.n += 1
        event_id = f"{self.policy_no}-p{self.n:03d}"
        moment = self.t.replace(year=self.t.year + typo_years, day=min(self.t.day, 28)) if typo_years else self.t
        holder = deepcopy(self.holder)
        insureds = [dict(deepcopy(self.holder), relation_to_policyholder="SELF")] if self.top["channel"] != "GROUP" \
            else deepcopy(self.insureds)
        document = {"event_id": event_id, "event_type": event_type, "occurred_at": moment.isoformat(),
                    "policy_no": self.policy_no, "source_seq": self.n, **self.top, "actor": actor,
                    "policyholder": holder, "insureds": insureds, "beneficiaries": [],
                    "beneficiary_designation": "LEGAL_HEIRS", **top}
        self.feed.events.append((Stream.POLICY, document))
        self.feed.happened[event_id] = self.t
        if typo_years:
            self.feed.typos.add(event_id)
        return event_id

    def endorse(self, event_type: str, number: str, changes: list[dict[str, Any]], *, applicant: str,
                sparse: bool = False) -> str:
        self.e += 1
        event_id = f"{self.policy_no}-e{self.e:03d}"
        authorization: dict[str, Any] = {"applicant": applicant}
        if not sparse:
            authorization |= {"customer_signature": "E_SIGN", "id_verification": "FACE_LIVENESS",
                              "otp_verified_to": "OLD_MOBILE", "power_of_attorney_ref": None}
        self.feed.events.append((Stream.ENDORSEMENT, {
            "event_id": event_id, "event_type": event_type, "occurred_at": self.t.isoformat(),
            "policy_no": self.policy_no, "channel": self.top["channel"], "branch_code": "86110000",
            "actor": CUSTOMER if event_type == "ENDORSEMENT_REQUESTED" else CLERK, "endorsement_no": number,
            "endorsement_type": "CONTACT_CHANGE", "application_channel": "MOBILE_APP",
            "authorization": authorization, "changes": changes}))
        self.feed.happened[event_id] = self.t
        return event_id

    # -- what happens to a policy -----------------------------------------------------------

    def sell(self, *, bad_id: bool, corrected_after_days: float | None) -> None:
        rng = self.rng
        if bad_id:  # the teller mistypes the ID check digit: the bank's commission is held
            right = self.holder["id_no"]
            self.holder["id_no"] = wrong_check(right) if len(right) == 18 else right[:14] + "A"
        opened = self.policy("APPLICATION_SUBMITTED", self.seller)
        self.wait(rng.uniform(5, 600))
        if rng.random() < 0.3:  # the customer gives another number before confirming: allowed
            self.holder["mobile"] = self.authorized = rng.choice(PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
            self.policy("APPLICATION_AMENDED", self.seller)
            self.wait(rng.uniform(5, 120))
        if bad_id and corrected_after_days is not None and corrected_after_days < 0.01:
            self.holder["id_no"] = right
            bad_id = False
        self.policy("APPLICATION_CONFIRMED", self.seller)
        self.wait(rng.uniform(60, 3 * 1440))
        self.policy("POLICY_ISSUED", SYSTEM)
        if bad_id:
            if corrected_after_days is None:
                self.feed.planted.add((OVERDUE, opened))
            else:
                self.wait(corrected_after_days * 1440)
                self.holder["id_no"] = right
                self.policy("CUSTOMER_INFO_UPDATED", self.seller)
        self.wait(rng.uniform(3, 15) * 1440)
        if self.top["channel"] != "GROUP":
            self.visit(self.authorized)

    def backfilled(self) -> None:
        """A go-live snapshot: the policy's first event here is its years-old issue."""
        self.policy("POLICY_ISSUED", SYSTEM)

    def visit(self, called: str) -> str:
        return self.policy("RETURN_VISIT_COMPLETED", SERVICE, return_visit={
            "status": "COMPLETED", "phone_called": formatted(called, self.rng), "at": self.t.isoformat()})

    def authorized_change(self) -> None:
        rng = self.rng
        number = f"E{self.policy_no[-6:]}{self.e + 1:03d}"
        if self.top["channel"] == "GROUP":
            index = rng.randrange(len(self.insureds))
            party, applicant, person = f"insureds[{index}]", "INSURED", self.insureds[index]
        else:
            party, applicant, person = "policyholder", "POLICYHOLDER", self.holder
        new = rng.choice(PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
        changes = [{"party": party, "field": "mobile", "old": person["mobile"], "new": formatted(new, rng)}]
        self.endorse("ENDORSEMENT_REQUESTED", number, changes, applicant=applicant)
        if rng.random() < 0.3:  # returned for a missing document, then resubmitted under its number
            self.wait(rng.uniform(60, 2 * 1440))
            self.endorse("ENDORSEMENT_REJECTED", number, changes, applicant=applicant, sparse=True)
            self.wait(rng.uniform(60, 5 * 1440))
            self.endorse("ENDORSEMENT_REQUESTED", number, changes, applicant=applicant)
        self.wait(rng.uniform(10, 600))
        self.endorse("ENDORSEMENT_APPROVED", number, changes, applicant=applicant, sparse=rng.random() < 0.4)
        self.wait(rng.uniform(0.5, 30))
        person["mobile"] = formatted(new, rng)
        if party == "policyholder":
            self.authorized = new
        self.policy("CUSTOMER_INFO_UPDATED", CLERK)

    def unauthorized_edit(self, *, then_visit: bool = False, corrected: bool = False) -> None:
        rng = self.rng
        editor = rng.choice([AGENT, CLERK]) if not self.bank else rng.choice([TELLER, CLERK])
        if self.top["channel"] == "GROUP":
            person = self.insureds[rng.randrange(len(self.insureds))]
            before = person["mobile"]
            person["mobile"] = rng.choice(PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
            self.feed.planted.add((UNAUTHORIZED, self.policy("CUSTOMER_INFO_UPDATED", editor)))
            if corrected:
                self.wait(rng.uniform(1, 20) * 1440)
                person["mobile"] = before
                self.policy("CUSTOMER_INFO_UPDATED", CLERK)
            return
        switched = rng.choice(PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
        self.holder["mobile"] = formatted(switched, rng)
        self.feed.planted.add((UNAUTHORIZED, self.policy("CUSTOMER_INFO_UPDATED", editor)))
        if then_visit:
            self.wait(rng.uniform(1, 4) * 1440)
            self.feed.planted.add((INTERCEPTION, self.visit(switched)))
        if corrected or then_visit:
            self.wait(rng.uniform(1, 20) * 1440)
            self.holder["mobile"] = formatted(self.authorized, rng)  # a clerk restores what the customer confirmed
            self.policy("CUSTOMER_INFO_UPDATED", CLERK)
        else:
            self.holder["mobile"] = formatted(self.authorized, rng)
            self.wait(rng.uniform(30, 90) * 1440)
            self.policy("CUSTOMER_INFO_UPDATED", CLERK)  # restored months later: still no second fine

    def reformat(self, *, typo_years: int = 0) -> None:
        """Another system re-sends the policy with the phones its own way: no edit."""
        self.holder["mobile"] = formatted(self.authorized, self.rng)
        self.policy("CUSTOMER_INFO_UPDATED", SYSTEM, typo_years=typo_years)

    def id_upgrade(self) -> None:
        if len(self.holder["id_no"]) != 15 or not self.holder["id_no"].isdigit():
            return
        region, rest = self.holder["id_no"][:6], self.holder["id_no"][6:]
        body = region + "19" + rest
        from tests.oracle import check_char

        self.holder["id_no"] = body + check_char(body)
        self.policy("CUSTOMER_INFO_UPDATED", CLERK)

    def terminate(self) -> None:
        self.policy("POLICY_TERMINATED", SYSTEM)


def generate(seed: int, policies: int = 120, *, start: datetime = START, end: datetime = END) -> Feed:
    """``policies`` lifecycles over ``start``–``end`` (2016–2026 unless told; seeded), with the
    alerts they must raise."""
    rng = random.Random(seed)
    feed = Feed()
    span = (end - start).total_seconds()
    for index in range(policies):
        policy_no = f"P{seed % 100:02d}{index:06d}"
        kind = rng.random()
        at = start + timedelta(seconds=rng.uniform(0, span * 0.75))
        life = Life(feed, rng, policy_no, at, group=rng.randint(20, 120) if kind < 0.08 else 0,
                    bank=0.08 <= kind < 0.35, legacy_ids=rng.random() < 0.15)
        if kind > 0.9:
            life.backfilled()
        else:
            bad = life.bank and rng.random() < 0.4
            late = at > end - timedelta(days=120)
            corrected = None if (bad and rng.random() < 0.3 and not late) else rng.choice([0.0, 3.0, 12.0])
            life.sell(bad_id=bad, corrected_after_days=corrected)
        for _ in range(rng.randint(0, 4)):
            life.wait(rng.uniform(30, 900) * 1440)  # idle for a month to years
            if life.t > end:
                break
            roll = rng.random()
            if roll < 0.35:
                life.authorized_change()
            elif roll < 0.5:
                life.unauthorized_edit(corrected=rng.random() < 0.5)
            elif roll < 0.58 and life.top["channel"] != "GROUP":
                life.unauthorized_edit(then_visit=True)
            elif roll < 0.7:
                life.id_upgrade()
            elif roll < 0.78:
                life.reformat(typo_years=rng.choice([10, 20, -5]))
            else:
                life.reformat()
        if rng.random() < 0.1 and life.t < end - timedelta(days=100):
            life.wait(rng.uniform(1, 100) * 1440)
            life.terminate()
    return feed
