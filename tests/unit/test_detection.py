"""The per-policy state machine: the lifecycle cases of issue 5, by table and by property."""
from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.detection import DetectionConfig, PolicyMachine, PolicyState
from streams.core.driver import TopologyDriver
from streams.core.origin import Stream
from streams.core.outputs import OutputKind
from tests.lifecycle import (
    AGENT,
    CLERK,
    CUSTOMER,
    HOLDER,
    NEW_MOBILE,
    SYSTEM,
    T0,
    TELLER,
    confirmed,
    endorsement,
    policy,
    run,
    with_mobile,
)
from tests.oracle import wrong_check

P = "P86110024070003"


def edit(n: int = 4, minutes: float = 1440, *, actor: dict = CLERK, holder: dict | None = None):
    return policy(P, n, "CUSTOMER_INFO_UPDATED", minutes, actor=actor, holder=holder or with_mobile(NEW_MOBILE))


def approved_endorsement(minutes: float, **kw):
    return [endorsement(P, 1, "ENDORSEMENT_REQUESTED", minutes - 2, actor=CUSTOMER, **kw),
            endorsement(P, 2, "ENDORSEMENT_APPROVED", minutes, **kw)]


def test_edit_with_no_endorsement_raises_one_alert_and_quarantines_the_edit() -> None:
    out = run(confirmed(P) + [edit()])
    alert, = out.alerts
    assert alert["alert_type"] == "UNAUTHORIZED_CONTACT_EDIT" and alert["severity"] == "CRITICAL"
    assert alert["responsible"] == {"user_id": "OP0002", "role": "OPERATIONS_CLERK", "supervisor_id": "OP0100"}
    assert alert["penalty"] == {"direct_cny": 100, "supervisor_cny": 50}
    assert [(c["party"], c["field"], c["old"], c["new"]) for c in alert["changes"]] == [
        ("policyholder", "mobile", "136****5273", "139****2740"), ("insureds[0]", "mobile", "136****5273", "139****2740")]
    assert "13661025273" not in str(alert) and NEW_MOBILE not in str(alert)
    assert out.reasons() == {f"{P}-p04": "UNAUTHORIZED_EDIT"}
    assert f"{P}-p04" not in {c["event_id"] for c in out.clean}
    assert out.alerts[0]["alert_id"] == run(confirmed(P) + [edit()]).alerts[0]["alert_id"]  # deterministic


def test_authorized_endorsement_approved_before_the_edit_clears_it() -> None:
    out = run(confirmed(P) + approved_endorsement(1430) + [edit()])
    assert out.alerts == [] and out.quarantine == []
    assert f"{P}-p04" in {c["event_id"] for c in out.clean}


def test_authorization_consumed_after_the_edit_within_the_grace_clears_it() -> None:
    out = run(confirmed(P) + [edit()] + approved_endorsement(1430))
    assert out.alerts == [] and out.quarantine == []
    assert f"{P}-p04" in {c["event_id"] for c in out.clean}


def test_clock_skew_allows_an_approval_slightly_after_the_edit() -> None:
    assert run(confirmed(P) + [edit()] + approved_endorsement(1441)).alerts == []  # 60 s after the edit
    assert len(run(confirmed(P) + [edit()] + approved_endorsement(1443)).alerts) == 1  # 180 s: beyond 120 s


def test_endorsement_approved_a_day_after_the_edit_is_backfilled_paperwork() -> None:
    out = run(confirmed(P) + [edit()] + approved_endorsement(1440 * 2))
    assert len(out.alerts) == 1 and out.reasons() == {f"{P}-p04": "UNAUTHORIZED_EDIT"}


def test_endorsement_for_a_different_value_does_not_cover() -> None:
    out = run(confirmed(P) + approved_endorsement(1430, new="13911112222") + [edit()])
    assert len(out.alerts) == 1


def test_staff_applied_endorsement_without_customer_evidence_is_itself_an_unauthorized_edit() -> None:
    out = run(confirmed(P) + approved_endorsement(1430, applicant="STAFF", evidence=False) + [edit()])
    by_event = {a["source_event_ids"][0]: a for a in out.alerts}
    assert set(by_event) == {f"{P}-e02", f"{P}-p04"}
    on_endorsement = by_event[f"{P}-e02"]
    assert on_endorsement["responsible"]["user_id"] == "OP0002"  # the approving actor
    assert on_endorsement["evidence"]["endorsement_no"] == "E1"
    assert out.reasons() == {f"{P}-e02": "UNAUTHORIZED_EDIT", f"{P}-p04": "UNAUTHORIZED_EDIT"}


