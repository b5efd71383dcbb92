"""A restart indexes every policy from what is stored beside its state and parses a state only
when an event or a deadline needs it; the answers are the same as with every state parsed."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from streams.core.detection import PolicyState, StateVersionError
from streams.core.driver import TopologyDriver
from streams.core.origin import Stream
from streams.core.outputs import OutputKind
from streams.core.task import STREAM_TIMES_KEY
from tests.lifecycle import cases, in_time_order
from tests.oracle import encode, policy_event

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EVENTS = in_time_order([event for case in cases("SS").values() for event in case.events])


def _pipe(driver: TopologyDriver, events: list) -> None:
    for stream, document in events:
        driver.pipe(stream, encode(document), key=document["policy_no"].encode())


def _alerts_and_instructions(driver: TopologyDriver) -> tuple[list[str], list[str]]:
    return (sorted(a["alert_id"] for a in driver.read(OutputKind.ALERTS)),
            sorted(c["instruction_id"] for c in driver.read(OutputKind.COMMISSION)))


def test_a_restart_parses_no_state_until_it_is_needed_and_decides_the_same() -> None:
    half = len(EVENTS) // 2
    straight = TopologyDriver(start=NOW)
    _pipe(straight, EVENTS)
    straight.finish()

    restarted = TopologyDriver(start=NOW)
    _pipe(restarted, EVENTS[:half])
    deadlines = {key: dict(due) for key, due in restarted.tasks[0].index._current.items()}  # noqa: SLF001
    holds = dict(restarted.tasks[0].holds)
    restarted.restart()
    task = restarted.tasks[0]
    assert len(task.states) > 0 and task.states.parsed == 0
    assert task.index._current == deadlines and deadlines  # noqa: SLF001 - every deadline back, none parsed
    assert task.holds == holds
    _pipe(restarted, EVENTS[half:])
    restarted.finish()
    assert _alerts_and_instructions(restarted) == _alerts_and_instructions(straight)
    assert sorted(map(encode_state, restarted.tasks[0].states.values())) == \
        sorted(map(encode_state, straight.tasks[0].states.values()))


def encode_state(state: PolicyState) -> bytes:
    return state.to_json()


def test_a_state_written_without_its_deadlines_is_parsed_at_restore() -> None:
    driver = TopologyDriver(start=NOW)
    _pipe(driver, EVENTS)
    records = driver.changelog[0]
    key = next(k for k in records if k.decode() != STREAM_TIMES_KEY)
    records[key] = driver.tasks[0].states[key.decode()].to_json()  # as an older release wrote it
    driver.restart()
    assert driver.tasks[0].states.parsed == 1


@pytest.mark.parametrize("version", [1, 3])
def test_an_unknown_state_format_is_refused_at_restore(version: int) -> None:
    driver = TopologyDriver(start=NOW)
    _pipe(driver, EVENTS[:5])
    key = next(k for k in driver.changelog[0] if k.decode() != STREAM_TIMES_KEY)
    document = json.loads(driver.changelog[0][key])
    document["v"] = version
    driver.changelog[0][key] = json.dumps(document).encode()
    with pytest.raises(StateVersionError, match=f"format {version}"):
        driver.restart()


def test_a_stored_state_that_cannot_be_read_costs_its_policys_events_not_the_partition() -> None:
    driver = TopologyDriver(start=NOW)
    driver.pipe(Stream.POLICY, policy_event(event_id="a1", policy_no="PA"))
    driver.pipe(Stream.POLICY, policy_event(event_id="b1", policy_no="PB"))
    broken = json.loads(driver.changelog[0][b"PA"])
    broken["slots"] = "not a list"  # right version and deadlines, unreadable body
    driver.changelog[0][b"PA"] = json.dumps(broken, separators=(",", ":"), ensure_ascii=False).encode()
    driver.restart()
    driver.pipe(Stream.POLICY, policy_event(event_id="a2", policy_no="PA", event_type="APPLICATION_AMENDED"))
    driver.pipe(Stream.POLICY, policy_event(event_id="b2", policy_no="PB", event_type="APPLICATION_AMENDED"))
    [record] = driver.read(OutputKind.QUARANTINE)
    assert record["event_id"] == "a2" and record["reason"] == "RULE_ERROR"
    assert record["errors"] == ["state: StateVersionError"]
    assert [c["event_id"] for c in driver.read(OutputKind.POLICY_CLEAN)] == ["a1", "b1", "b2"]
    assert driver.stage_errors["state"] == 1
