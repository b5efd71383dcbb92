"""What a real policy-admin feed sends, judged as a compliance officer would (issue 18).

Each scenario is a short lifecycle in the driver, judged in event-time order and in every
interleaving of its two topics (each keeping its own order): the alerts must be the planted
ones, by source event, whatever the order.
"""
from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime, timedelta, timezone
from itertools import combinations
from typing import Any

import pytest

from streams.core.origin import Stream
from tests.lifecycle import (
    AGENT,
    CLERK,
    CUSTOMER,
    HOLDER,
    NEW_MOBILE,
    SYSTEM,
    TELLER,
    confirmed,
    endorsement,
    policy,
    run,
    with_mobile,
)
from tests.oracle import person, resident_id, wrong_check

P = "P86110024070018"
DAY = 1440
Event = tuple[Stream, dict[str, Any]]


def interleavings(events: list[Event], limit: int = 400) -> list[list[Event]]:
    """Every merge of the policy and endorsement streams that keeps each stream's own order."""
    policies = [e for e in events if e[0] is Stream.POLICY]
    endorsements = [e for e in events if e[0] is Stream.ENDORSEMENT]
    size = len(policies) + len(endorsements)
    merged = []
    for slots in combinations(range(size), len(endorsements)):
        chosen, p, q = set(slots), iter(policies), iter(endorsements)
        merged.append([next(q) if i in chosen else next(p) for i in range(size)])
        if len(merged) == limit:
            break
    return merged


def alerts_of(events: list[Event]) -> set[tuple[str, str]]:
    """(alert type, the event that decided it: the last of its source events)."""
    return {(a["alert_type"], a["source_event_ids"][-1]) for a in run(events).alerts}


def judged_in_every_order(events: list[Event]) -> set[tuple[str, str]]:
    """The alerts, asserted the same for every interleaving of the two topics."""
    expected = alerts_of(events)
    for order in interleavings(events):
        assert alerts_of(order) == expected, [e[1]["event_id"] for e in order]
    return expected


def edit(n: int, minutes: float, holder: dict[str, Any], actor: dict[str, Any] = CLERK, **top: Any) -> Event:
    return policy(P, n, "CUSTOMER_INFO_UPDATED", minutes, actor=actor, holder=holder, **top)


def approved(n: int, minutes: float, *, number: str, new: Any, field: str = "mobile", **kw: Any) -> list[Event]:
    return [endorsement(P, n, "ENDORSEMENT_REQUESTED", minutes - 2, number=number, new=new, field=field,
                        actor=CUSTOMER, **kw),
            endorsement(P, n + 1, "ENDORSEMENT_APPROVED", minutes, number=number, new=new, field=field, **kw)]


UNAUTHORIZED = "UNAUTHORIZED_CONTACT_EDIT"
INTERCEPTION = "RETURN_VISIT_INTERCEPTION"


# -- a baseline for the whole life of the policy ----------------------------------------------


def test_a_policy_idle_for_years_keeps_its_lock_point_while_others_move_time_on() -> None:
    other = "P86110024070099"
    busy = [policy(other, n, "APPLICATION_SUBMITTED", 30 * DAY * n) for n in range(1, 40)]  # ~3 years of traffic
    late_edit = edit(4, 40 * 30 * DAY, with_mobile(NEW_MOBILE), actor=AGENT)
    assert alerts_of(confirmed(P) + busy + [late_edit]) == {(UNAUTHORIZED, f"{P}-p04")}


def test_a_go_live_backfill_of_years_old_issued_policies_is_locked() -> None:
    backfill = [policy(f"P-OLD-{n}", 1, "POLICY_ISSUED", -3650 * DAY + n, actor=SYSTEM) for n in range(5)]
    today = [policy("P-NEW", 1, "APPLICATION_SUBMITTED", 0)]
    edits = [policy("P-OLD-3", 2, "CUSTOMER_INFO_UPDATED", 60, actor=AGENT, holder=with_mobile(NEW_MOBILE))]
    assert alerts_of(backfill + today + edits) == {(UNAUTHORIZED, "P-OLD-3-p02")}


