"""Builders for a policy's lifecycle: policy events and endorsements (保全) of one policy.

Shared by the pure state-machine tests and the live integration tests, so the same cases
are judged in both places.
"""
from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.core.detection import DetectionConfig, PolicyState
from streams.core.driver import TopologyDriver
from streams.core.origin import Stream
from streams.core.outputs import OutputKind
from tests.oracle import encode, person, resident_id

HOLDER = person(name="赵志强", gender="M", birth_date="1978-09-23", id_no=resident_id("110105", "1978-09-23", "M"),
                mobile="13661025273", landline=None, postal_code="100020",
                address={"province": "北京市", "city": "北京市", "district": "朝阳区", "detail": "望京西园三区312号楼6单元802"})
CLERK = {"user_id": "OP0002", "role": "OPERATIONS_CLERK", "supervisor_id": "OP0100", "department": "北京分公司运营部"}
AGENT = {"user_id": "A0107", "role": "SALES_AGENT", "supervisor_id": "S0001", "department": None}
TELLER = {"user_id": "T0101", "role": "BANK_TELLER", "supervisor_id": None, "department": None}
CUSTOMER = {"user_id": "C-ZZQ", "role": "CUSTOMER", "supervisor_id": None, "department": None}
SYSTEM = {"user_id": "SYS", "role": "SYSTEM", "supervisor_id": None, "department": None}
NEW_MOBILE = "13911862740"
T0 = datetime(2024, 7, 1, 15, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def policy(policy_no: str, n: int, event_type: str, minutes: float, *, actor: dict | None = None,
           holder: dict | None = None, **top: Any) -> tuple[Stream, dict[str, Any]]:
    parties = deepcopy(holder or HOLDER)
    event = {
        "event_id": f"{policy_no}-p{n:02d}", "event_type": event_type, "occurred_at": at(minutes),
        "policy_no": policy_no, "source_seq": n, "channel": "AGENCY", "branch_code": "86110000",
        "agent_code": "A0107", "intermediary_code": None, "actor": actor or AGENT,
        "policyholder": parties, "insureds": [dict(deepcopy(parties), relation_to_policyholder="SELF")],
        "beneficiaries": [], "beneficiary_designation": "LEGAL_HEIRS",
    }
    event.update(top)
    return Stream.POLICY, event


def endorsement(policy_no: str, n: int, event_type: str, minutes: float, *, number: str = "E1",
                field: str = "mobile", new: Any = NEW_MOBILE, applicant: str = "POLICYHOLDER",
                evidence: bool = True, actor: dict | None = None, kind: str = "CONTACT_CHANGE",
                party: str = "policyholder") -> tuple[Stream, dict[str, Any]]:
    authorization = {"applicant": applicant, "customer_signature": "E_SIGN" if evidence else None,
                     "id_verification": "FACE_LIVENESS" if evidence else None,
                     "otp_verified_to": "OLD_MOBILE" if evidence else None, "power_of_attorney_ref": None}
    return Stream.ENDORSEMENT, {
        "event_id": f"{policy_no}-e{n:02d}", "event_type": event_type, "occurred_at": at(minutes),
        "policy_no": policy_no, "channel": "AGENCY", "branch_code": "86110000", "actor": actor or CLERK,
        "endorsement_no": number, "endorsement_type": kind, "application_channel": "COUNTER",
        "authorization": authorization,
        "changes": [{"party": party, "field": field, "old": None, "new": new}],
    }


def with_mobile(mobile: str) -> dict[str, Any]:
    return dict(deepcopy(HOLDER), mobile=mobile)


def confirmed(policy_no: str, **top: Any) -> list[tuple[Stream, dict[str, Any]]]:
    """Submitted, then confirmed (the lock point), then issued."""
    return [policy(policy_no, 1, "APPLICATION_SUBMITTED", 0, **top),
            policy(policy_no, 2, "APPLICATION_CONFIRMED", 20, **top),
            policy(policy_no, 3, "POLICY_ISSUED", 60, actor=SYSTEM, **top)]


@dataclass
class Outcome:
    alerts: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    clean: list[dict[str, Any]]
    commission: list[dict[str, Any]]
    states: dict[str, PolicyState]

    def alert_summary(self) -> set[tuple[str, str, str, tuple[tuple[str, str], ...]]]:
        return {(a["alert_type"], a["source_event_ids"][0], a["responsible"]["user_id"],
                 tuple((c["party"], c["field"]) for c in a["changes"])) for a in self.alerts}

    def reasons(self) -> dict[str, str]:
        return {q["event_id"]: q["reason"] for q in self.quarantine}


def run(events: list[tuple[Stream, dict[str, Any]]], *, config: DetectionConfig | None = None,
        finish: bool = True, start: datetime | None = None) -> Outcome:
    """The pure pipeline in arrival order: one wall-clock second per event, then end of input.

    The wall clock starts after the last event time (events are never from the future: the
    processor caps stream time at the wall clock plus the skew allowance)."""
    latest = max((datetime.fromisoformat(doc["occurred_at"]) for _, doc in events), default=T0)
    driver = TopologyDriver(start=start or latest + timedelta(days=1), detection=config)
    for stream, document in events:
        driver.pipe(stream, encode(document), key=document["policy_no"].encode(), advance_s=1)
    if finish:
        driver.finish()
    return Outcome(driver.read(OutputKind.ALERTS), driver.read(OutputKind.QUARANTINE),
                   driver.read(OutputKind.POLICY_CLEAN) + driver.read(OutputKind.ENDORSEMENT_CLEAN),
                   driver.read(OutputKind.COMMISSION), driver.tasks[0].states)


def _bank_events(policy_no: str) -> list[tuple[Stream, dict[str, Any]]]:
    from tests.oracle import wrong_check

    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK532801007", "actor": TELLER}
    bad = dict(deepcopy(HOLDER), id_no=wrong_check(HOLDER["id_no"]))
    return [policy(policy_no, 1, "APPLICATION_SUBMITTED", 0, holder=bad, **bank),
            policy(policy_no, 2, "APPLICATION_AMENDED", 30, **bank),
            policy(policy_no, 3, "APPLICATION_CONFIRMED", 60, **bank)]


@dataclass(frozen=True)
class Case:
    events: list[tuple[Stream, dict[str, Any]]]
    alerts: set[str]  # source event ids of the expected alerts
    commission: list[str] = ()  # type: ignore[assignment]


def cases(prefix: str = "PL") -> dict[str, Case]:
    """Issue 5's lifecycle cases, one policy each, with the alerts each must raise."""
    def p(name: str) -> str:
        return f"{prefix}-{name}"

    def edit(policy_no: str, *, actor: dict = CLERK, holder: dict | None = None):
        return policy(policy_no, 4, "CUSTOMER_INFO_UPDATED", 1440, actor=actor, holder=holder or with_mobile(NEW_MOBILE))

    def approved(policy_no: str, minutes: float, **kw: Any):
        return [endorsement(policy_no, 1, "ENDORSEMENT_REQUESTED", minutes - 2, actor=CUSTOMER, **kw),
                endorsement(policy_no, 2, "ENDORSEMENT_APPROVED", minutes, **kw)]

    chosen = {
        "no endorsement": Case(confirmed(p("A")) + [edit(p("A"))], {f"{p('A')}-p04"}),
        "authorized before the edit": Case(confirmed(p("B")) + approved(p("B"), 1430) + [edit(p("B"))], set()),
        "authorization arrives after the edit": Case(confirmed(p("C")) + [edit(p("C"))] + approved(p("C"), 1435), set()),
        "approved a day later": Case(confirmed(p("D")) + [edit(p("D"))] + approved(p("D"), 2880), {f"{p('D')}-p04"}),
        "different value": Case(confirmed(p("E")) + approved(p("E"), 1430, new="13911112222") + [edit(p("E"))],
                                {f"{p('E')}-p04"}),
        "staff-applied endorsement": Case(
            confirmed(p("F")) + approved(p("F"), 1430, applicant="STAFF", evidence=False) + [edit(p("F"))],
            {f"{p('F')}-e02", f"{p('F')}-p04"}),
        "rejected endorsement": Case(
            confirmed(p("G")) + [endorsement(p("G"), 1, "ENDORSEMENT_REQUESTED", 1428, actor=CUSTOMER),
                                 endorsement(p("G"), 2, "ENDORSEMENT_REJECTED", 1430), edit(p("G"))],
            {f"{p('G')}-p04"}),
        "postal code alone": Case(confirmed(p("H")) + [edit(p("H"), holder=dict(deepcopy(HOLDER), postal_code="100021"))],
                                  {f"{p('H')}-p04"}),
        "amendments before confirmation": Case(
            [policy(p("I"), 1, "APPLICATION_SUBMITTED", 0),
             policy(p("I"), 2, "APPLICATION_AMENDED", 5, holder=with_mobile(NEW_MOBILE)),
             policy(p("I"), 3, "APPLICATION_CONFIRMED", 20, holder=with_mobile(NEW_MOBILE))], set()),
        "sales agent's edit": Case(confirmed(p("J")) + [edit(p("J"), actor=AGENT)], {f"{p('J')}-p04"}),
        "ID corrected on a bank policy": Case(_bank_events(p("K")), set(), ["HOLD", "RELEASE"]),
    }
    # Each policy on a timeline of its own, three days apart, as in a real feed: a topic
    # partition is near event-time order across policies (stream time relies on it).
    return {name: Case(shifted(case.events, 3 * index), case.alerts, case.commission)
            for index, (name, case) in enumerate(chosen.items())}


def shifted(events: list[tuple[Stream, dict[str, Any]]], days: float) -> list[tuple[Stream, dict[str, Any]]]:
    out = []
    for stream, document in events:
        moved = dict(document, occurred_at=(datetime.fromisoformat(document["occurred_at"])
                                            + timedelta(days=days)).isoformat())
        out.append((stream, moved))
    return out


def in_time_order(events: list[tuple[Stream, dict[str, Any]]]) -> list[tuple[Stream, dict[str, Any]]]:
    """Events sorted by event time (stable): how a change-data-capture feed publishes them."""
    return sorted(events, key=lambda item: datetime.fromisoformat(item[1]["occurred_at"]))
