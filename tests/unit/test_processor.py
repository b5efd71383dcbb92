"""The processor through the broker-free driver: nothing lost, nothing twice, one answer."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.detection import DetectionConfig, PolicyState, StateVersionError
from streams.core.driver import TopologyDriver
from streams.core.origin import Stream
from streams.core.outputs import OutputKind
from tests.lifecycle import (
    CLERK,
    CUSTOMER,
    HOLDER,
    NEW_MOBILE,
    SYSTEM,
    T0,
    TELLER,
    cases,
    endorsement,
    in_time_order,
    policy,
    shifted,
    with_mobile,
)
from tests.oracle import check_char, encode, policy_event, wrong_check
from tests.poison import LARGE, POISON, mixed, valid

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CLEAN = (OutputKind.POLICY_CLEAN, OutputKind.ENDORSEMENT_CLEAN)


def accounted(driver: TopologyDriver) -> Counter[tuple[str, int, int]]:
    """How often each input position came out (clean records by event_id → position)."""
    seen: Counter[tuple[str, int, int]] = Counter()
    for record in driver.read(OutputKind.QUARANTINE):
        seen[(record["source_topic"], record["partition"], record["offset"])] += 1
    return seen


def test_every_poison_kind_is_quarantined_once_and_the_partition_keeps_moving() -> None:
    driver = TopologyDriver(start=NOW)
    for n, (name, build) in enumerate(sorted(POISON.items())):
        before = len(driver.outputs)
        driver.pipe(Stream.POLICY, build(n), key=b"same-key", partition=0)
        produced = driver.outputs[before:]
        assert len(produced) == 1 and produced[0].kind is OutputKind.QUARANTINE, name
        reason = json.loads(produced[0].value)["reason"]
        assert reason in ("DECODE_ERROR", "SCHEMA_ERROR", "RULE_ERROR"), (name, reason)
    stream, raw = valid(1)
    driver.pipe(stream, raw, partition=0)
    assert driver.read(OutputKind.POLICY_CLEAN)[-1]["event_id"] == "ok-1"
    assert driver.stage_errors == Counter()  # none of them needed the last line of defence


@pytest.mark.parametrize(("name", "expected"), [
    ("NaN in an extra field", "DECODE_ERROR"),
    ("integer of 5000 digits", "DECODE_ERROR"),
    ("nested 300 deep", "DECODE_ERROR"),
    ("surrogate in policy_no", "DECODE_ERROR"),
    ("date out of range", "SCHEMA_ERROR"),
    ("year 9999 on a failing bank policy", "SCHEMA_ERROR"),
    ("NUL in policy_no", "SCHEMA_ERROR"),
])
def test_poison_gets_the_reason_that_fits_not_an_internal_error(name: str, expected: str) -> None:
    driver = TopologyDriver(start=NOW)
    driver.pipe(Stream.POLICY, POISON[name](7), partition=0)
    [record] = driver.read(OutputKind.QUARANTINE)
    assert record["reason"] == expected, record["errors"]
    assert not any("internal error" in error for error in record["errors"])


def test_a_stage_that_fails_in_the_pipeline_is_counted_under_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline's last line of defence quarantines, and the worker counts it by stage
    (policyguard_stage_errors): a defect never passes as an ordinary quarantine."""
    from streams.core import pipeline

    class Broken:
        @classmethod
        def model_validate(cls, document: object) -> None:
            raise KeyError("defect")

    monkeypatch.setitem(pipeline.MODELS, Stream.POLICY, Broken)
    driver = TopologyDriver(start=NOW)
    driver.pipe(Stream.POLICY, encode(policy_event(event_id="e1")), partition=0)
    [record] = driver.read(OutputKind.QUARANTINE)
    assert record["reason"] == "RULE_ERROR" and record["errors"] == ["internal error in schema: KeyError"]
    assert driver.stage_errors == Counter({"schema": 1})


