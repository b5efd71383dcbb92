"""A generated book of policy snapshots with defects injected at known rates per channel.

For ``make audit-demo`` and the audit's tests: every policy is one ``POLICY_ISSUED`` snapshot,
clean unless chosen as defective, and then broken in exactly one way that a rule reports as an
ERROR. The generator returns which policies it broke, so a test can hold the audit's report
and worklists to the truth. Everything is fictional; resident IDs carry real region codes and
correct GB 11643 check characters, postal codes match their province, mobiles their prefixes.
"""
from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from streams.audit.csv_format import COLUMNS, row_of
from streams.demo.scenario import resident_id

CST = timezone(timedelta(hours=8))

DEFECT_RATES = {
    "BANCASSURANCE": 0.0643, "AGENCY": 0.035, "GROUP": 0.03, "ONLINE": 0.025, "TELESALES": 0.045, "BROKER": 0.05,
}
"""Defective share per channel: the 2014 inspection found 4.02 % overall and 6.43 % in the bank channel."""
CHANNEL_SHARE = {"AGENCY": 0.45, "BANCASSURANCE": 0.25, "GROUP": 0.05, "ONLINE": 0.1, "TELESALES": 0.1, "BROKER": 0.05}

PLACES = [  # region code, province, city, district, postal code, branch
    ("330106", "浙江省", "杭州市", "西湖区", "310013", "86330100"),
    ("330102", "浙江省", "杭州市", "上城区", "310002", "86330100"),
    ("110105", "北京市", "北京市", "朝阳区", "100020", "86110000"),
    ("110108", "北京市", "北京市", "海淀区", "100080", "86110000"),
    ("310104", "上海市", "上海市", "徐汇区", "200030", "86310000"),
    ("440305", "广东省", "深圳市", "南山区", "518057", "86440300"),
    ("440106", "广东省", "广州市", "天河区", "510620", "86440100"),
    ("420111", "湖北省", "武汉市", "洪山区", "430074", "86420100"),
    ("510107", "四川省", "成都市", "武侯区", "610041", "86510100"),
    ("532801", "云南省", "西双版纳傣族自治州", "景洪市", "666100", "86532800"),
    ("650102", "新疆维吾尔自治区", "乌鲁木齐市", "天山区", "830002", "86650100"),
    ("320102", "江苏省", "南京市", "玄武区", "210018", "86320100"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉兰晓雨桐子涵梓萱浩然宇轩欣怡思远博文嘉怡俊杰"
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158",
                   "159", "177", "180", "181", "182", "185", "186", "187", "188", "189", "198", "199"]
STREETS = ["文三路", "解放路", "人民路", "中山路", "建设路", "和平路", "胜利路", "长江路", "滨江路", "新华路"]
DEFECTS = {
    "ID_CHECKSUM": "a mistyped last character of the policyholder's ID",
    "MOBILE_FORMAT": "a ten-digit policyholder mobile",
    "POSTAL_CODE_FORMAT": "a five-digit postal code",
    "ADDRESS_INCOMPLETE": "no district in the policyholder's address",
    "PHONE_MISSING": "neither mobile nor landline",
    "REQUIRED_FIELD_MISSING": "the insured's name left blank",
    "ID_BIRTH_DATE_MISMATCH": "a birth date one day off the ID",
}


@dataclass
class Book:
    documents: list[dict[str, Any]]
    defective: dict[str, str]
    """policy_no → the rule its injected defect breaks"""

    def by_channel(self) -> dict[str, tuple[int, int]]:
        """channel → (policies, defective)"""
        totals: dict[str, list[int]] = {}
        for document in self.documents:
            entry = totals.setdefault(document["channel"], [0, 0])
            entry[0] += 1
            entry[1] += document["policy_no"] in self.defective
        return {channel: (n, bad) for channel, (n, bad) in totals.items()}


def _person(rng: random.Random, place: tuple[str, ...], serial: int, gender: str, born: date) -> dict[str, Any]:
    region, province, city, district, postal, _ = place
    sequence = f"{serial:02d}{(rng.randrange(0, 5) * 2 + (1 if gender == 'M' else 0))}"
    return {
        "name": rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
        "gender": gender,
        "birth_date": born.isoformat(),
        "id_type": "RESIDENT_ID",
        "id_no": resident_id(region, born.isoformat(), sequence),
        "id_valid_to": "LONG_TERM",
        "mobile": rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}",
        "landline": None,
        "address": {"province": province, "city": city, "district": district,
                    "detail": f"{rng.choice(STREETS)}{rng.randrange(1, 400)}号{rng.randrange(1, 30)}幢{rng.randrange(101, 2400)}室"},
        "postal_code": postal,
    }


