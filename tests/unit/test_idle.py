"""When the wall clock may stand in for a topic partition's stream time (streams.idle)."""
from __future__ import annotations

from streams.idle import IdleClocks

P = ("endorsement", 0)


def clocks() -> IdleClocks:
    return IdleClocks(idle_after_s=5.0, stall_after_s=2.6)


def test_caught_up_and_quiet_for_the_idle_time_is_idle() -> None:
    c = clocks()
    c.record(P, 41, now=100.0)  # offset 41 processed: 42 is next
    assert not c.idle(P, end=42, position_offset=None, now=104.9)
    assert c.idle(P, end=42, position_offset=None, now=105.0)


def test_records_waiting_unread_are_never_quiet_however_long_nothing_came() -> None:
    c = clocks()
    c.record(P, 41, now=100.0)
    assert not c.idle(P, end=50, position_offset=None, now=200.0)  # eight records wait
    c.record(P, 49, now=201.0)
    assert not c.idle(P, end=50, position_offset=None, now=205.0)  # caught up at 201: quiet only 4 s
    assert c.idle(P, end=50, position_offset=None, now=206.0)


def test_an_unknown_end_is_not_caught_up() -> None:
    c = clocks()
    c.start(P, now=0.0)
    assert not c.idle(P, end=None, position_offset=None, now=60.0)


def test_nothing_processed_yet_goes_by_the_consumers_position() -> None:
    c = clocks()
    c.start(P, now=0.0)
    assert not c.idle(P, end=10, position_offset=3, now=60.0)
    assert not c.idle(P, end=10, position_offset=10, now=61.0)  # caught up from now on
    assert c.idle(P, end=10, position_offset=10, now=66.0)


def test_a_stall_between_sweeps_is_not_quiet_time() -> None:
    """SIGSTOP for 12 s: the first sweep after it starts every clock over."""
    c = clocks()
    c.record(P, 9, now=100.0)
    assert c.sweep(100.2) is None
    assert c.sweep(112.4) is not None  # the process did not run for 12 s
    assert not c.idle(P, end=10, position_offset=None, now=112.4)
    assert not c.idle(P, end=10, position_offset=None, now=117.3)
    assert c.idle(P, end=10, position_offset=None, now=117.4)


def test_a_rebalance_starts_over_and_forgets_what_was_processed() -> None:
    c = clocks()
    c.record(P, 9, now=100.0)
    c.start(P, now=150.0)  # reassigned: its position here is unknown again
    assert not c.idle(P, end=10, position_offset=None, now=200.0)
    c.restart(now=300.0)
    assert not c.idle(P, end=10, position_offset=10, now=304.0)