def test_a_terminated_policy_is_forgotten_after_retention_and_an_active_one_is_not() -> None:
    other = "P86110024070099"
    ended = [*confirmed(P), policy(P, 4, "POLICY_TERMINATED", 2 * DAY)]
    busy = [policy(other, n, "APPLICATION_SUBMITTED", 30 * DAY * n) for n in range(1, 20)]
    out = run(ended + busy, finish=False)
    assert P not in out.states and other in out.states


# -- one person across ID changes -------------------------------------------------------------


LEGACY_ID = HOLDER["id_no"][:6] + HOLDER["id_no"][8:17]  # the 15-digit card the 18-digit number replaced


def test_an_id_upgrade_alone_is_no_edit_and_with_a_new_mobile_is_one() -> None:
    legacy = dict(deepcopy(HOLDER), id_no=LEGACY_ID)
    start = [policy(P, 1, "APPLICATION_SUBMITTED", 0, holder=legacy),
             policy(P, 2, "APPLICATION_CONFIRMED", 20, holder=legacy)]
    assert alerts_of(start + [edit(3, DAY, HOLDER)]) == set()
    upgraded_and_moved = dict(deepcopy(HOLDER), mobile=NEW_MOBILE)
    assert alerts_of(start + [edit(3, DAY, upgraded_and_moved)]) == {(UNAUTHORIZED, f"{P}-p03")}


def test_an_id_type_changed_away_and_back_does_not_hide_a_mobile_swap() -> None:
    away = dict(deepcopy(HOLDER), id_type="PASSPORT", id_no="E12345678", mobile=NEW_MOBILE)
    back = dict(deepcopy(HOLDER), mobile=NEW_MOBILE)
    found = judged_in_every_order(confirmed(P) + [edit(4, DAY, away), edit(5, 2 * DAY, back)])
    assert found == {(UNAUTHORIZED, f"{P}-p04")}  # the swap once; the way back moves no contact field


def test_a_corrected_id_number_with_an_authorized_new_mobile_is_covered() -> None:
    corrected = dict(deepcopy(HOLDER), id_no=wrong_check(HOLDER["id_no"]))
    start = [policy(P, 1, "APPLICATION_SUBMITTED", 0, holder=corrected),
             policy(P, 2, "APPLICATION_CONFIRMED", 20, holder=corrected)]
    events = start + approved(1, DAY - 10, number="E1", new=NEW_MOBILE) + [edit(3, DAY, with_mobile(NEW_MOBILE))]
    assert judged_in_every_order(events) == set()


# -- endorsements read as a history -----------------------------------------------------------


SECOND = "13700001111"


def test_a_value_a_later_endorsement_replaced_covers_nothing() -> None:
    history = (approved(1, DAY - 10, number="E1", new=NEW_MOBILE) + [edit(4, DAY, with_mobile(NEW_MOBILE))]
               + approved(3, 2 * DAY - 10, number="E2", new=SECOND) + [edit(5, 2 * DAY, with_mobile(SECOND))])
    back_to_superseded = edit(6, 90 * DAY, with_mobile(NEW_MOBILE), actor=AGENT)
    assert alerts_of(confirmed(P) + history) == set()
    assert alerts_of(confirmed(P) + history + [back_to_superseded]) == {(UNAUTHORIZED, f"{P}-p06")}


def test_restoring_the_confirmed_value_after_a_flagged_edit_is_a_correction() -> None:
    flagged = edit(4, DAY, with_mobile(NEW_MOBILE), actor=AGENT)
    restored = edit(5, 3 * DAY, HOLDER, actor=CLERK)
    out = run(confirmed(P) + [flagged, restored])
    assert {(a["alert_type"], a["source_event_ids"][0]) for a in out.alerts} == {(UNAUTHORIZED, f"{P}-p04")}
    assert f"{P}-p05" in {c["event_id"] for c in out.clean}  # the correction passes