def test_agent_applicant_is_never_customer_authorized_whatever_it_attaches() -> None:
    out = run(confirmed(P) + approved_endorsement(1430, applicant="AGENT", evidence=True) + [edit()])
    assert {a["source_event_ids"][0] for a in out.alerts} == {f"{P}-e02", f"{P}-p04"}


def test_rejected_endorsement_authorizes_nothing() -> None:
    rejected = [endorsement(P, 1, "ENDORSEMENT_REQUESTED", 1428, actor=CUSTOMER),
                endorsement(P, 2, "ENDORSEMENT_REJECTED", 1430)]
    assert len(run(confirmed(P) + rejected + [edit()]).alerts) == 1
    revoked = approved_endorsement(1430) + [endorsement(P, 3, "ENDORSEMENT_REJECTED", 1435)]
    assert len(run(confirmed(P) + revoked + [edit()]).alerts) == 1


def test_postal_code_alone_changed_is_an_alert() -> None:
    moved = dict(HOLDER, postal_code="100021")
    alert, = run(confirmed(P) + [edit(holder=moved)]).alerts
    assert {(c["party"], c["field"]) for c in alert["changes"]} == {("policyholder", "postal_code"),
                                                                   ("insureds[0]", "postal_code")}


def test_amendments_before_confirmation_are_allowed() -> None:
    before = [policy(P, 1, "APPLICATION_SUBMITTED", 0),
              policy(P, 2, "APPLICATION_AMENDED", 5, holder=with_mobile(NEW_MOBILE)),
              policy(P, 3, "APPLICATION_CONFIRMED", 20, holder=with_mobile(NEW_MOBILE))]
    out = run(before)
    assert out.alerts == [] and out.quarantine == []


def test_the_lock_events_own_snapshot_is_the_baseline() -> None:
    locked = [policy(P, 1, "APPLICATION_SUBMITTED", 0), policy(P, 2, "POLICY_ISSUED", 20, holder=with_mobile(NEW_MOBILE))]
    assert run(locked).alerts == []


def test_sales_agents_edit_costs_200_and_100() -> None:
    alert, = run(confirmed(P) + [edit(actor=AGENT)]).alerts
    assert alert["penalty"] == {"direct_cny": 200, "supervisor_cny": 100}
    assert alert["responsible"]["role"] == "SALES_AGENT"
    # The supervisor's id never runs into the amount (it read 主管S0001100元).
    assert "处罚本人200元、其主管（S0001）100元" in alert["summary_zh"]


def test_a_penalty_without_a_known_supervisor_names_the_role_only() -> None:
    alert, = run(confirmed(P) + [edit(actor=dict(CLERK, supervisor_id=None))]).alerts
    assert "处罚本人100元、其主管50元" in alert["summary_zh"]


def test_teller_customer_and_system_are_named_without_penalty() -> None:
    for actor in (TELLER, CUSTOMER, SYSTEM):
        alert, = run(confirmed(P) + [edit(actor=actor)]).alerts
        assert alert["penalty"] is None and alert["responsible"]["user_id"] == actor["user_id"]


def test_penalty_schedule_is_configurable() -> None:
    from schemas.alert import Penalty
    from streams.core.detection.config import DEFAULT_PENALTIES

    config = DetectionConfig(penalties={**DEFAULT_PENALTIES, "OPERATIONS_CLERK": Penalty(direct_cny=500, supervisor_cny=0)})
    alert, = run(confirmed(P) + [edit()], config=config).alerts
    assert alert["penalty"] == {"direct_cny": 500, "supervisor_cny": 0}


def test_id_corrected_on_a_bank_policy_holds_then_releases_commission() -> None:
    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK532801007", "actor": TELLER}
    bad = dict(HOLDER, id_no=wrong_check(HOLDER["id_no"]))
    events = [policy(P, 1, "APPLICATION_SUBMITTED", 0, holder=bad, **bank),
              policy(P, 2, "APPLICATION_AMENDED", 30, **bank),
              policy(P, 3, "APPLICATION_CONFIRMED", 60, **bank)]
    out = run(events)
    assert [(c["action"], c["reasons"], c["intermediary_code"]) for c in out.commission] == [
        ("HOLD", ["ID_CHECKSUM"], "BK532801007"), ("RELEASE", ["ID_CHECKSUM"], "BK532801007")]
    assert out.reasons() == {f"{P}-p01": "RULE_ERROR"}


