"""How far the oldest era among a partition's latest event times has got (streams.core.event_time)."""
from __future__ import annotations

import random
from datetime import UTC, datetime

from streams.core.event_time import RECENT, oldest_era_end

DAY = 86_400.0
T0 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()


def test_one_era_however_sparse_or_bursty_is_its_latest_time() -> None:
    rng = random.Random(7)
    for mean_gap in (60.0, DAY / 2, 5 * DAY):
        times, t = [], T0
        for _ in range(RECENT):
            t += rng.expovariate(1 / mean_gap) if rng.random() < 0.7 else 0.0  # a group policy's burst
            times.append(t)
        rng.shuffle(times)  # read a little out of order
        assert oldest_era_end(times) == max(times), mean_gap


def test_a_backfill_beside_live_traffic_holds_the_time_at_the_backfills_progress() -> None:
    live = [T0 + n * 600 for n in range(200)]
    backfill = [T0 - 3 * 365 * DAY + n * DAY for n in range(20)]
    assert oldest_era_end(live + backfill) == max(backfill)
    assert oldest_era_end(backfill[:1] + live) == backfill[0]  # one record of it is enough


def test_a_lone_year_typed_far_back_holds_the_time_too_and_one_far_ahead_does_not() -> None:
    live = [T0 + n * 600 for n in range(100)]
    assert oldest_era_end([*live, T0 - 10 * 365 * DAY]) == T0 - 10 * 365 * DAY
    assert oldest_era_end([*live, T0 + 10 * 365 * DAY]) == max(live)


def test_nothing_read_is_no_time_and_a_weekend_is_no_era() -> None:
    assert oldest_era_end([]) is None
    friday = [T0 + n * 60 for n in range(100)]
    monday = [T0 + 2.5 * DAY + n * 60 for n in range(100)]
    assert oldest_era_end(friday + monday) == max(monday)  # under 7 days: one era


def test_a_stream_times_record_of_the_previous_release_seeds_the_recent_times_from_its_windows() -> None:
    """Restarting on an earlier release's changelog: its median windows are the recent times
    known, so an era they show is not forgotten at the upgrade."""
    import json

    from streams.core.origin import Stream
    from streams.core.task import decode_times

    old = json.dumps({"policy": "2024-05-01T00:00:00+08:00", "endorsement": None,
                      "windows": {"policy": ["2024-04-29T00:00:00+08:00", "2021-01-01T00:00:00+08:00",
                                             "2024-04-30T00:00:00+08:00", "2024-05-01T00:00:00+08:00",
                                             "2024-05-01T01:00:00+08:00"]}}).encode()
    _, windows, recent = decode_times(old)
    assert recent[Stream.POLICY] == [moment.timestamp() for moment in windows[Stream.POLICY]]
    assert oldest_era_end(recent[Stream.POLICY]) == datetime(2021, 1, 1, tzinfo=UTC).timestamp() - 8 * 3600