@pytest.mark.parametrize("name", sorted(LARGE))
def test_an_input_too_large_to_carry_is_quarantined_cut_with_its_size_and_digest(name: str) -> None:
    driver = TopologyDriver(start=NOW, max_message_bytes=1_048_576)
    raw = LARGE[name](3)
    driver.pipe(Stream.POLICY, raw, partition=0)
    [output] = driver.outputs
    assert output.kind is OutputKind.QUARANTINE and len(output.value) <= 1_048_576
    record = json.loads(output.value)
    assert record["raw_bytes"] == len(raw) and record["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert len(record["raw"]) <= 100_000


def test_a_clean_record_over_the_limit_becomes_a_quarantine_record_naming_the_stage() -> None:
    driver = TopologyDriver(start=NOW, max_message_bytes=65_536)
    raw = encode(policy_event(event_id="big", comment="长" * 30_000))
    driver.pipe(Stream.POLICY, raw, partition=0)
    assert driver.read(OutputKind.POLICY_CLEAN) == []
    [record] = driver.read(OutputKind.QUARANTINE)
    assert record["reason"] == "RULE_ERROR" and record["errors"][0].startswith("encode: ")
    assert record["raw_bytes"] == len(raw)
    assert driver.stage_errors == Counter({"encode": 1})
    assert "P86330125119999" not in driver.tasks[0].states  # the failed step left no state


def test_a_detector_defect_quarantines_that_event_and_keeps_the_previous_state(monkeypatch) -> None:
    driver = TopologyDriver(start=NOW)
    first = policy_event(event_id="e1")
    driver.pipe(Stream.POLICY, first)
    before = driver.tasks[0].states["P86330125119999"].model_copy(deep=True)
    machine = driver.processor.machine
    original = machine._policy_event

    def broken(state, verdict, event, now, step, *_):
        state.slots = []  # a half-done mutation that must not survive
        raise KeyError("defect")

    monkeypatch.setattr(machine, "_policy_event", broken)
    driver.pipe(Stream.POLICY, policy_event(event_id="e2", event_type="APPLICATION_AMENDED"))
    [record] = driver.read(OutputKind.QUARANTINE)
    assert record["reason"] == "RULE_ERROR" and record["errors"] == ["detect: KeyError"]
    assert driver.tasks[0].states["P86330125119999"] == before
    assert driver.stage_errors == Counter({"detect": 1})
    monkeypatch.setattr(machine, "_policy_event", original)
    driver.pipe(Stream.POLICY, policy_event(event_id="e3", event_type="APPLICATION_AMENDED"))
    assert [r["event_id"] for r in driver.read(OutputKind.POLICY_CLEAN)] == ["e1", "e3"]


def test_redelivery_is_skipped_and_a_reused_event_id_is_quarantined_as_duplicate_id() -> None:
    driver = TopologyDriver(start=NOW)
    original = encode(policy_event(event_id="dup"))
    driver.pipe(Stream.POLICY, original)
    driver.pipe(Stream.POLICY, original)  # the producer retried: byte for byte the same
    assert driver.duplicates == 1 and len(driver.outputs) == 1
    driver.pipe(Stream.POLICY, encode(policy_event(event_id="dup", event_type="APPLICATION_AMENDED")))
    [record] = driver.read(OutputKind.QUARANTINE)
    assert record["reason"] == "DUPLICATE_ID" and record["event_id"] == "dup"
    assert len(driver.read(OutputKind.POLICY_CLEAN)) == 1


def test_fuzzed_inputs_each_come_out_exactly_once() -> None:
    driver = TopologyDriver(start=NOW, partitions=4)
    inputs = mixed(3000, seed=3)
    for stream, raw in inputs:
        driver.pipe(stream, raw)
    driver.finish()
    clean_ids = Counter(r["event_id"] for kind in CLEAN for r in driver.read(kind))
    quarantined = accounted(driver)
    assert all(count == 1 for count in clean_ids.values())
    assert all(count == 1 for count in quarantined.values())
    assert sum(clean_ids.values()) + sum(quarantined.values()) + driver.duplicates == len(inputs)


def test_state_records_carry_a_version_and_an_unknown_one_is_refused() -> None:
    state = PolicyState(policy_no="P1")
    assert json.loads(state.to_json())["v"] == 2
    with pytest.raises(StateVersionError, match="format 3"):
        PolicyState.from_json(b'{"v":3,"policy_no":"P1"}')
    with pytest.raises(StateVersionError, match="format 1"):
        PolicyState.from_json(b'{"policy_no":"P1","seen":["a"]}')


def _strip(document: dict) -> str:
    # When it was decided, and where the input sat (which differs with the partition count).
    volatile = {"detected_at", "quarantined_at", "validated_at", "partition", "offset"}
    return json.dumps({k: v for k, v in document.items() if k not in volatile}, sort_keys=True, ensure_ascii=False)


def outcome(driver: TopologyDriver) -> dict[str, list[str]]:
    return {kind.value: sorted(_strip(r) for r in driver.read(kind)) for kind in OutputKind}


def run_merged(policy_events: list, endorsement_events: list, picks: list[bool], *, partitions: int = 1,
               restart_at: int | None = None) -> dict[str, list[str]]:
    driver = TopologyDriver(start=NOW, partitions=partitions)
    queues = {Stream.POLICY: list(policy_events), Stream.ENDORSEMENT: list(endorsement_events)}
    step = 0
    while queues[Stream.POLICY] or queues[Stream.ENDORSEMENT]:
        first = Stream.POLICY if (picks[step % len(picks)] if picks else True) else Stream.ENDORSEMENT
        stream = first if queues[first] else (Stream.ENDORSEMENT if first is Stream.POLICY else Stream.POLICY)
        document = queues[stream].pop(0)
        driver.pipe(stream, encode(document), key=document["policy_no"].encode())
        step += 1
        if restart_at is not None and step == restart_at:
            driver.restart()
    driver.finish()
    return outcome(driver)


EVERY = in_time_order([event for case in cases("IL").values() for event in case.events])
POLICY_STREAM = [doc for stream, doc in EVERY if stream is Stream.POLICY]
ENDORSEMENT_STREAM = [doc for stream, doc in EVERY if stream is Stream.ENDORSEMENT]
REFERENCE = run_merged(POLICY_STREAM, ENDORSEMENT_STREAM, [])


def test_the_reference_run_has_the_contracts_alerts() -> None:
    alerts = {json.loads(a)["source_event_ids"][0] for a in REFERENCE["alerts"]}
    assert alerts == set().union(*(case.alerts for case in cases("IL").values()))


def test_the_reference_run_has_the_contracts_verdicts_and_instructions() -> None:
    """The reference the invariance tests compare with is itself checked against expectations
    written independently of the processor: an unauthorized edit (a case's alert) is quarantined
    UNAUTHORIZED_EDIT; an event naming an ID whose check character is wrong (checked here with the
    oracle's own GB 11643 arithmetic) is RULE_ERROR; every other event is clean; a case's commission
    instructions are its own, in order."""
    def bad_id(document: dict) -> bool:
        people = [document.get("policyholder") or {}, *(document.get("insureds") or [])]
        return any(len(p.get("id_no") or "") == 18 and check_char(p["id_no"][:17]) != p["id_no"][17]
                   for p in people if p.get("id_type", "RESIDENT_ID") == "RESIDENT_ID")

    every = [document for _, document in EVERY]
    unauthorized = set().union(*(case.alerts for case in cases("IL").values()))
    expected = {d["event_id"]: "UNAUTHORIZED_EDIT" if d["event_id"] in unauthorized else
                ("RULE_ERROR" if bad_id(d) else "clean") for d in every}
    found = {doc["event_id"]: doc.get("reason", "clean") for kind in ("policy-events.clean",
             "endorsement-events.clean", "quarantine") for doc in map(json.loads, REFERENCE[kind])}
    assert found == expected
    instructions = [json.loads(line) for line in REFERENCE["commission"]]
    for name, case in cases("IL").items():
        policy_no = case.events[0][1]["policy_no"]
        actions = [i["action"] for i in sorted(instructions, key=lambda i: i["at"]) if i["policy_no"] == policy_no]
        assert actions == list(case.commission), name


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=60), st.sampled_from([1, 2, 4]))
def test_any_interleaving_of_the_two_streams_gives_identical_outputs(picks: list[bool], partitions: int) -> None:
    assert run_merged(POLICY_STREAM, ENDORSEMENT_STREAM, picks, partitions=partitions) == REFERENCE