def test_a_second_failing_event_does_not_hold_twice() -> None:
    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK1", "actor": TELLER}
    bad = dict(HOLDER, postal_code="1000")
    out = run([policy(P, 1, "APPLICATION_SUBMITTED", 0, holder=bad, **bank),
               policy(P, 2, "APPLICATION_AMENDED", 5, holder=bad, **bank)])
    assert [c["action"] for c in out.commission] == ["HOLD"]


def test_staff_edit_does_not_hold_the_intermediarys_commission() -> None:
    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK1"}
    out = run(confirmed(P, **bank) + [policy(P, 4, "CUSTOMER_INFO_UPDATED", 1440, actor=CLERK,
                                             holder=with_mobile(NEW_MOBILE), **bank)])
    assert len(out.alerts) == 1 and out.commission == []


def test_hold_open_past_its_deadline_raises_overdue_once() -> None:
    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK1", "actor": TELLER}
    bad = dict(HOLDER, postal_code="1000")
    events = [policy(P, 1, "APPLICATION_SUBMITTED", 0, holder=bad, **bank),
              policy(P, 2, "APPLICATION_AMENDED", 31 * 1440, holder=bad, **bank),
              policy(P, 3, "APPLICATION_AMENDED", 32 * 1440, holder=bad, **bank)]
    out = run(events)
    overdue = [a for a in out.alerts if a["alert_type"] == "INTERMEDIARY_CORRECTION_OVERDUE"]
    assert len(overdue) == 1 and overdue[0]["severity"] == "HIGH"
    assert overdue[0]["evidence"]["intermediary_code"] == "BK1"


def test_a_held_edit_is_judged_when_the_partitions_endorsement_stream_passes_grace_and_lateness() -> None:
    driver = TopologyDriver(start=T0 + timedelta(days=2))
    for stream, document in confirmed(P) + [edit()]:
        driver.pipe(stream, document)
    assert driver.read(OutputKind.ALERTS) == [] and len(driver.tasks[0].states[P].pending) == 1
    driver.advance_wall(3600)  # the endorsement topic is not idle: the wall clock decides nothing
    assert driver.read(OutputKind.ALERTS) == []
    # Another policy's endorsements on the same partition: 10 min grace + 5 min lateness, on
    # the partition's stream time, the median of its last five endorsement times.
    def other(n: int, minutes: float) -> dict:
        return endorsement("P-OTHER", n, "ENDORSEMENT_REQUESTED", minutes, actor=CUSTOMER, number=f"EO{n}")[1]

    for n in range(1, 6):
        driver.pipe(Stream.ENDORSEMENT, other(n, 1440 + 14.9), partition=0)
    assert driver.read(OutputKind.ALERTS) == []
    for n in (6, 7):
        driver.pipe(Stream.ENDORSEMENT, other(n, 1440 + 15), partition=0)
        assert driver.read(OutputKind.ALERTS) == []  # two of five at 15 min are not the median yet
    driver.pipe(Stream.ENDORSEMENT, other(8, 1440 + 15), partition=0)
    assert [a["source_event_ids"] for a in driver.read(OutputKind.ALERTS)] == [[f"{P}-p04"]]


