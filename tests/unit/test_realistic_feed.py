"""Ten years of a policy-admin system's feed, generated with its violations planted (tests/feed.py):
every alert PolicyGuard raises is one the scenario planted, and every planted one is raised —
in event-time order and with the two topics interleaved at random, on one partition and on
three, with a restart in the middle."""
from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import pytest

from streams.core.driver import TopologyDriver
from streams.core.origin import Stream
from streams.core.outputs import OutputKind
from tests.feed import CST, END, Event, Feed, generate
from tests.oracle import encode

NOW = END + timedelta(days=30)  # replay runs after the feed's last day


def beside(first: list[Event], second: list[Event], share: float, seed: int) -> list[Event]:
    """Two sequences published at once, each in its own order: ``share`` of the records are the
    first's while both last."""
    rng = random.Random(seed)
    out, i, j = [], 0, 0
    while i < len(first) or j < len(second):
        if j == len(second) or (i < len(first) and rng.random() < share):
            out.append(first[i])
            i += 1
        else:
            out.append(second[j])
            j += 1
    return out


def merged_at_random(feed: Feed, seed: int) -> list[Event]:
    """Each topic in its own event-time order, the two merged at random: one topic may run far
    ahead of the other, as a lagging consumer or a backlog makes it."""
    ordered = feed.in_time_order()
    return beside([e for e in ordered if e[0] is Stream.POLICY], [e for e in ordered if e[0] is Stream.ENDORSEMENT],
                  0.5, seed)


def replay(events: list[Event], *, partitions: int, restart_at: int | None = None) -> TopologyDriver:
    driver = TopologyDriver(start=NOW, partitions=partitions)
    for index, (stream, document) in enumerate(events):
        if index == restart_at:
            driver.restart()
        driver.pipe(stream, encode(document), key=document["policy_no"].encode())  # partitioned by policy
    driver.finish()
    return driver


def raised(driver: TopologyDriver) -> set[tuple[str, str]]:
    alerts = driver.read(OutputKind.ALERTS)
    keys = [(a["alert_type"], a["source_event_ids"][-1]) for a in alerts]
    assert len(keys) == len(set(keys)), "an alert raised twice"
    return set(keys)


def accounted(driver: TopologyDriver) -> Counter[str]:
    """How many times each input event came out on a clean topic or in quarantine."""
    kinds = (OutputKind.POLICY_CLEAN, OutputKind.ENDORSEMENT_CLEAN, OutputKind.QUARANTINE)
    return Counter(record["event_id"] for kind in kinds for record in driver.read(kind))


@pytest.fixture(scope="module", params=[11, 12])
def feed(request: pytest.FixtureRequest) -> Feed:
    return generate(request.param)


def test_the_feed_is_realistic(feed: Feed) -> None:
    """What the generator made: years of event time, idle gaps, every kind of case planted."""
    times = [datetime.fromisoformat(document["occurred_at"]).astimezone(CST) for _, document in feed.events
             if document["event_id"] not in feed.typos]
    assert (max(times) - min(times)).days > 8 * 365
    kinds = Counter(kind for kind, _ in feed.planted)
    assert kinds["UNAUTHORIZED_CONTACT_EDIT"] >= 5 and kinds["RETURN_VISIT_INTERCEPTION"] >= 1
    assert feed.typos and len(feed.events) > 800
    assert any(document["channel"] == "GROUP" and len(document.get("insureds", [])) >= 20
               for _, document in feed.events)


@pytest.mark.parametrize("partitions", [1, 3])
def test_every_alert_on_the_feed_in_time_order_was_planted_and_every_planted_one_raised(
        feed: Feed, partitions: int) -> None:
    driver = replay(feed.in_time_order(), partitions=partitions)
    assert raised(driver) == feed.planted
    assert accounted(driver) == Counter(document["event_id"] for _, document in feed.events)
    assert driver.stage_errors == {}
    warned = {record["event_id"] for record in driver.read(OutputKind.POLICY_CLEAN)
              if any(f["rule"] == "EVENT_TIME_OUTLIER" for f in record["validation"]["findings"])}
    warned |= {record["event_id"] for record in driver.read(OutputKind.QUARANTINE)
               if any(f["rule"] == "EVENT_TIME_OUTLIER" for f in record["findings"])}
    assert warned == feed.typos


@pytest.mark.parametrize("seed", [1, 2])
def test_the_same_alerts_with_the_topics_interleaved_at_random_and_a_restart(feed: Feed, seed: int) -> None:
    events = merged_at_random(feed, seed)
    driver = replay(events, partitions=3, restart_at=len(events) // 2)
    assert raised(driver) == feed.planted
    assert accounted(driver) == Counter(document["event_id"] for _, document in feed.events)


@pytest.mark.parametrize("partitions", [1, 3])
@pytest.mark.parametrize("share", [0.15, 0.5, 0.85])
def test_a_go_live_backfill_published_beside_live_traffic_raises_exactly_the_planted_alerts(
        partitions: int, share: float) -> None:
    """Years-old history (2006–2012) loaded while the live feed (2016–2026) flows into the same
    topics, sparser, as dense, or denser: each era's deadlines wait for its own records, so no
    correction or authorization still to be read is judged missing, and nothing planted is missed."""
    history = generate(45, policies=60, start=datetime(2006, 3, 1, 9, 0, tzinfo=CST),
                       end=datetime(2012, 12, 31, 18, 0, tzinfo=CST))
    live = generate(46, policies=60)
    events = beside(history.in_time_order(), live.in_time_order(), share, seed=int(share * 100) + partitions)
    driver = replay(events, partitions=partitions, restart_at=len(events) // 3)  # the eras survive a restart
    assert raised(driver) == history.planted | live.planted
    assert accounted(driver) == Counter(document["event_id"] for _, document in [*history.events, *live.events])
    assert driver.stage_errors == {}


def test_a_backfill_published_in_chunks_with_long_pauses_raises_exactly_the_planted_alerts() -> None:
    """The backfill job sends 40 records, then live traffic flows alone for 700 records, again and
    again: the older era is remembered across the pauses."""
    history = generate(45, policies=60, start=datetime(2006, 3, 1, 9, 0, tzinfo=CST),
                       end=datetime(2012, 12, 31, 18, 0, tzinfo=CST))
    live = generate(47, policies=300)
    backfill, flowing = history.in_time_order(), live.in_time_order()
    events: list[Event] = []
    for start in range(0, max(len(backfill), len(flowing)), 40):
        events += backfill[start:start + 40] + flowing[start // 40 * 700:(start // 40 + 1) * 700]
    events += flowing[(len(backfill) // 40 + 1) * 700:]
    assert sorted(d["event_id"] for _, d in events) == sorted(d["event_id"] for _, d in [*backfill, *flowing])
    driver = replay(events, partitions=1)
    assert raised(driver) == history.planted | live.planted
