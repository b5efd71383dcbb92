"""Cross-policy answers independent of batching and arrival order, and caps that keep the newest.

The property: for any split of the same observations into batches and any interleaving of
policies that keeps each policy's own events in order (as partitions deliver them), the alerts
emitted, ids and content but the detection time, are those of one batch in policy order.
Then the reported cases one by one (issue 18, item 8), on real events.
"""
from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.crosspolicy import DEV_SECRET, CrossPolicyConfig, CrossPolicyStage, MemoryStore
from streams.core.origin import Stream
from streams.core.ruleset import RuleSet
from streams.cross_runner import CrossPolicyRunner
from tests.cross_cases import (
    DAY,
    Event,
    all_events,
    comparable,
    cross_alerts,
    customer,
    driver_with,
    farm_holder,
    in_order,
    interleave,
    issued,
    observations,
    pipe_all,
    run_batches,
    scenario,
    split,
)
from tests.lifecycle import policy
from tests.oracle import encode

SIZES = st.one_of(st.sampled_from([[1], [7], [500]]), st.lists(st.integers(1, 12), min_size=1, max_size=6))


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.randoms(use_true_random=False), SIZES)
def test_alerts_do_not_depend_on_batches_or_on_how_policies_interleave(
        world: random.Random, arrival: random.Random, sizes: list[int]) -> None:
    policies = scenario(world)
    reference = run_batches(MemoryStore(), [in_order(policies)])
    assert run_batches(MemoryStore(), split(interleave(policies, arrival), sizes)) == reference


@pytest.mark.parametrize("seed", range(4))
def test_the_fixed_splits_give_the_one_batch_answer(seed: int) -> None:
    """Sizes 1, 7, 500 and one batch, on three interleavings each."""
    policies = scenario(random.Random(seed))
    reference = run_batches(MemoryStore(), [in_order(policies)])
    for order in range(3):
        arrived = interleave(policies, random.Random(100 + order))
        for sizes in ([1], [7], [500], [len(arrived)]):
            assert run_batches(MemoryStore(), split(arrived, sizes)) == reference, (order, sizes)


def test_the_scenarios_raise_every_cross_policy_alert_type() -> None:
    """The property is not vacuous: its scenarios raise each type, some several on one mobile."""
    found: Counter[str] = Counter()
    most_shared = 0
    for seed in range(40):
        alerts = run_batches(MemoryStore(), [in_order(scenario(random.Random(seed)))])
        found.update(alert["alert_type"] for alert in alerts)
        most_shared = max(most_shared, sum(alert["alert_type"] == "SHARED_CONTACT" for alert in alerts))
    assert set(found) == {"IDENTITY_CONFLICT", "SHARED_CONTACT", "STAFF_PHONE_AS_CUSTOMER"}, found
    assert most_shared >= 3
    # The seeds the Redis tests replay (tests/integration/test_cross_order_redis.py) raise every type too.
    assert {alert["alert_type"] for seed in range(6)
            for alert in run_batches(MemoryStore(), [in_order(scenario(random.Random(seed)))])} == set(found)


# -- the reported cases, on real events -----------------------------------------------------------


def _alerts_in_batches(events: list[Event], sizes: list[int], config: CrossPolicyConfig | None = None
                       ) -> list[dict[str, Any]]:
    stage = CrossPolicyStage.default(DEV_SECRET, config)
    runner = CrossPolicyRunner(stage, MemoryStore(config))
    alerts = []
    for batch in split(observations(events, stage), sizes):
        alerts += asyncio.run(runner.run(batch, datetime(2025, 1, 1, tzinfo=UTC)))
    return sorted((comparable(alert.model_dump(mode="json")) for alert in alerts), key=lambda a: a["alert_id"])


def _canonical(alerts: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(comparable(alert), sort_keys=True) for alert in alerts)


def _four_on_one_mobile() -> list[Event]:
    """Holders first using the mobile on days 10, 11 and 12, and one on day 0 whose events come last."""
    late = issued("XF0", farm_holder(0))
    return [*issued("XF1", farm_holder(1), minutes=10 * DAY), *issued("XF2", farm_holder(2), minutes=11 * DAY),
            *issued("XF3", farm_holder(3), minutes=12 * DAY), *late]


def test_four_holders_on_one_mobile_raise_the_same_alerts_wherever_the_first_one_arrives() -> None:
    events = _four_on_one_mobile()
    late_first = events[-3:] + events[:-3]
    first_last = cross_alerts(pipe_all(driver_with(MemoryStore()), events))
    first_first = cross_alerts(pipe_all(driver_with(MemoryStore()), late_first))
    assert _canonical(first_last) == _canonical(first_first)
    assert sorted(a["policy_no"] for a in first_last) == ["XF0", "XF1", "XF2", "XF3"]


def _typo_fixed_within_a_batch() -> list[Event]:
    """XT1 says 王建国; XT2 is submitted as 王建华 and amended to 王建国 the next hour."""
    wang = customer("王建国", "M", "1975-02-14", region="110108", serial=31)
    typo = dict(wang, name="王建华")
    return [*issued("XT1", wang),
            policy("XT2", 1, "APPLICATION_SUBMITTED", 3 * DAY, holder=typo, channel="BANCASSURANCE"),
            policy("XT2", 2, "APPLICATION_AMENDED", 3 * DAY + 60, holder=wang, channel="BANCASSURANCE")]