def test_restoring_a_value_the_customer_replaced_is_an_edit() -> None:
    authorized = approved(1, DAY - 10, number="E1", new=NEW_MOBILE) + [edit(4, DAY, with_mobile(NEW_MOBILE))]
    undone = edit(5, 30 * DAY, HOLDER, actor=AGENT)
    assert judged_in_every_order(confirmed(P) + authorized + [undone]) == {(UNAUTHORIZED, f"{P}-p05")}


def test_an_endorsement_returned_and_resubmitted_under_its_number_covers() -> None:
    resubmitted = [endorsement(P, 1, "ENDORSEMENT_REQUESTED", DAY - 60, actor=CUSTOMER),
                   endorsement(P, 2, "ENDORSEMENT_REJECTED", DAY - 50),
                   endorsement(P, 3, "ENDORSEMENT_REQUESTED", DAY - 20, actor=CUSTOMER),
                   endorsement(P, 4, "ENDORSEMENT_APPROVED", DAY - 10)]
    assert judged_in_every_order(confirmed(P) + resubmitted + [edit(4, DAY, with_mobile(NEW_MOBILE))]) == set()
    revoked = [*resubmitted, endorsement(P, 5, "ENDORSEMENT_REJECTED", DAY + 5)]
    found = alerts_of(confirmed(P) + revoked + [edit(4, DAY, with_mobile(NEW_MOBILE))])
    assert found == {(UNAUTHORIZED, f"{P}-p04")}


def test_a_sparse_approval_does_not_erase_the_evidence_given_at_request() -> None:
    request = endorsement(P, 1, "ENDORSEMENT_REQUESTED", DAY - 20, actor=CUSTOMER)
    stream, approval = endorsement(P, 2, "ENDORSEMENT_APPROVED", DAY - 10)
    approval = dict(approval, authorization={"applicant": "POLICYHOLDER"})
    events = confirmed(P) + [request, (stream, approval), edit(4, DAY, with_mobile(NEW_MOBILE))]
    assert judged_in_every_order(events) == set()


# -- canonical values ---------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["+86 136-6102-5273", "0086 13661025273", "013661025273", "136 6102 5273"])
def test_a_mobile_reformatted_by_another_system_is_no_edit(written: str) -> None:
    assert alerts_of(confirmed(P) + [edit(4, DAY, with_mobile(written), actor=SYSTEM)]) == set()


def test_a_landline_with_or_without_its_dash_is_the_same_number_and_a_visit_to_it_is_fine() -> None:
    dashed = dict(deepcopy(HOLDER), landline="0571-87652093")
    plain = dict(deepcopy(HOLDER), landline="057187652093")
    start = [policy(P, 1, "APPLICATION_SUBMITTED", 0, holder=dashed),
             policy(P, 2, "APPLICATION_CONFIRMED", 20, holder=dashed),
             policy(P, 3, "POLICY_ISSUED", 60, holder=dashed, actor=SYSTEM)]
    visit = policy(P, 5, "RETURN_VISIT_COMPLETED", 2 * DAY, holder=plain, actor=CLERK,
                   return_visit={"status": "COMPLETED", "phone_called": "+86 571 8765 2093", "at": None})
    assert alerts_of(start + [edit(4, DAY, plain, actor=SYSTEM), visit]) == set()


def test_the_same_instant_in_another_offset_gives_the_same_consent_answer() -> None:
    """The insured turns 18 on the insurer's date of the approval: the policyholder may no
    longer change their mobile alone, whether the feed wrote the instant in UTC or +08:00."""
    child = person(name="赵小明", gender="M", birth_date="2006-07-02",
                   id_no=resident_id("110105", "2006-07-02", "M"), mobile="13661025299", landline=None,
                   relation_to_policyholder="CHILD")
    moved_child = dict(child, mobile=NEW_MOBILE)
    # T0 is 2024-07-01 15:00 UTC: +90 min is 16:30 UTC, 00:30 on 2 July in Beijing.
    events = [policy(P, 1, "APPLICATION_SUBMITTED", 0, insureds=[child]),
              policy(P, 2, "APPLICATION_CONFIRMED", 20, insureds=[child]),
              *approved(1, 90, number="E1", new=NEW_MOBILE, party="insureds[0]"),
              policy(P, 3, "CUSTOMER_INFO_UPDATED", 95, actor=CLERK, insureds=[moved_child])]
    beijing = timezone(timedelta(hours=8))
    rewritten = [(stream, dict(doc, occurred_at=datetime.fromisoformat(doc["occurred_at"]).astimezone(beijing)
                               .isoformat())) for stream, doc in events]
    assert alerts_of(events) == alerts_of(rewritten) == {
        (UNAUTHORIZED, f"{P}-e02"), (UNAUTHORIZED, f"{P}-p03")}