def test_every_endorsement_first_or_every_policy_event_first_gives_identical_outputs() -> None:
    assert run_merged(POLICY_STREAM, ENDORSEMENT_STREAM, [False]) == REFERENCE
    assert run_merged(POLICY_STREAM, ENDORSEMENT_STREAM, [True]) == REFERENCE


@settings(max_examples=15, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=30), st.integers(min_value=1, max_value=len(EVERY)))
def test_a_restart_from_the_changelog_anywhere_gives_identical_outputs(picks: list[bool], at: int) -> None:
    assert run_merged(POLICY_STREAM, ENDORSEMENT_STREAM, picks, partitions=2, restart_at=at) == REFERENCE


def test_endorsements_read_far_ahead_of_their_policies_still_raise_every_alert() -> None:
    """The backlog of issue 8: staff-applied endorsements consumed long before their policies."""
    events = in_time_order([event for n in range(60)
                            for event in shifted(cases(f"B{n:02d}")["staff-applied endorsement"].events, n / 10)])
    policy_events = [doc for stream, doc in events if stream is Stream.POLICY]
    endorsements = [doc for stream, doc in events if stream is Stream.ENDORSEMENT]
    driver = TopologyDriver(start=NOW, partitions=2)
    for document in endorsements:  # the whole endorsement topic first
        driver.pipe(Stream.ENDORSEMENT, document)
    for document in policy_events:
        driver.pipe(Stream.POLICY, document)
    driver.set_idle(Stream.POLICY, Stream.ENDORSEMENT)
    driver.advance_wall(1)
    alerted = Counter(a["source_event_ids"][0].split("-", 1)[1] for a in driver.read(OutputKind.ALERTS))
    assert alerted == Counter({"F-e02": 60, "F-p04": 60})


