"""The due index against a naive model: same keys due, in the same order, and its heaps stay
proportional to what is pending however often deadlines move."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.detection.machine import Clock, StreamTimes
from streams.core.due_index import COMPACT_SLACK, DueIndex

T0 = datetime(2025, 1, 1, tzinfo=UTC)
KEYS = st.sampled_from([f"P{i}" for i in range(12)])
DEADLINES = st.dictionaries(st.sampled_from(list(Clock)), st.integers(0, 50).map(lambda m: T0 + timedelta(minutes=m)),
                            max_size=3)
OPS = st.lists(st.one_of(
    st.tuples(st.just("set"), KEYS, DEADLINES),
    st.tuples(st.just("discard"), KEYS, st.none()),
    st.tuples(st.just("due"), st.integers(0, 60), st.integers(0, 60)),
), max_size=80)


def _naive_due(model: dict[str, dict[Clock, datetime]], times: StreamTimes) -> list[str]:
    found: dict[str, datetime] = {}
    for key, deadlines in model.items():
        for clock, moment in list(deadlines.items()):
            now = times.on(clock)
            if now is not None and moment <= now:
                found[key] = min(found.get(key, moment), moment)
                del deadlines[clock]
    for key in [k for k, d in model.items() if not d]:
        del model[key]
    return sorted(found, key=lambda key: (found[key], key))


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_due_matches_a_naive_scan(ops: list[tuple]) -> None:
    index, model = DueIndex(), {}
    for op, a, b in ops:
        if op == "set":
            index.set(a, b)
            if b:
                model[a] = dict(b)
            else:
                model.pop(a, None)
        elif op == "discard":
            index.discard(a)
            model.pop(a, None)
        else:
            times = StreamTimes(T0 + timedelta(minutes=a), T0 + timedelta(minutes=b))
            assert index.due(times) == _naive_due(model, times)
        assert len(index) == len(model)


def test_moving_one_deadline_twenty_thousand_times_keeps_the_heaps_small() -> None:
    index = DueIndex()
    for i in range(20_000):
        index.set("P1", {Clock.POLICY: T0 + timedelta(seconds=i if i % 2 else 20_000 - i)})  # later and earlier
    heaps = sum(len(heap) for heap in index._heaps.values())
    assert heaps <= 2 + COMPACT_SLACK
    assert index.due(StreamTimes(T0 + timedelta(days=1), None)) == ["P1"]


def test_a_deadline_moved_later_pushes_nothing_and_surfaces_only_when_due() -> None:
    index = DueIndex()
    for key in ("P1", "P2"):
        for minutes in range(1, 100):  # every event pushes the retention back
            index.set(key, {Clock.ANY: T0 + timedelta(minutes=minutes)})
    assert sum(len(heap) for heap in index._heaps.values()) == 2
    assert index.due(StreamTimes(T0 + timedelta(minutes=50), T0 + timedelta(minutes=50))) == []
    assert sum(len(heap) for heap in index._heaps.values()) == 2
    assert index.due(StreamTimes(T0 + timedelta(minutes=99), T0 + timedelta(minutes=99))) == ["P1", "P2"]