def test_a_typo_corrected_inside_one_batch_still_raises_its_conflict() -> None:
    events = _typo_fixed_within_a_batch()
    one_batch, one_by_one = _alerts_in_batches(events, [len(events)]), _alerts_in_batches(events, [1])
    assert one_batch == one_by_one
    assert [(a["alert_type"], a["policy_no"], a["source_event_ids"]) for a in one_batch] == [
        ("IDENTITY_CONFLICT", "XT2", ["XT2-p01"])]


def _replayed(tmp_path: Path, events: list[Event], batch: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from streams import replay as replay_module
    from streams.core.crosspolicy import Hasher
    from streams.core.crosspolicy.roster import parse_roster
    from tests.cross_cases import ROSTER_CSV

    monkeypatch.setattr(replay_module, "CROSS_BATCH", batch)
    out = tmp_path / f"out-{batch}"
    files = []
    for name, stream in (("policy.jsonl", Stream.POLICY), ("endorsement.jsonl", Stream.ENDORSEMENT)):
        path = tmp_path / name
        path.write_bytes(b"".join(encode(doc) + b"\n" for s, doc in events if s is stream))
        files.append(path)
    store = MemoryStore()
    asyncio.run(store.load_roster(parse_roster(ROSTER_CSV, Hasher(DEV_SECRET)).entries))
    runner = CrossPolicyRunner(CrossPolicyStage.default(DEV_SECRET), store)
    replay_module.replay(files, out, ruleset=RuleSet.default(), cross=runner,
                         clock=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    return _canonical(cross_alerts([json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]))


def test_replay_gives_the_same_alerts_whatever_its_batch_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = all_events() + _four_on_one_mobile() + _typo_fixed_within_a_batch()
    answers = {batch: _replayed(tmp_path, events, batch, monkeypatch) for batch in (1, 7, 500)}
    assert answers[1] == answers[7] == answers[500]
    assert len(answers[1]) > 10


# -- caps keep the newest -------------------------------------------------------------------------


def test_a_full_mobile_keeps_its_newest_holders_and_still_alerts_for_new_ones() -> None:
    """Three holders fill the mobile (months apart: no crowd); three new ones a year later, in one
    week, are each flagged, and the mobile then holds the newest three."""
    config = CrossPolicyConfig(holders_per_mobile=3)
    old = [event for n in range(3) for event in issued(f"XO{n}", farm_holder(n), minutes=n * 60 * DAY)]
    new = [event for n in range(3) for event in issued(f"XN{n}", farm_holder(10 + n), minutes=(365 + n) * DAY)]
    store = MemoryStore(config)
    stage = CrossPolicyStage.default(DEV_SECRET, config)
    runner = CrossPolicyRunner(stage, store)
    alerts = []
    for obs in observations(old + new, stage):
        alerts += asyncio.run(runner.run([obs], datetime(2025, 1, 1, tzinfo=UTC)))
    assert sorted(a.policy_no for a in alerts if a.alert_type.value == "SHARED_CONTACT") == ["XN0", "XN1", "XN2"]
    (holders,) = store.mobiles.values()
    assert sorted(p for entry in holders.values() for p in entry["p"]) == ["XN0", "XN1", "XN2"]


def test_a_full_id_number_keeps_its_newest_policies_and_still_alerts_for_a_new_name() -> None:
    config = CrossPolicyConfig(policies_per_person=2)
    holder = customer("王建国", "M", "1975-02-14", region="110108", serial=31)
    events = [*issued("XG1", holder), *issued("XG2", holder, minutes=DAY),
              *issued("XG3", dict(holder, name="王建华"), minutes=2 * DAY)]
    alerts = _alerts_in_batches(events, [1], config)
    assert [(a["alert_type"], a["policy_no"]) for a in alerts] == [("IDENTITY_CONFLICT", "XG3")]


def test_a_full_key_drops_a_write_older_than_all_it_keeps_and_makes_room_for_a_newer_one() -> None:
    config = CrossPolicyConfig(holders_per_mobile=2)
    stage = CrossPolicyStage.default(DEV_SECRET, config)
    store = MemoryStore(config)

    def write(events: list[Event]) -> None:
        asyncio.run(store.exchange(stage.request(observations(events, stage))))

    def policies() -> list[str]:
        return sorted(p for holders in store.mobiles.values() for entry in holders.values() for p in entry["p"])

    write([event for n in range(2) for event in issued(f"XK{n}", farm_holder(n), minutes=(100 + n) * DAY)])
    before = json.dumps(store.mobiles, sort_keys=True)
    write(issued("XK8", farm_holder(8)))  # day 0: older than both kept
    assert json.dumps(store.mobiles, sort_keys=True) == before
    write(issued("XK9", farm_holder(9), minutes=200 * DAY))
    assert policies() == ["XK1", "XK9"]