def test_a_month_old_backlog_raises_no_false_overdue_before_the_correction_is_read() -> None:
    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK1", "actor": TELLER}
    bad = dict(HOLDER, id_no=wrong_check(HOLDER["id_no"]))
    backlog = [policy("PB", 1, "APPLICATION_SUBMITTED", 0, holder=bad, **bank),
               policy("PB", 2, "APPLICATION_AMENDED", 20 * 1440, **bank)]
    driver = TopologyDriver(start=NOW)  # a year after the events: the wall clock is far ahead
    driver.set_idle(Stream.ENDORSEMENT)
    for stream, document in backlog:
        driver.advance_wall(1)
        driver.pipe(stream, document)
    driver.advance_wall(60)
    assert [c["action"] for c in driver.read(OutputKind.COMMISSION)] == ["HOLD", "RELEASE"]
    assert driver.read(OutputKind.ALERTS) == []


def test_a_hold_the_stream_leaves_open_past_its_deadline_is_overdue_once() -> None:
    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK1", "actor": TELLER}
    bad = dict(HOLDER, id_no=wrong_check(HOLDER["id_no"]))
    driver = TopologyDriver(start=NOW, detection=DetectionConfig(hold_deadline_days=30))
    driver.pipe(*policy("PO", 1, "APPLICATION_SUBMITTED", 0, holder=bad, **bank))
    for day in range(1, 31):  # other policies, a day apart: one era, not yet past the deadline
        driver.pipe(*policy(f"PX{day}", 1, "APPLICATION_SUBMITTED", day * 1440))
    assert not [a for a in driver.read(OutputKind.ALERTS) if a["alert_type"] == "INTERMEDIARY_CORRECTION_OVERDUE"]
    for day in range(31, 35):  # three of the last five records past the deadline
        driver.pipe(*policy(f"PX{day}", 1, "APPLICATION_SUBMITTED", day * 1440))
    overdue = [a for a in driver.read(OutputKind.ALERTS) if a["alert_type"] == "INTERMEDIARY_CORRECTION_OVERDUE"]
    assert [a["policy_no"] for a in overdue] == ["PO"]