# -- the baseline never takes an unauthorized value -------------------------------------------


def issued_with_visit_pending() -> list[Event]:
    return confirmed(P)


def visit(n: int, minutes: float, holder: dict[str, Any], called: str) -> Event:
    return policy(P, n, "RETURN_VISIT_COMPLETED", minutes, holder=holder, actor=CLERK,
                  return_visit={"status": "COMPLETED", "phone_called": called, "at": None})


def test_a_visit_completed_on_a_number_an_unauthorized_edit_put_there_is_an_interception() -> None:
    switched = with_mobile(NEW_MOBILE)
    events = confirmed(P) + [edit(4, DAY, switched, actor=AGENT), visit(5, 3 * DAY, switched, NEW_MOBILE)]
    assert judged_in_every_order(events) == {(UNAUTHORIZED, f"{P}-p04"), (INTERCEPTION, f"{P}-p05")}
    interception, = [a for a in run(events).alerts if a["alert_type"] == INTERCEPTION]
    assert interception["source_event_ids"] == [f"{P}-p04", f"{P}-p05"]
    assert interception["responsible"]["user_id"] == AGENT["user_id"]  # who switched it, not who called


def test_a_visit_on_a_number_still_held_is_judged_with_its_edit() -> None:
    switched = with_mobile(NEW_MOBILE)
    soon = [edit(4, DAY, switched, actor=AGENT), visit(5, DAY + 2, switched, NEW_MOBILE)]  # inside the grace
    intercepted = run(confirmed(P) + soon).alerts
    assert {(a["alert_type"], a["source_event_ids"][-1]) for a in intercepted} == {
        (UNAUTHORIZED, f"{P}-p04"), (INTERCEPTION, f"{P}-p05")}
    # The same visit read after its edit was decided (the policy's own endorsement stream moved
    # past the grace first) raises the very same alert.
    unrelated = endorsement(P, 9, "ENDORSEMENT_REQUESTED", DAY + 20, number="E9", kind="OTHER", field="name",
                            new="赵志强", actor=CUSTOMER)
    decided_first = run(confirmed(P) + [soon[0], unrelated, soon[1]]).alerts

    def interceptions(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in a.items() if k != "detected_at"} for a in alerts if a["alert_type"] == INTERCEPTION]

    assert interceptions(decided_first) == interceptions(intercepted) != []
    covered = confirmed(P) + approved(1, DAY - 10, number="E1", new=NEW_MOBILE) + soon
    assert judged_in_every_order(covered) == set()


def test_one_visit_is_one_interception_even_when_the_number_is_switched_back() -> None:
    switched = with_mobile(NEW_MOBILE)
    events = confirmed(P) + [edit(4, DAY, switched, actor=AGENT), visit(5, 3 * DAY, switched, NEW_MOBILE),
                             edit(6, 4 * DAY, HOLDER, actor=AGENT)]
    kinds = [a["alert_type"] for a in run(events).alerts]
    assert sorted(kinds) == [INTERCEPTION, UNAUTHORIZED]


# -- commission -----------------------------------------------------------------------------


