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
    deadlines = {key: dict(due) for key, due in restarted.tasks[0].index._current.items()}
    holds = dict(restarted.tasks[0].holds)
    restarted.restart()
    task = restarted.tasks[0]
    assert len(task.states) > 0 and task.states.parsed == 0
    assert task.index._current == deadlines and deadlines
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
    assert record["errors"] == ["state: StateUnreadable"]
    assert [c["event_id"] for c in driver.read(OutputKind.POLICY_CLEAN)] == ["a1", "b1", "b2"]
    assert driver.stage_errors["state"] == 1


# -- bounded memory and the local store ----------------------------------------------------------


def _outputs(driver: TopologyDriver) -> list[bytes]:
    return [output.value for output in driver.outputs]


def test_a_cache_of_two_parsed_states_gives_every_answer_an_unbounded_one_gives() -> None:
    """States evicted from memory are parsed again from their committed bytes (held edits'
    records included): the outputs are byte for byte the same."""
    unbounded, bounded = TopologyDriver(start=NOW), TopologyDriver(start=NOW, state_cache_size=2)
    for driver in (unbounded, bounded):
        _pipe(driver, EVENTS)
        driver.finish()
    assert bounded.tasks[0].states.parsed <= 2 < unbounded.tasks[0].states.parsed
    assert _outputs(bounded) == _outputs(unbounded) and _outputs(bounded)


def test_a_worker_restarts_from_its_local_store_and_the_changelog_written_since(tmp_path) -> None:
    """RocksDB on local disk: the states before the checkpoint come from the store, only what was
    written after it from the changelog; the answers are those of a run that never stopped."""
    from streams.core.processor import InputRecord, Processor
    from streams.core.ruleset import RuleSet
    from streams.core.task import PartitionTask
    from streams.local_state import RocksBacking
    from tests.oracle import encode as as_bytes

    def records(events: list) -> list[InputRecord]:
        from streams.core.origin import Origin
        return [InputRecord(as_bytes(document), Origin(topic=f"{stream.value}-events", partition=0, offset=i), stream)
                for i, (stream, document) in enumerate(events)]

    processor = Processor(RuleSet.default())
    inputs = records(EVENTS)
    third = len(inputs) // 3

    straight = processor.new_task(0)
    expected = [o.value for r in inputs for o in processor.process(straight, r, NOW).outputs]
    expected += [o.value for o in processor.finish(straight, NOW).outputs]

    changelog: list[tuple[str, bytes | None]] = []
    store = RocksBacking(tmp_path / "p0")
    task = processor.new_task(0, backing=store, cache_size=3)
    got: list[bytes] = []
    for i, record in enumerate(inputs[: 2 * third]):
        got += [o.value for o in processor.process(task, record, NOW).outputs]
        changelog += list(task.take_dirty().items())
        if i == third:
            task.checkpoint(len(changelog) - 1)  # acknowledged up to here; the rest were written after
    checkpoint = store.checkpoint()
    assert checkpoint is not None and checkpoint < len(changelog) - 1
    store.close()

    reopened = RocksBacking(tmp_path / "p0")
    assert reopened.checkpoint() == checkpoint
    tail = {key.encode(): value for key, value in changelog[checkpoint + 1:]}
    task = PartitionTask.restore(processor.machine, 0, tail, backing=reopened, cache_size=3,
                                 lateness_s=processor.machine.config.max_lateness_s)
    assert task.states.parsed <= 3
    for record in inputs[2 * third:]:
        got += [o.value for o in processor.process(task, record, NOW).outputs]
    got += [o.value for o in processor.finish(task, NOW).outputs]
    assert got == expected
    reopened.close()


def test_a_local_store_held_by_another_process_is_not_shared(tmp_path) -> None:
    from streams.local_state import open_partition_store

    first = open_partition_store(str(tmp_path), "app", 3)
    second = open_partition_store(str(tmp_path), "app", 3)  # the same directory, still open
    try:
        assert second.scratch and second.path != first.path and second.checkpoint() is None
    finally:
        second.close()
        first.close()
    assert not second.path.exists()


def test_a_stored_state_without_its_index_that_cannot_be_read_costs_its_policy_not_a_restart() -> None:
    """A worker restarting on a changelog with one unreadable record of its own format does not
    stop (a crash loop at every restart): that policy's next event is quarantined instead."""
    driver = TopologyDriver(start=NOW)
    driver.pipe(Stream.POLICY, policy_event(event_id="a1", policy_no="PA"))
    driver.pipe(Stream.POLICY, policy_event(event_id="b1", policy_no="PB"))
    driver.changelog[0][b"PA"] = json.dumps({"v": 2, "policy_no": "PA", "slots": "not a list"}).encode()
    driver.restart()
    driver.pipe(Stream.POLICY, policy_event(event_id="a2", policy_no="PA", event_type="APPLICATION_AMENDED"))
    driver.pipe(Stream.POLICY, policy_event(event_id="b2", policy_no="PB", event_type="APPLICATION_AMENDED"))
    [record] = driver.read(OutputKind.QUARANTINE)
    assert record["event_id"] == "a2" and record["errors"] == ["state: StateUnreadable"]
    assert [c["event_id"] for c in driver.read(OutputKind.POLICY_CLEAN)] == ["a1", "b1", "b2"]


def test_freezing_the_restored_states_keeps_no_garbage() -> None:
    """Each assignment freezes what is alive; a garbage cycle alive in the collector's view then
    would never be collected (a frozen object is out of every collection)."""
    import gc
    import weakref

    from streams.core.task import freeze_restored

    class Node:
        pass

    try:
        cycle = Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        gone = weakref.ref(cycle)
        del cycle  # garbage now, freed only by a collection
        freeze_restored()
        gc.collect()
        assert gone() is None
        kept = Node()
        freeze_restored()  # a second assignment: what the first froze is looked at again
        assert gc.get_freeze_count() > 0 and kept is not None
    finally:
        gc.unfreeze()