def test_a_backfill_interleaved_with_live_traffic_raises_no_false_overdue() -> None:
    """A go-live backfill published while live traffic of a year later flows on the same partition:
    the bank policy's ID is corrected 14 days after the hold, well inside its 30 days; the live
    records between the two must not make the hold overdue before the correction is read."""
    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK1", "actor": TELLER}
    bad = dict(HOLDER, id_no=wrong_check(HOLDER["id_no"]))
    driver = TopologyDriver(start=NOW, detection=DetectionConfig(hold_deadline_days=30))
    driver.pipe(*policy("PB", 1, "APPLICATION_SUBMITTED", 0, holder=bad, **bank))
    for n in range(4):  # live policies, a year later, read between the backfill's records
        driver.pipe(*policy(f"PL{n}", 1, "APPLICATION_SUBMITTED", 400 * 1440 + n))
    driver.pipe(*policy("PB", 2, "APPLICATION_AMENDED", 14 * 1440, **bank))
    assert [c["action"] for c in driver.read(OutputKind.COMMISSION) if c["policy_no"] == "PB"] == ["HOLD", "RELEASE"]
    assert [a["alert_type"] for a in driver.read(OutputKind.ALERTS)] == []


@pytest.mark.parametrize("authorization_first", [False, True])
def test_a_backfilled_edit_waits_for_its_endorsement_whatever_the_live_endorsements_say(
        authorization_first: bool) -> None:
    """The backfill's customer-authorized edit is read before its endorsement, while live
    endorsements of other policies have moved the endorsement topic two years on: the edit
    waits for the backfill's own records, and its authorization covers it."""
    driver = TopologyDriver(start=NOW)
    for n in range(20):
        driver.pipe(*policy(f"PL{n}", 1, "APPLICATION_SUBMITTED", n))
    for n in range(8):
        driver.pipe(*endorsement(f"PL{n}", 1, "ENDORSEMENT_REQUESTED", n + 1, number=f"EL{n}"))
    base = -2 * 365 * 1440
    driver.pipe(*policy("PB", 1, "APPLICATION_SUBMITTED", base))
    driver.pipe(*policy("PB", 2, "APPLICATION_CONFIRMED", base + 20))
    authorization = endorsement("PB", 1, "ENDORSEMENT_APPROVED", base + 100, number="EB1")
    edit = policy("PB", 3, "CUSTOMER_INFO_UPDATED", base + 101, actor=CLERK, holder=with_mobile(NEW_MOBILE))
    for event in ([authorization, edit] if authorization_first else [edit, authorization]):
        driver.pipe(*event)
    for n in range(20, 30):
        driver.pipe(*policy(f"PL{n}", 1, "APPLICATION_SUBMITTED", n))
    driver.finish()
    assert driver.read(OutputKind.ALERTS) == []


@pytest.mark.parametrize("partitions", [1, 2, 4])
@pytest.mark.parametrize("stray", [False, True], ids=["alone", "beside-a-years-old-record"])
def test_a_hold_corrected_after_its_deadline_is_overdue_however_far_the_stream_had_got(partitions: int,
                                                                                     stray: bool) -> None:
    """Corrected on day 45 of 30: overdue, whether the partition's stream time passed day 30 before
    the correction was read (a dense partition) or not (a sparse one, or one held back by a record
    of another era)."""
    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK1", "actor": TELLER}
    bad = dict(HOLDER, id_no=wrong_check(HOLDER["id_no"]))
    driver = TopologyDriver(start=NOW, partitions=partitions, detection=DetectionConfig(hold_deadline_days=30))
    driver.pipe(*policy("PO", 1, "APPLICATION_SUBMITTED", 0, holder=bad, **bank))
    if stray:
        driver.pipe(*policy("POLD", 1, "POLICY_ISSUED", -5 * 365 * 1440))
    for day in range(1, 45):
        driver.pipe(*policy(f"PX{day}", 1, "APPLICATION_SUBMITTED", day * 1440))
    driver.pipe(*policy("PO", 2, "APPLICATION_AMENDED", 45 * 1440, **bank))
    driver.finish()
    [alert] = [a for a in driver.read(OutputKind.ALERTS) if a["policy_no"] == "PO"]
    assert alert["alert_type"] == "INTERMEDIARY_CORRECTION_OVERDUE"
    assert [c["action"] for c in driver.read(OutputKind.COMMISSION) if c["policy_no"] == "PO"] == ["HOLD", "RELEASE"]