def test_one_far_future_record_moves_no_clock_and_is_warned_about() -> None:
    """A year typo on another policy's endorsement must not end this edit's grace."""
    driver = TopologyDriver(start=T0 + timedelta(days=2))
    for stream, document in confirmed(P) + [edit()]:
        driver.pipe(stream, document)

    def other(n: int, minutes: float) -> dict:
        return endorsement("P-OTHER", n, "ENDORSEMENT_REQUESTED", minutes, actor=CUSTOMER, number=f"EO{n}")[1]

    for n in range(1, 6):
        driver.pipe(Stream.ENDORSEMENT, other(n, 1440 + 1), partition=0)
    before = driver.tasks[0].observed
    typo = other(6, 1440 + 1 + 365 * 1440)  # a year ahead of the wall clock
    driver.pipe(Stream.ENDORSEMENT, typo, partition=0)
    driver.pipe(Stream.ENDORSEMENT, other(7, 1440 + 2), partition=0)
    assert driver.tasks[0].observed.endorsement is not None
    assert driver.tasks[0].observed.endorsement - before.endorsement < timedelta(minutes=2)
    assert driver.read(OutputKind.ALERTS) == [] and len(driver.tasks[0].states[P].pending) == 1
    warned, = [c for c in driver.read(OutputKind.ENDORSEMENT_CLEAN) if c["event_id"] == typo["event_id"]]
    assert warned["validation"]["status"] == "PASS_WITH_WARNINGS"
    assert [f["rule"] for f in warned["validation"]["findings"]] == ["EVENT_TIME_OUTLIER"]
    # The authorization read after the typo still clears the edit.
    for stream, document in approved_endorsement(1440 - 10):
        driver.pipe(stream, document)
    driver.finish()
    assert driver.read(OutputKind.ALERTS) == []


def test_an_edit_dated_a_year_ahead_is_decided_from_when_it_came_in() -> None:
    far = policy(P, 4, "CUSTOMER_INFO_UPDATED", 1440 + 365 * 1440, actor=CLERK, holder=with_mobile(NEW_MOBILE))
    driver = TopologyDriver(start=T0 + timedelta(days=2))
    for stream, document in confirmed(P) + [far]:
        driver.pipe(stream, document)
    assert len(driver.tasks[0].states[P].pending) == 1
    driver.set_idle(Stream.ENDORSEMENT)
    driver.advance_wall(3600)  # an hour of a caught-up endorsement topic decides it, not a date next year
    assert [a["source_event_ids"] for a in driver.read(OutputKind.ALERTS)] == [[f"{P}-p04"]]


def test_the_policys_own_endorsement_stream_ends_the_grace_with_the_lateness_allowance() -> None:
    """One policy's endorsements are near event-time order, not exactly: an approval dated just
    after the edit may still follow one dated minutes later, so its own stream ends the grace
    only past the grace plus the lateness (10 + 5 minutes)."""
    driver = TopologyDriver(start=T0 + timedelta(days=2))
    for stream, document in confirmed(P) + [edit()]:
        driver.pipe(stream, document)
    driver.pipe(*endorsement(P, 1, "ENDORSEMENT_REQUESTED", 1440 + 14.9, actor=CUSTOMER, number="E9"))
    assert driver.read(OutputKind.ALERTS) == []
    driver.pipe(*endorsement(P, 2, "ENDORSEMENT_REJECTED", 1440 + 15, number="E9"))
    assert [a["source_event_ids"] for a in driver.read(OutputKind.ALERTS)] == [[f"{P}-p04"]]


def test_an_idle_endorsement_topic_lets_the_wall_clock_end_the_grace() -> None:
    driver = TopologyDriver(start=T0 + timedelta(days=1))  # the wall clock at the edit's time
    for stream, document in confirmed(P) + [edit()]:
        driver.pipe(stream, document)
    driver.set_idle(Stream.ENDORSEMENT)
    driver.advance_wall(599)
    assert driver.read(OutputKind.ALERTS) == []
    driver.advance_wall(1)
    assert [a["alert_type"] for a in driver.read(OutputKind.ALERTS)] == ["UNAUTHORIZED_CONTACT_EDIT"]
    assert driver.tasks[0].states[P].pending == []
    assert [q["reason"] for q in driver.read(OutputKind.QUARANTINE)] == ["UNAUTHORIZED_EDIT"]


def test_redelivered_event_produces_nothing() -> None:
    machine = PolicyMachine()
    out = run(confirmed(P) + [edit()])
    state = out.states[P]
    from streams.core.origin import Origin, Stream
    from streams.core.pipeline import process_record
    from streams.core.ruleset import RuleSet
    from tests.oracle import encode

    _, again = edit()
    verdict = process_record(encode(again), Origin(), now=T0, ruleset=RuleSet.default(), stream=Stream.POLICY)
    step = machine.on_verdict(state, verdict, T0)
    assert step.duplicate and step.outputs == [] and step.alerts == []