def _break(document: dict[str, Any], defect: str) -> None:
    holder = document["policyholder"]
    insured = document["insureds"][0]
    shared = insured is not holder and insured.get("relation_to_policyholder") == "SELF"
    targets = [holder, insured] if shared else [holder]
    if defect == "ID_CHECKSUM":
        last = holder["id_no"][-1]
        for person in targets:
            person["id_no"] = person["id_no"][:-1] + ("0" if last != "0" else "1")
    elif defect == "MOBILE_FORMAT":
        for person in targets:
            person["mobile"] = person["mobile"][:10]
    elif defect == "POSTAL_CODE_FORMAT":
        for person in targets:
            person["postal_code"] = person["postal_code"][:5]
    elif defect == "ADDRESS_INCOMPLETE":
        for person in targets:
            person["address"] = dict(person["address"], district=None)
    elif defect == "PHONE_MISSING":
        for person in targets:
            person["mobile"] = None
    elif defect == "REQUIRED_FIELD_MISSING":
        document["insureds"][-1]["name"] = None  # the child's (a policy with one insured gets another defect)
    elif defect == "ID_BIRTH_DATE_MISMATCH":
        born = date.fromisoformat(holder["birth_date"]) + timedelta(days=1)
        for person in targets:
            person["birth_date"] = born.isoformat()


def generate(policies: int, *, seed: int = 20251125) -> Book:
    """The whole book in memory (tests); :func:`stream` for books too large for that."""
    documents: list[dict[str, Any]] = []
    defective: dict[str, str] = {}
    for document, defect in stream(policies, seed=seed):
        documents.append(document)
        if defect is not None:
            defective[document["policy_no"]] = defect
    return Book(documents, defective)


def stream(policies: int, *, seed: int = 20251125) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Each policy's snapshot and the defect injected into it (None: clean), one at a time."""
    rng = random.Random(seed)
    channels = list(CHANNEL_SHARE)
    weights = [CHANNEL_SHARE[c] for c in channels]
    start = datetime(2019, 1, 1, 9, 0, tzinfo=CST)
    for number in range(policies):
        channel = rng.choices(channels, weights)[0]
        place = rng.choice(PLACES)
        gender = rng.choice("MF")
        # Birth date and sequence follow the policy number, so no two customers share an ID number
        # (up to 1.8 million policyholders): the book has no identity conflicts unless injected.
        born = date(1950, 1, 1) + timedelta(days=number % 18_250)
        holder = _person(rng, place, (number // 18_250) % 100, gender, born)
        insureds = [dict(holder, relation_to_policyholder="SELF")]
        if rng.random() < 0.25:
            child_born = date(2000, 1, 1) + timedelta(days=number % 3_650)
            child = _person(rng, place, (number // 3_650) % 100, rng.choice("MF"), child_born)
            child["mobile"] = None
            insureds.append(dict(child, relation_to_policyholder="CHILD"))
        at = start + timedelta(minutes=number * 7 + rng.randrange(0, 5))
        policy_no = f"P{place[5][:6]}{at:%y%m}{number:07d}"
        intermediary = f"BK{place[0]}{rng.randrange(1, 40):03d}" if channel == "BANCASSURANCE" else (
            f"BR{rng.randrange(1, 25):04d}" if channel == "BROKER" else None)
        agent = f"A{rng.randrange(1, 900):04d}"
        document = {
            "event_id": f"audit-{policy_no}", "event_type": "POLICY_ISSUED", "occurred_at": at.isoformat(),
            "policy_no": policy_no, "channel": channel, "branch_code": place[5], "agent_code": agent,
            "intermediary_code": intermediary,
            "actor": {"user_id": agent, "role": "BANK_TELLER" if channel == "BANCASSURANCE" else "SALES_AGENT",
                      "supervisor_id": None, "department": None},
            "policyholder": holder, "insureds": insureds, "beneficiaries": [], "beneficiary_designation": "LEGAL_HEIRS",
        }
        defect: str | None = None
        if rng.random() < DEFECT_RATES[channel]:
            defect = rng.choice(sorted(DEFECTS))
            if defect == "REQUIRED_FIELD_MISSING" and len(insureds) == 1:
                defect = "MOBILE_FORMAT"
            _break(document, defect)
        yield json.loads(json.dumps(document, ensure_ascii=False)), defect  # no shared sub-objects


def write_jsonl(book: Book, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for document in book.documents:
            handle.write(json.dumps(document, ensure_ascii=False) + "\n")
    return path


def write_csv(book: Book, path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for document in book.documents:
            writer.writerow(row_of(document))
    return path


def write_stream(policies: int, path: Path, *, seed: int = 20251125) -> dict[str, tuple[int, int]]:
    """Write a book of any size as JSON Lines without holding it; returns channel → (policies, defective)."""
    truth: dict[str, list[int]] = {}
    with path.open("w", encoding="utf-8") as handle:
        for document, defect in stream(policies, seed=seed):
            handle.write(json.dumps(document, ensure_ascii=False) + "\n")
            counts = truth.setdefault(document["channel"], [0, 0])
            counts[0] += 1
            counts[1] += defect is not None
    return {channel: (n, bad) for channel, (n, bad) in truth.items()}