@pytest.mark.parametrize("stray", [False, True], ids=["alone", "beside-a-years-old-record"])
def test_a_policy_terminated_past_retention_is_forgotten_by_the_events_own_time(stray: bool) -> None:
    """Terminated on day 0, retention 400 days: an edit on day 450 meets no lock, however far the
    partition's stream time had got when it was read."""
    driver = TopologyDriver(start=NOW)
    driver.pipe(*policy("PT", 1, "APPLICATION_CONFIRMED", -1))
    driver.pipe(*policy("PT", 2, "POLICY_TERMINATED", 0, actor=SYSTEM))
    if stray:
        driver.pipe(*policy("POLD", 1, "POLICY_ISSUED", -5 * 365 * 1440))
    for day in range(1, 450, 3):
        driver.pipe(*policy(f"PX{day}", 1, "APPLICATION_SUBMITTED", day * 1440))
    driver.pipe(*policy("PT", 3, "CUSTOMER_INFO_UPDATED", 450 * 1440, actor=CLERK, holder=with_mobile(NEW_MOBILE)))
    driver.finish()
    assert [a for a in driver.read(OutputKind.ALERTS) if a["policy_no"] == "PT"] == []


@pytest.mark.parametrize("years", [1, 10])
def test_a_correction_in_time_with_its_year_typed_ahead_is_not_overdue(years: int) -> None:
    """Corrected on day 3 of 30, typed a year or ten ahead (flagged EVENT_TIME_OUTLIER): in time."""
    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK1", "actor": TELLER}
    bad = dict(HOLDER, id_no=wrong_check(HOLDER["id_no"]))
    driver = TopologyDriver(start=T0 + timedelta(days=45), detection=DetectionConfig(hold_deadline_days=30))
    driver.pipe(*policy("PO", 1, "APPLICATION_SUBMITTED", 0, holder=bad, **bank))
    stream, correction = policy("PO", 2, "APPLICATION_AMENDED", 3 * 1440, **bank)
    correction["occurred_at"] = (T0 + timedelta(days=3 + 365 * years)).isoformat()
    driver.pipe(stream, correction)
    for day in range(4, 40):
        driver.pipe(*policy(f"PX{day}", 1, "APPLICATION_SUBMITTED", day * 1440))
    driver.finish()
    assert driver.read(OutputKind.ALERTS) == []
    assert [c["action"] for c in driver.read(OutputKind.COMMISSION)] == ["HOLD", "RELEASE"]


@pytest.mark.parametrize("endorsement_first", [False, True])
def test_an_endorsement_past_retention_read_early_forgets_nothing(endorsement_first: bool) -> None:
    """Terminated on day 0, an unauthorized clerk edit on day 10, an endorsement dated day 401: the
    endorsement may be read before the edit (topics interleave); the edit is alerted either way."""
    policies = [policy("PT", 1, "APPLICATION_CONFIRMED", -1), policy("PT", 2, "POLICY_TERMINATED", 0, actor=SYSTEM),
                policy("PT", 3, "CUSTOMER_INFO_UPDATED", 10 * 1440, actor=CLERK, holder=with_mobile(NEW_MOBILE))]
    late = endorsement("PT", 1, "ENDORSEMENT_REQUESTED", 401 * 1440, number="E9", new="13800000000")
    driver = TopologyDriver(start=NOW)
    for event in (policies[:2] + [late] + policies[2:] if endorsement_first else policies + [late]):
        driver.pipe(*event)
    driver.finish()
    assert [(a["alert_type"], a["source_event_ids"]) for a in driver.read(OutputKind.ALERTS)] == [
        ("UNAUTHORIZED_CONTACT_EDIT", ["PT-p03"])]


def test_a_record_typed_years_ahead_does_not_make_a_terminated_policy_forgotten() -> None:
    """Its date is not to be trusted: the clerk's edit on day 10 still meets the lock."""
    stream, typo = policy("PT", 3, "CUSTOMER_INFO_UPDATED", 5 * 1440, actor=SYSTEM)
    typo["occurred_at"] = (T0 + timedelta(days=5 + 3653)).isoformat()
    driver = TopologyDriver(start=NOW)
    for event in [policy("PT", 1, "APPLICATION_CONFIRMED", -1), policy("PT", 2, "POLICY_TERMINATED", 0, actor=SYSTEM),
                  (stream, typo),
                  policy("PT", 4, "CUSTOMER_INFO_UPDATED", 10 * 1440, actor=CLERK, holder=with_mobile(NEW_MOBILE))]:
        driver.pipe(*event)
    driver.finish()
    assert [(a["alert_type"], a["source_event_ids"]) for a in driver.read(OutputKind.ALERTS)] == [
        ("UNAUTHORIZED_CONTACT_EDIT", ["PT-p04"])]


