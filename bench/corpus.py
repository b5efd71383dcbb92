"""A deterministic book of realistic policy lifecycles for benchmarks and the output-stability test.

Every policy is submitted, confirmed, approved, issued and return-visited; some are then
edited after the lock point, by a clerk on their own (unauthorized), after an approved
customer endorsement (covered), or after a rejected one. Defects are injected at rates
close to the industry's (a wrong check digit, a placeholder name, a vague address, a postal
code of another province, a missing phone) and a few records are poison (not JSON, wrong
types). Names, regions, postal codes and phone prefixes are real Chinese forms; every
person is fictional.

The same ``seed`` and size always give the same bytes (``random.Random`` is stable across
Python versions for the calls used here), which is what lets a test pin the replay outputs.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.core.origin import Stream
from streams.demo.scenario import resident_id

# (province, city, district, GB/T 2260 code, postal code, area code, streets)
REGIONS = (
    ("北京市", "北京市", "朝阳区", "110105", "100020", "010", ("望京西园三区", "建国路", "朝阳北路")),
    ("上海市", "上海市", "徐汇区", "310104", "200030", "021", ("漕溪北路", "天钥桥路", "虹桥路")),
    ("浙江省", "杭州市", "西湖区", "330106", "310013", "0571", ("文三路", "天目山路", "教工路")),
    ("广东省", "深圳市", "南山区", "440305", "518052", "0755", ("科技南十二路", "南海大道", "桃园路")),
    ("四川省", "成都市", "武侯区", "510107", "610041", "028", ("人民南路四段", "武侯祠大街", "科华北路")),
    ("湖北省", "武汉市", "武昌区", "420106", "430061", "027", ("中南路", "武珞路", "徐东大街")),
    ("江苏省", "南京市", "玄武区", "320102", "210018", "025", ("中山路", "珠江路", "北京东路")),
    ("山东省", "青岛市", "市南区", "370202", "266001", "0532", ("香港中路", "东海西路", "山东路")),
    ("陕西省", "西安市", "雁塔区", "610113", "710061", "029", ("小寨东路", "长安南路", "雁塔路")),
    ("湖南省", "长沙市", "岳麓区", "430104", "410013", "0731", ("麓山南路", "枫林一路", "金星中路")),
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥建平志强晓东海燕雨桐子涵浩然欣怡梓轩一诺思远佳琪"
MOBILE_PREFIXES = ("139", "138", "137", "136", "135", "150", "151", "152", "158", "159", "182", "183", "187",
                   "188", "130", "131", "132", "155", "156", "185", "186", "133", "153", "180", "181", "189",
                   "177", "199")
CHANNELS = (("AGENCY", 0.45), ("BANCASSURANCE", 0.25), ("TELESALES", 0.1), ("ONLINE", 0.1), ("BROKER", 0.1))
START = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CorpusEvent:
    stream: Stream
    key: bytes
    value: bytes
    at: datetime


class _Book:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def name(self) -> str:
        given = "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2, 2))))
        return self.rng.choice(SURNAMES) + given

    def mobile(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def person(self, region: tuple[Any, ...], birth_year: int, gender: str | None = None) -> dict[str, Any]:
        province, city, district, code, postal, area, streets = region
        gender = gender or self.rng.choice("MF")
        birth = f"{birth_year}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"
        sequence = f"{self.rng.randrange(50):02d}{self.rng.choice('13579' if gender == 'M' else '02468')}"
        detail = f"{self.rng.choice(streets)}{self.rng.randint(1, 499)}号{self.rng.randint(1, 30)}幢" \
                 f"{self.rng.randint(1, 6)}单元{self.rng.randint(1, 33)}{self.rng.randint(1, 4):02d}室"
        valid_to = "LONG_TERM" if birth_year < 1975 else f"{self.rng.randint(2027, 2045)}-0{self.rng.randint(1, 9)}-15"
        return {
            "name": self.name(), "gender": gender, "birth_date": birth, "id_type": "RESIDENT_ID",
            "id_no": resident_id(code, birth, sequence), "id_valid_to": valid_to,
            "mobile": self.mobile(), "landline": f"{area}-{self.rng.randint(2, 8)}{self.rng.randrange(10**6):06d}"
            if self.chance(0.4) else None,
            "address": {"province": province, "city": city, "district": district, "detail": detail},
            "postal_code": postal,
        }


def _channel(book: _Book) -> str:
    roll, total = book.rng.random(), 0.0
    for channel, weight in CHANNELS:
        total += weight
        if roll < total:
            return channel
    return CHANNELS[-1][0]


def _defects(book: _Book, holder: dict[str, Any], channel: str) -> None:
    """Injected in place at rates that make about 4 % of policies untrue (6 % in the bank channel)."""
    boost = 1.5 if channel == "BANCASSURANCE" else 1.0
    if book.chance(0.01 * boost):
        holder["name"] = "某某"
    if book.chance(0.012 * boost):
        holder["address"]["detail"] = "不详"
    if book.chance(0.01 * boost):
        holder["postal_code"] = "830000"  # 新疆: another province
    if book.chance(0.008 * boost):
        holder["mobile"] = holder["landline"] = None
    if book.chance(0.005 * boost):
        holder["mobile"] = "13800000000"


def _policy_events(book: _Book, number: int, start: datetime) -> list[tuple[Stream, dict[str, Any], datetime]]:
    region = book.rng.choice(REGIONS)
    channel = _channel(book)
    policy_no = f"P{region[3][:4]}{25 + number % 2}{number:08d}"
    holder = book.person(region, book.rng.randint(1955, 2000))
    _defects(book, holder, channel)
    insureds = [dict(holder, relation_to_policyholder="SELF")]
    if book.chance(0.35):
        child = book.person(region, book.rng.randint(2008, 2020))
        child.update(mobile=None, landline=None, address=dict(holder["address"]) if holder["address"] else None)
        insureds.append(dict(child, relation_to_policyholder="CHILD"))
    beneficiaries: list[dict[str, Any]] = []
    designation = "LEGAL_HEIRS"
    if book.chance(0.3):
        designation = "NAMED"
        spouse = book.person(region, int(holder["birth_date"][:4]) + book.rng.randint(-3, 3),
                             "F" if holder["gender"] == "M" else "M")
        beneficiaries.append(dict(spouse, order=1, share_pct=100.0, relation_to_insured="SPOUSE"))
    bank = channel == "BANCASSURANCE"
    seller = ({"user_id": f"T{book.rng.randrange(1000):04d}", "role": "BANK_TELLER", "supervisor_id": None,
               "department": None} if bank else
              {"user_id": f"A{book.rng.randrange(2000):04d}", "role": "SALES_AGENT",
               "supervisor_id": f"S{book.rng.randrange(100):04d}", "department": f"{region[1]}{region[2]}营销服务部"})
    clerk = {"user_id": f"OP{book.rng.randrange(300):04d}", "role": "OPERATIONS_CLERK", "supervisor_id": "OP0100",
             "department": f"{region[1]}分公司运营部"}
    system = {"user_id": "SYS", "role": "SYSTEM", "supervisor_id": None, "department": None}
    top = {"policy_no": policy_no, "channel": channel, "branch_code": f"86{region[3][:4]}00",
           "agent_code": seller["user_id"], "intermediary_code": f"BK{region[3]}{number % 97:03d}" if bank else None}
    events: list[tuple[Stream, dict[str, Any], datetime]] = []
    seq = 0

    def policy(event_type: str, at: datetime, actor: dict[str, Any], **extra: Any) -> None:
        nonlocal seq
        seq += 1
        document = {"event_id": f"{policy_no}-{seq:02d}", "event_type": event_type, "occurred_at": at.isoformat(),
                    **top, "source_seq": seq, "actor": actor, "policyholder": holder, "insureds": insureds,
                    "beneficiaries": beneficiaries, "beneficiary_designation": designation, **extra}
        events.append((Stream.POLICY, json.loads(json.dumps(document)), at))

    def endorsement(event_type: str, at: datetime, endorsement_no: str, new_mobile: str, actor: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        document = {"event_id": f"{policy_no}-{seq:02d}", "event_type": event_type, "occurred_at": at.isoformat(),
                    **{k: top[k] for k in ("policy_no", "channel", "branch_code")}, "actor": actor,
                    "endorsement_no": endorsement_no, "endorsement_type": "CONTACT_CHANGE",
                    "application_channel": "MOBILE_APP",
                    "authorization": {"applicant": "POLICYHOLDER", "customer_signature": "E_SIGN",
                                      "id_verification": "FACE_LIVENESS", "otp_verified_to": "OLD_MOBILE",
                                      "power_of_attorney_ref": None},
                    "changes": [{"party": "policyholder", "field": "mobile", "old": holder["mobile"],
                                 "new": new_mobile}]}
        events.append((Stream.ENDORSEMENT, document, at))

    wrong_id = book.chance(0.01 * (1.5 if bank else 1.0))
    right_id = holder["id_no"]
    if wrong_id:  # caught at submission, corrected by an amendment
        holder["id_no"] = right_id[:17] + ("0" if right_id[17] != "0" else "1")
    policy("APPLICATION_SUBMITTED", start, seller)
    if wrong_id:
        holder["id_no"] = right_id
        insureds[0]["id_no"] = right_id
        policy("APPLICATION_AMENDED", start + timedelta(minutes=12), seller)
    policy("APPLICATION_CONFIRMED", start + timedelta(minutes=25), seller)
    policy("UNDERWRITING_APPROVED", start + timedelta(hours=2), {"user_id": f"UW{number % 40:03d}",
           "role": "UNDERWRITER", "supervisor_id": None, "department": None})
    policy("POLICY_ISSUED", start + timedelta(hours=20), system)
    visit_at = start + timedelta(days=3)
    policy("RETURN_VISIT_COMPLETED", visit_at, {"user_id": f"CS{number % 60:03d}", "role": "CUSTOMER_SERVICE",
           "supervisor_id": None, "department": None},
           return_visit={"status": "COMPLETED", "phone_called": holder["mobile"], "at": visit_at.isoformat()})
    roll = book.rng.random()
    edit_at = start + timedelta(days=5, minutes=book.rng.randint(0, 600))
    if roll < 0.06:  # a clerk edits the phone on their own: unauthorized
        holder["mobile"] = insureds[0]["mobile"] = book.mobile()
        policy("CUSTOMER_INFO_UPDATED", edit_at, clerk)
    elif roll < 0.16:  # the customer asks through an endorsement; the clerk applies it, approved (8 %) or not (2 %)
        decision = "ENDORSEMENT_APPROVED" if roll < 0.14 else "ENDORSEMENT_REJECTED"
        new = book.mobile()
        number_e = f"E{policy_no[1:]}"
        endorsement("ENDORSEMENT_REQUESTED", edit_at - timedelta(hours=2), number_e, new, {
            "user_id": "C-" + policy_no, "role": "CUSTOMER", "supervisor_id": None, "department": None})
        endorsement(decision, edit_at - timedelta(minutes=30), number_e, new, clerk)
        holder["mobile"] = insureds[0]["mobile"] = new
        policy("CUSTOMER_INFO_UPDATED", edit_at, clerk)
    return events


def _poison(book: _Book, number: int, at: datetime) -> tuple[Stream, bytes]:
    kind = book.rng.randrange(3)
    if kind == 0:
        return Stream.POLICY, b'{"event_id": "broken-' + str(number).encode() + b'", "policyholder": {'
    if kind == 1:
        return Stream.POLICY, b"\xff\xfe not utf-8 \x80"
    document = {"event_id": f"typed-{number}", "event_type": "POLICY_ISSUED", "occurred_at": at.isoformat(),
                "policy_no": f"PX{number:08d}", "channel": "AGENCY", "policyholder": "not an object"}
    return Stream.POLICY, json.dumps(document).encode()


def generate(events: int, *, seed: int = 20251103, spacing_s: float = 40.0) -> list[CorpusEvent]:
    """At least ``events`` records (whole lifecycles, about 6 per policy), in event-time order
    (a CDC feed's order)."""
    book = _Book(seed)
    out: list[tuple[datetime, int, Stream, bytes, bytes]] = []
    number = 0
    order = 0
    while len(out) < events:
        start = START + timedelta(seconds=number * spacing_s)
        for stream, document, at in _policy_events(book, number, start):
            value = json.dumps(document, ensure_ascii=False).encode("utf-8")
            out.append((at, order, stream, document["policy_no"].encode(), value))
            order += 1
        if book.chance(0.005):
            stream, value = _poison(book, number, start)
            out.append((start, order, stream, f"PX{number:08d}".encode(), value))
            order += 1
        number += 1
    out.sort(key=lambda item: (item[0], item[1]))
    return [CorpusEvent(stream, key, value, at) for at, _, stream, key, value in out]


def jsonl(corpus: list[CorpusEvent]) -> bytes:
    return b"".join(event.value + b"\n" for event in corpus)