def test_a_clerks_error_on_a_bank_policy_holds_no_commission_and_a_tellers_does() -> None:
    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK532801007"}
    bad = dict(deepcopy(HOLDER), id_no=wrong_check(HOLDER["id_no"]))
    by_clerk = [policy(P, 1, "APPLICATION_SUBMITTED", 0, actor=TELLER, **bank),
                policy(P, 2, "APPLICATION_AMENDED", 30, actor=CLERK, holder=bad, **bank)]
    assert run(by_clerk).commission == []
    by_teller = [policy(P, 1, "APPLICATION_SUBMITTED", 0, actor=TELLER, holder=bad, **bank)]
    assert [c["action"] for c in run(by_teller).commission] == ["HOLD"]


# -- group policies ---------------------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


def chinese_name(n: int) -> str:
    return SURNAMES[n % 20] + GIVEN[(n // 20) % 22] + GIVEN[(n * 7) % 22]



def test_a_group_policy_with_hundreds_of_insureds_keeps_its_held_edits_across_a_restart() -> None:
    """Held edits' records live beside the state: 400 insureds and a day of changes fit, and a
    restart while they are held loses none of them."""
    from streams.core.driver import TopologyDriver
    from streams.core.outputs import OutputKind
    from tests.lifecycle import T0
    from tests.oracle import encode

    staff = [dict(person(name=chinese_name(i), birth_date="1985-01-01",
                         id_no=resident_id("110105", "1985-01-01", "M", i % 100) if i < 100 else
                         resident_id("110106", "1985-01-01", "M", i % 100), mobile=f"139{i:08d}"),
                  relation_to_policyholder="OTHER") for i in range(400)]
    group = {"channel": "GROUP"}
    events = [policy(P, 1, "APPLICATION_SUBMITTED", 0, insureds=staff, **group),
              policy(P, 2, "POLICY_ISSUED", 20, insureds=staff, actor=SYSTEM, **group)]
    current = deepcopy(staff)
    for n in range(30):  # thirty insureds' mobiles changed in a day, each by the insured's own endorsement
        current = deepcopy(current)
        current[n]["mobile"] = f"137{n:08d}"
        events.append(policy(P, 3 + n, "CUSTOMER_INFO_UPDATED", 60 + n, insureds=current, actor=CLERK, **group))
    rogue = deepcopy(current)
    rogue[399]["mobile"] = NEW_MOBILE
    events.append(policy(P, 40, "CUSTOMER_INFO_UPDATED", 100, insureds=rogue, actor=AGENT, **group))
    driver = TopologyDriver(start=T0 + timedelta(days=1))
    for stream, document in events:
        driver.pipe(stream, encode(document))
    assert driver.stage_errors == {} and len(driver.tasks[0].states[P].pending) == 31
    assert all(len(blob) < 1_048_576 for blob in driver.changelog[0].values())
    driver.restart()
    for n in range(30):
        for stream, document in approved(100 + 2 * n, 55 + n, number=f"EG{n}", new=f"137{n:08d}",
                                         party=f"insureds[{n}]", applicant="INSURED"):
            driver.pipe(stream, encode(document))
    driver.finish()
    alerts = driver.read(OutputKind.ALERTS)
    assert [(a["alert_type"], a["source_event_ids"]) for a in alerts] == [(UNAUTHORIZED, [f"{P}-p40"])]
    assert [c["party"] for c in alerts[0]["changes"]] == ["insureds[399]"]
    clean = {c["event_id"] for c in driver.read(OutputKind.POLICY_CLEAN)}
    assert {f"{P}-p{3 + n:02d}" for n in range(30)} <= clean
    assert driver.stage_errors == {}
    assert not any(b"\x00held\x00" in key for key in driver.changelog[0])  # decided: their records deleted


# -- mistyped dates -----------------------------------------------------------------------------


def typo(event: Event, years: int) -> Event:
    stream, document = event
    moment = datetime.fromisoformat(document["occurred_at"])
    return stream, dict(document, occurred_at=moment.replace(year=moment.year + years).isoformat())


def test_an_edit_dated_decades_back_is_judged_as_of_its_policys_previous_event_and_fines_nobody() -> None:
    """When it really happened is unknown: it is judged as of its policy's previous event (the
    same on any number of partitions), warned about, and an alert it raises carries no fine."""
    others = [policy(f"P-BUSY-{n}", 1, "APPLICATION_SUBMITTED", DAY - 5 + n) for n in range(3)]
    authorized_before = approved(1, 50, number="E1", new=NEW_MOBILE)  # before the policy's previous event
    mistyped = typo(edit(4, DAY, with_mobile(NEW_MOBILE)), -30)
    out = run(confirmed(P) + authorized_before + others + [mistyped])
    assert out.alerts == []
    warned, = [c for c in out.clean if c["event_id"] == f"{P}-p04"]
    assert "EVENT_TIME_OUTLIER" in [f["rule"] for f in warned["validation"]["findings"]]
    authorized_after = approved(1, DAY - 10, number="E1", new=NEW_MOBILE)
    for partitions in (1, 3):
        from streams.core.driver import TopologyDriver
        from streams.core.outputs import OutputKind
        from tests.oracle import encode

        driver = TopologyDriver(start=datetime(2024, 8, 1, tzinfo=UTC), partitions=partitions)
        for stream, document in confirmed(P) + authorized_after + others + [mistyped]:
            driver.pipe(stream, encode(document))
        driver.finish()
        alert, = driver.read(OutputKind.ALERTS)
        assert alert["penalty"] is None and alert["evidence"]["event_time_outlier"] is True


def test_an_unauthorized_edit_with_a_mistyped_date_is_alerted_without_a_fine() -> None:
    mistyped = typo(edit(4, DAY, with_mobile(NEW_MOBILE), actor=AGENT), -30)
    alert, = run(confirmed(P) + [mistyped]).alerts
    assert alert["alert_type"] == UNAUTHORIZED and alert["penalty"] is None
    assert alert["evidence"]["event_time_outlier"] is True
    assert alert["responsible"]["user_id"] == AGENT["user_id"]


# -- found by an adversarial review: each held in every order -------------------------------


SPOUSE = person(name="李秀英", gender="F", birth_date="1980-05-06", id_no=resident_id("110105", "1980-05-06", "F"),
                mobile="13661025200", landline=None, postal_code="100020", address=HOLDER["address"],
                relation_to_policyholder="SPOUSE")
ADULT_CHILD = person(name="赵小明", gender="M", birth_date="2003-01-02", id_no=resident_id("110105", "2003-01-02", "M"),
                     mobile="13661025299", landline=None, postal_code="100020", address=HOLDER["address"],
                     relation_to_policyholder="CHILD")


def unrelated(n: int, minutes: float) -> Event:
    """An endorsement of P that changes no contact: it only moves P's endorsement clock."""
    return endorsement(P, n, "ENDORSEMENT_REQUESTED", minutes, number=f"EX{n}", kind="OTHER", field="name",
                       new="赵志强", actor=CUSTOMER)


def test_endorsement_news_after_the_grace_changes_no_verdict() -> None:
    """Evidence or changes first given by an event dated after the edit + grace count for
    nothing, whether that event is read before the edit or after it."""
    s, request = endorsement(P, 1, "ENDORSEMENT_REQUESTED", DAY - 12, actor=CUSTOMER, evidence=False)
    s, approval = endorsement(P, 2, "ENDORSEMENT_APPROVED", DAY - 10, evidence=False)
    s, effective = endorsement(P, 3, "ENDORSEMENT_EFFECTIVE", DAY + 60, evidence=True)
    events = confirmed(P) + [(s, request), (s, approval), unrelated(9, DAY + 20), (s, effective),
                             edit(4, DAY, with_mobile(NEW_MOBILE))]
    assert judged_in_every_order(events) == {(UNAUTHORIZED, f"{P}-e02"), (UNAUTHORIZED, f"{P}-p04")}


def test_an_approval_just_after_the_edit_read_behind_a_later_one_still_covers() -> None:
    events = confirmed(P) + [endorsement(P, 1, "ENDORSEMENT_REQUESTED", DAY - 5, actor=CUSTOMER), unrelated(9, DAY + 11),
                             endorsement(P, 2, "ENDORSEMENT_APPROVED", DAY + 1), edit(4, DAY, with_mobile(NEW_MOBILE))]
    assert judged_in_every_order(events) == set()


@pytest.mark.parametrize(("case", "expected"), [
    ("approved before the visit, not applied yet", set()),
    ("approved two days after the visit", {(UNAUTHORIZED, "p04"), (INTERCEPTION, "p05")}),
    ("approved then rejected", {(UNAUTHORIZED, "p04"), (INTERCEPTION, "p05")}),
    ("superseded, put back by an agent", {(UNAUTHORIZED, "p06"), (INTERCEPTION, "p07")}),
    ("switched between the lock and the issue", {(UNAUTHORIZED, "p03"), (INTERCEPTION, "p05")}),
])
def test_a_return_visit_is_judged_on_the_customers_authorizations_as_of_the_visit(case: str, expected: set) -> None:
    switched = with_mobile(NEW_MOBILE)
    request = lambda n, minutes, **kw: endorsement(P, n, "ENDORSEMENT_REQUESTED", minutes, actor=CUSTOMER, **kw)  # noqa: E731
    decide = lambda n, kind, minutes, **kw: endorsement(P, n, kind, minutes, **kw)  # noqa: E731
    events = {
        "approved before the visit, not applied yet": confirmed(P) + [
            request(1, 28), decide(2, "ENDORSEMENT_APPROVED", 30), visit(4, 65, HOLDER, NEW_MOBILE)],
        "approved two days after the visit": confirmed(P) + [
            edit(4, DAY, switched, actor=AGENT), visit(5, 3 * DAY, switched, NEW_MOBILE),
            request(1, 5 * DAY - 2), decide(2, "ENDORSEMENT_APPROVED", 5 * DAY)],
        "approved then rejected": confirmed(P) + [
            request(1, DAY - 20), decide(2, "ENDORSEMENT_APPROVED", DAY - 15), decide(3, "ENDORSEMENT_REJECTED", DAY - 12),
            edit(4, DAY, switched, actor=AGENT), visit(5, 3 * DAY, switched, NEW_MOBILE)],
        "superseded, put back by an agent": confirmed(P) + [
            request(1, DAY - 12, number="E1"), decide(2, "ENDORSEMENT_APPROVED", DAY - 10, number="E1"),
            edit(4, DAY, switched),
            request(3, 2 * DAY - 12, number="E2", new=SECOND), decide(4, "ENDORSEMENT_APPROVED", 2 * DAY - 10,
                                                                      number="E2", new=SECOND),
            edit(5, 2 * DAY, with_mobile(SECOND)), edit(6, 3 * DAY, switched, actor=AGENT),
            visit(7, 4 * DAY, switched, NEW_MOBILE)],
        "switched between the lock and the issue": [
            policy(P, 1, "APPLICATION_SUBMITTED", 0), policy(P, 2, "APPLICATION_CONFIRMED", 20),
            policy(P, 3, "CUSTOMER_INFO_UPDATED", 30, actor=AGENT, holder=switched),
            policy(P, 4, "POLICY_ISSUED", 60, actor=SYSTEM, holder=switched), visit(5, DAY, switched, NEW_MOBILE),
            unrelated(9, 2 * DAY)],
    }[case]
    assert judged_in_every_order(events) == {(kind, f"{P}-{event}") for kind, event in expected}
    for alert in run(events).alerts:
        if alert["alert_type"] == INTERCEPTION:
            assert alert["responsible"]["user_id"] == AGENT["user_id"]  # who put the number there


def test_an_endorsements_places_are_read_as_they_were_when_it_was_approved() -> None:
    """The spouse (then insureds[0]) changed her own mobile; the list was re-sorted before the
    clerk applied it: covered. The same number given to the child, now insureds[0]: an edit."""
    def held(n: int, kind: str, minutes: float, insureds: list, actor: dict = SYSTEM) -> Event:
        return policy(P, n, kind, minutes, insureds=insureds, actor=actor)

    start = [held(1, "APPLICATION_SUBMITTED", 0, [SPOUSE, ADULT_CHILD], AGENT),
             held(2, "APPLICATION_CONFIRMED", 20, [SPOUSE, ADULT_CHILD], AGENT)]
    hers = approved(1, DAY - 10, number="E1", new=NEW_MOBILE, party="insureds[0]", applicant="INSURED")
    resorted = held(3, "APPLICATION_AMENDED", DAY - 5, [ADULT_CHILD, SPOUSE])
    to_her = held(4, "CUSTOMER_INFO_UPDATED", DAY, [ADULT_CHILD, dict(SPOUSE, mobile=NEW_MOBILE)], CLERK)
    to_child = held(4, "CUSTOMER_INFO_UPDATED", DAY, [dict(ADULT_CHILD, mobile=NEW_MOBILE), SPOUSE], AGENT)
    assert judged_in_every_order(start + hers + [resorted, to_her]) == set()
    assert judged_in_every_order(start + hers + [resorted, to_child]) == {(UNAUTHORIZED, f"{P}-p04")}


def test_a_person_who_comes_back_keeps_the_baseline_confirmed_for_them() -> None:
    away = dict(deepcopy(HOLDER), id_no=resident_id("110105", "1978-09-23", "M", serial=77), name="赵志刚",
                mobile=NEW_MOBILE)
    events = confirmed(P) + [edit(4, DAY, away, actor=AGENT), edit(5, DAY + 30, with_mobile(NEW_MOBILE), actor=AGENT)]
    assert alerts_of(events) == {(UNAUTHORIZED, f"{P}-p05")}


def test_a_self_policyholders_switch_and_back_around_a_visit_leaves_nothing_behind() -> None:
    moved = {"province": "北京市", "city": "北京市", "district": "海淀区", "detail": "中关村大街27号1单元101室"}
    there = dict(deepcopy(HOLDER), address=moved)
    events = confirmed(P) + [
        edit(4, DAY, there, actor=AGENT), visit(5, 2 * DAY, there, HOLDER["mobile"]), edit(6, 3 * DAY, HOLDER, actor=AGENT),
        visit(7, 30 * DAY, HOLDER, HOLDER["mobile"]),
        *approved(1, 60 * DAY - 10, number="E1", new=moved, field="address"), edit(8, 60 * DAY, there)]
    assert sorted(alerts_of(events)) == [(INTERCEPTION, f"{P}-p06"), (UNAUTHORIZED, f"{P}-p04")]


def test_a_lock_event_dated_a_year_ahead_locks_at_its_policys_previous_event() -> None:
    from streams.core.driver import TopologyDriver
    from streams.core.outputs import OutputKind
    from tests.lifecycle import T0
    from tests.oracle import encode

    lock = typo(policy(P, 2, "APPLICATION_CONFIRMED", 20), +1)
    staff = [endorsement(P, 1, "ENDORSEMENT_REQUESTED", DAY - 2, applicant="STAFF", evidence=False),
             endorsement(P, 2, "ENDORSEMENT_APPROVED", DAY, applicant="STAFF", evidence=False)]
    events = [policy(P, 1, "APPLICATION_SUBMITTED", 10), lock, policy(P, 3, "POLICY_ISSUED", 60, actor=SYSTEM)]
    driver = TopologyDriver(start=T0 + timedelta(days=2))  # the feed is live: the typo is a year ahead of now
    for stream, document in events + staff:
        driver.pipe(stream, encode(document))
    driver.finish()
    assert [a["source_event_ids"] for a in driver.read(OutputKind.ALERTS)] == [[f"{P}-e02"]]


@pytest.mark.parametrize("written", ["+86-010-65001234", "+86 (0)10 6500 1234", "0086 010 65001234"])
def test_a_landline_written_with_country_code_and_trunk_zero_is_no_edit(written: str) -> None:
    dashed = dict(deepcopy(HOLDER), landline="010-65001234")
    start = [policy(P, 1, "APPLICATION_SUBMITTED", 0, holder=dashed), policy(P, 2, "APPLICATION_CONFIRMED", 20, holder=dashed)]
    assert alerts_of(start + [edit(3, DAY, dict(dashed, landline=written), actor=SYSTEM)]) == set()