@pytest.mark.parametrize("lead", [1, 6])
@pytest.mark.parametrize("gap", [60, 1_500])
def test_a_backfill_whose_next_record_comes_long_after_the_live_traffic_began_raises_no_false_overdue(
        lead: int, gap: int) -> None:
    """The backfill's first records open a hold, live traffic begins (the stream time forms or
    leaps), and the backfill's correction comes ``gap`` live records later: it is read in time."""
    bank = {"channel": "BANCASSURANCE", "intermediary_code": "BK1", "actor": TELLER}
    bad = dict(HOLDER, id_no=wrong_check(HOLDER["id_no"]))
    back = -3 * 365 * 1440
    driver = TopologyDriver(start=NOW, detection=DetectionConfig(hold_deadline_days=30))
    driver.pipe(*policy("PA", 1, "APPLICATION_SUBMITTED", back, holder=bad, **bank))
    for n in range(1, lead):
        driver.pipe(*policy(f"PAX{n}", 1, "APPLICATION_SUBMITTED", back + n * 60))
    for n in range(gap):
        driver.pipe(*policy(f"PL{n}", 1, "APPLICATION_SUBMITTED", n))
    driver.pipe(*policy("PA", 2, "APPLICATION_AMENDED", back + 14 * 1440, **bank))
    driver.finish()
    assert driver.read(OutputKind.ALERTS) == []


@pytest.mark.parametrize("idle", [(), (Stream.ENDORSEMENT,)], ids=["reading", "endorsements-caught-up"])
def test_a_caught_up_endorsement_topic_does_not_judge_a_backfills_edit_before_its_approval(
        idle: tuple[Stream, ...]) -> None:
    """An older era is being read on the policy topic; the endorsement topic is caught up for a
    while before the backfill publishes the edit's approval: the wall clock does not stand in."""
    back = -3 * 365 * 1440
    driver = TopologyDriver(start=NOW)
    for n in range(10):
        driver.pipe(*policy(f"PL{n}", 1, "APPLICATION_SUBMITTED", n))
        driver.pipe(*endorsement(f"PL{n}", 1, "ENDORSEMENT_REQUESTED", n, actor=CUSTOMER))
    for n in range(6):
        driver.pipe(*policy(f"PB{n}", 1, "APPLICATION_SUBMITTED", back + n))
        driver.pipe(*policy(f"PL{10 + n}", 1, "APPLICATION_SUBMITTED", 10 + n))
    driver.pipe(*policy("PE", 1, "APPLICATION_SUBMITTED", back + 10))
    driver.pipe(*policy("PE", 2, "APPLICATION_CONFIRMED", back + 20))
    driver.pipe(*policy("PE", 4, "CUSTOMER_INFO_UPDATED", back + 1440, actor=CLERK, holder=with_mobile(NEW_MOBILE)))
    driver.set_idle(*idle)
    driver.advance_wall(6)
    driver.set_idle()
    driver.pipe(*endorsement("PE", 1, "ENDORSEMENT_REQUESTED", back + 1428, actor=CUSTOMER))
    driver.pipe(*endorsement("PE", 2, "ENDORSEMENT_APPROVED", back + 1430))
    driver.finish()
    assert driver.read(OutputKind.ALERTS) == []


def test_timed_decisions_visit_only_what_is_due() -> None:
    driver = TopologyDriver(start=NOW)
    for n in range(2000):
        driver.pipe(Stream.POLICY, policy_event(event_id=f"q{n}", policy_no=f"PQ{n}"))
    task = driver.tasks[0]
    driver.pipe(Stream.POLICY, policy_event(event_id="qt", policy_no="PQT", event_type="POLICY_TERMINATED"))
    assert len(task.states) == 2001
    # Policies in force are never forgotten, so have nothing due; the terminated one's retention is far away.
    assert len(task.index) == 1
    assert task.index.due(task.times(driver.now)) == []
    assert task.lateness == timedelta(seconds=DetectionConfig().max_lateness_s)