def test_idle_and_terminated_policies_are_forgotten_after_retention() -> None:
    driver = TopologyDriver(start=T0 + timedelta(days=1), detection=DetectionConfig(retention_days=30))
    for stream, document in confirmed(P) + [policy(P, 4, "POLICY_TERMINATED", 1440, actor=SYSTEM)]:
        driver.pipe(stream, document)
    driver.set_idle(Stream.POLICY, Stream.ENDORSEMENT)
    driver.advance_wall(29 * 86400)
    assert P in driver.tasks[0].states
    driver.advance_wall(86400)
    assert P not in driver.tasks[0].states
    assert driver.changelog[0].get(P.encode()) is None  # the changelog forgets it too


def test_state_round_trips_through_json_and_stays_small() -> None:
    out = run(confirmed(P) + approved_endorsement(1430) + [edit()])
    state = out.states[P]
    raw = state.to_json()
    assert PolicyState.from_json(raw) == state
    assert len(raw) < 4096, len(raw)


# -- random interleavings ---------------------------------------------------------------

SCENARIOS = {
    "covered": approved_endorsement(1430),
    "late paperwork": approved_endorsement(2 * 1440),
    "other value": approved_endorsement(1430, new="13911112222"),
    "staff": approved_endorsement(1430, applicant="STAFF", evidence=False),
    "rejected": approved_endorsement(1430) + [endorsement(P, 3, "ENDORSEMENT_REJECTED", 1435)],
}


@st.composite
def interleavings(draw: st.DrawFn):
    """The policy stream and the endorsement stream merged in any order, each keeping its own order."""
    name = draw(st.sampled_from(sorted(SCENARIOS)))
    policy_events = confirmed(P) + [edit()]
    endorsements = SCENARIOS[name]
    merged, i, j = [], 0, 0
    while i < len(policy_events) or j < len(endorsements):
        if j == len(endorsements) or (i < len(policy_events) and draw(st.booleans())):
            merged.append(policy_events[i])
            i += 1
        else:
            merged.append(endorsements[j])
            j += 1
    return name, merged


@settings(max_examples=150, deadline=None)
@given(case=interleavings())
def test_any_arrival_order_within_the_grace_gives_the_same_alerts(case) -> None:
    name, merged = case
    canonical = run(confirmed(P) + SCENARIOS[name] + [edit()])
    shuffled = run(merged)
    assert shuffled.alert_summary() == canonical.alert_summary(), name
    assert {a["alert_id"] for a in shuffled.alerts} == {a["alert_id"] for a in canonical.alerts}
    assert shuffled.reasons() == canonical.reasons()


def test_all_lifecycle_cases_in_one_replay_stream() -> None:
    from tests.lifecycle import cases

    every = cases()
    out = run([event for case in every.values() for event in case.events])
    expected = set().union(*(case.alerts for case in every.values()))
    assert {a["source_event_ids"][0] for a in out.alerts} == expected
    assert [c["action"] for c in out.commission] == ["HOLD", "RELEASE"]


def test_grace_is_also_measured_on_the_endorsement_streams_event_time() -> None:
    """The policy's own endorsement stream past the grace and the lateness decides at once."""
    unrelated = endorsement(P, 7, "ENDORSEMENT_REQUESTED", 1440 + 16, number="E9", kind="OTHER",
                            field="name", new="赵志强", actor=CUSTOMER)
    out = run(confirmed(P) + [edit(), unrelated], finish=False)
    assert [a["source_event_ids"] for a in out.alerts] == [[f"{P}-p04"]]  # judged without waiting for the timer
    assert out.states[P].pending == []
    soon = endorsement(P, 7, "ENDORSEMENT_REQUESTED", 1440 + 14, number="E9", kind="OTHER", field="name",
                       new="赵志强", actor=CUSTOMER)
    held = run(confirmed(P) + [edit(), soon], finish=False)
    assert held.alerts == [] and len(held.states[P].pending) == 1


def test_later_policy_events_do_not_end_the_grace() -> None:
    """A lagging endorsement topic must not turn an authorized edit into an alert."""
    later = policy(P, 5, "RETURN_VISIT_COMPLETED", 1440 + 30, actor=CUSTOMER, holder=with_mobile(NEW_MOBILE))
    out = run(confirmed(P) + [edit(), later] + approved_endorsement(1430))
    assert out.alerts == []
