"""How far the oldest era of event time still being read on a partition has got (streams.core.event_time.Eras)."""
from __future__ import annotations

import json
import random
from datetime import UTC, datetime

from streams.core.detection import StreamTimes
from streams.core.event_time import ERA_MEMORY, PROBATION, Eras
from streams.core.origin import Stream
from streams.core.task import decode_times, encode_times

DAY = 86_400.0
T0 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
LATENESS = 300.0


def read_all(eras: Eras, stamps: list[float], topic: str = "policy") -> Eras:
    """Each record against a stream time that follows the highest time read (a median in spirit)."""
    high: float | None = None
    for stamp in stamps:
        eras.read(topic, stamp, high, LATENESS)
        high = stamp if high is None else max(high, stamp)
    return eras


def test_one_era_in_order_however_sparse_or_bursty_is_no_older_era() -> None:
    rng = random.Random(7)
    for mean_gap in (60.0, DAY / 2, 20 * DAY):
        stamps, t = [], T0
        for _ in range(2_000):
            t += rng.expovariate(1 / mean_gap) if rng.random() < 0.7 else 0.0  # a group policy's burst
            stamps.append(t + rng.uniform(-LATENESS / 2, 0))  # a little out of order, within the allowance
        assert read_all(Eras(), stamps).cap() is None, mean_gap


def test_a_backfill_beside_live_traffic_holds_the_time_at_the_backfills_progress() -> None:
    live = [T0 + n * 600 for n in range(200)]
    backfill = [T0 - 3 * 365 * DAY + n * DAY for n in range(20)]
    mixed = [stamp for pair in zip(live[:20], backfill, strict=True) for stamp in pair] + live[20:]
    assert read_all(Eras(), mixed).cap() == max(backfill)
    close = [T0 - 60 * DAY + n * 5 * DAY for n in range(5)]  # an era only 60 days behind
    assert read_all(Eras(), live[:50] + close + live[50:]).cap() == max(close)


def test_a_paused_backfill_is_remembered_and_a_finished_one_forgotten() -> None:
    live = [T0 + n * 60 for n in range(ERA_MEMORY + 100)]
    eras = read_all(Eras(), [*live[:10], T0 - 365 * DAY, *live[10:ERA_MEMORY // 2]])
    assert eras.cap() == T0 - 365 * DAY  # still being read, as far as anyone knows
    read_all(eras, live[ERA_MEMORY // 2:])
    assert eras.cap() is None  # no record of it for ERA_MEMORY records: done


def test_an_older_era_takes_over_and_a_younger_one_does_not_move_it() -> None:
    live = [T0 + n * 60 for n in range(100)]
    two_loaders = [T0 - 365 * DAY, T0 - 305 * DAY, T0 - 365 * DAY + 600, T0 - 305 * DAY + 600]
    assert read_all(Eras(), [*live, *two_loaders]).cap() == T0 - 365 * DAY + 600


def test_an_era_on_either_topic_caps_the_time() -> None:
    eras = read_all(Eras(), [T0 + n * 60 for n in range(50)] + [T0 - 365 * DAY + DAY])
    read_all(eras, [T0 + n * 60 for n in range(50)] + [T0 - 365 * DAY], topic="endorsement")
    assert eras.cap() == T0 - 365 * DAY  # the backfill's endorsements lag its policy events


def test_a_stream_time_that_forms_or_leaps_is_held_where_it_was_for_a_while() -> None:
    eras = Eras()
    eras.hold(T0)
    read_all(eras, [T0 + DAY * 400 + n for n in range(PROBATION - 1)])
    assert eras.cap() == T0
    read_all(eras, [T0 + DAY * 401])
    assert eras.cap() is None


def test_the_eras_survive_a_restart_and_an_earlier_releases_record_holds_what_its_windows_show() -> None:
    eras = read_all(Eras(), [T0, T0 + 600, T0 - 365 * DAY])
    eras.hold(T0 - 10 * DAY)
    _, _, back = decode_times(encode_times(StreamTimes(), {}, eras))
    assert back == eras and back.cap() == T0 - 365 * DAY
    plain = json.dumps({"policy": "2024-05-01T00:00:00+08:00", "endorsement": None,
                        "windows": {"policy": ["2024-05-01T00:00:00+08:00"]}}).encode()
    _, windows, none = decode_times(plain)
    assert none.cap() is None and len(windows[Stream.POLICY]) == 1
    mixed = json.dumps({"policy": "2024-05-01T00:00:00+08:00", "endorsement": None,
                        "windows": {"policy": ["2024-04-30T00:00:00+08:00", "2021-03-01T00:00:00+08:00",
                                               "2024-05-01T00:00:00+08:00"]}}).encode()
    _, _, seeded = decode_times(mixed)
    assert seeded.cap() == datetime(2021, 3, 1, tzinfo=UTC).timestamp() - 8 * 3600


def test_one_record_behind_only_holds_the_time_back_and_several_make_a_backfill() -> None:
    """A single record read behind its topic may be a year typed wrong on a policy's first event:
    it holds the time back, but only several (a backfill) keep a caught-up topic from the wall clock."""
    live = [T0 + n * 60 for n in range(50)]
    one = read_all(Eras(), [*live, T0 - 365 * DAY])
    assert one.era_cap() == T0 - 365 * DAY and one.era_cap(records=2) is None
    several = read_all(Eras(), [*live, T0 - 365 * DAY, T0 - 365 * DAY + 600])
    assert several.era_cap(records=2) == T0 - 365 * DAY + 600