def test_open_holds_are_tracked_per_policy_as_they_open_and_close_and_after_a_restore() -> None:
    """The holds gauge is recounted from the tasks' hold index, never from a scan of every state."""
    bank = cases()["ID corrected on a bank policy"].events
    driver = TopologyDriver(start=NOW)
    submitted, *rest = bank
    driver.pipe(submitted[0], encode(submitted[1]), key=submitted[1]["policy_no"].encode())
    assert driver.tasks[0].holds == {"PL-K": "BANCASSURANCE"}
    driver.restart()
    assert driver.tasks[0].holds == {"PL-K": "BANCASSURANCE"}
    for stream, document in rest:
        driver.pipe(stream, encode(document), key=document["policy_no"].encode())
    assert driver.tasks[0].holds == {}


def test_a_redelivered_batch_gives_byte_identical_outputs_whenever_it_is_processed_again() -> None:
    """Live, outputs are stamped with the record's own timestamp and a held decision with the
    moment it fell due: a batch read again after a crash, minutes later, produces the same bytes
    (poison, clean, held and decided edits, alerts and instructions alike)."""
    from streams.core.origin import Origin
    from streams.core.processor import InputRecord, Processor
    from streams.core.ruleset import RuleSet

    events = in_time_order([event for case in cases("RD").values() for event in case.events])
    produced = datetime(2024, 8, 1, tzinfo=UTC)
    inputs = [InputRecord(raw, Origin(topic=f"{stream.value}-events", partition=0, offset=i,
                                      timestamp=produced + timedelta(seconds=i)), stream)
              for i, (stream, raw) in enumerate([(s, encode(d)) for s, d in events] + mixed(40, seed=3))]
    processor = Processor(RuleSet.default())
    first_half = len(inputs) // 2

    def batch_outputs(task, wall: datetime) -> list[bytes]:
        out = [o.value for r in inputs[first_half:] for o in processor.process(task, r, wall).outputs]
        task.idle = frozenset(Stream)  # caught up: the wall clock decides what is still held
        return out + [o.value for o in processor.punctuate(task, wall + timedelta(days=60)).outputs]

    task = processor.new_task(0)
    for record in inputs[:first_half]:
        processor.process(task, record, produced)
    changelog = {key.encode(): value for key, value in task.take_dirty().items() if value is not None}

    once = batch_outputs(processor.restore_task(0, changelog), datetime(2024, 8, 2, tzinfo=UTC))
    again = batch_outputs(processor.restore_task(0, changelog), datetime(2024, 9, 30, 13, 7, tzinfo=UTC))
    assert once == again
    kinds = {json.loads(value).get("reason") or json.loads(value).get("alert_type") for value in once}
    assert {"DECODE_ERROR", "UNAUTHORIZED_EDIT", "UNAUTHORIZED_CONTACT_EDIT"} <= kinds


def test_a_timed_decision_that_fails_once_is_tried_again_and_decides(monkeypatch) -> None:
    """The held edit is not left undecided until the policy's next event."""
    from tests.lifecycle import CLERK, NEW_MOBILE, confirmed, with_mobile

    driver = TopologyDriver(start=datetime(2024, 7, 3, tzinfo=UTC))
    for stream, document in confirmed("PT") + [policy("PT", 4, "CUSTOMER_INFO_UPDATED", 1440, actor=CLERK,
                                                      holder=with_mobile(NEW_MOBILE))]:
        driver.pipe(stream, document)
    machine = driver.processor.machine
    original = machine.advance
    failures = []

    def flaky(state, times, now):
        if not failures:
            failures.append(now)
            raise RuntimeError("transient")
        return original(state, times, now)

    monkeypatch.setattr(machine, "advance", flaky)
    driver.set_idle(Stream.ENDORSEMENT)
    driver.advance_wall(60)
    assert failures and driver.stage_errors["timer"] == 1 and driver.read(OutputKind.ALERTS) == []
    assert "PT" in driver.tasks[0].index._current
    driver.advance_wall(3601)
    assert [a["source_event_ids"] for a in driver.read(OutputKind.ALERTS)] == [["PT-p04"]]
