"""On a real redis-server: the in-process store's one-batch answers whatever the batching and the
interleaving of policies, the same index content as the in-process store (caps included), and
caps that keep the newest without a dropped write ever extending a key's life."""
from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from streams.core.crosspolicy import DEV_SECRET, CrossPolicyConfig, CrossPolicyStage, MemoryStore, Observation
from streams.cross_runner import CrossPolicyRunner
from streams.redis_store import RedisStore
from tests.cross_cases import (
    DAY,
    FARM,
    farm_holder,
    in_order,
    interleave,
    issued,
    observations,
    run_batches,
    scenario,
    split,
)
from tests.integration.conftest import Servers

pytestmark = pytest.mark.integration

SEEDS = range(6)
"""Seeds whose scenarios raise every cross-policy alert type (tests/unit/test_cross_order.py checks)."""
SMALL_CAPS = CrossPolicyConfig(policies_per_person=2, holders_per_mobile=2, policies_per_mobile=2)


@pytest.fixture
def client(servers: Servers) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(servers.redis_url, decode_responses=True)
    yield connection
    connection.close()


def _store(servers: Servers, config: CrossPolicyConfig | None = None, prefix: str | None = None) -> RedisStore:
    return RedisStore.from_url(servers.redis_url, config or CrossPolicyConfig(),
                               prefix=prefix or f"t{uuid.uuid4().hex[:8]}")


def _held(client: redis.Redis, prefix: str) -> dict[str, dict[str, Any]]:
    """Every person and mobile entry under a prefix, decoded, keyed as the in-process store keys them."""
    held: dict[str, dict[str, Any]] = {"id": {}, "mob": {}}
    for table in held:
        for key in client.scan_iter(match=f"{prefix}:{table}:*"):
            held[table][key.split(":", 2)[2]] = {k: json.loads(v) for k, v in client.hgetall(key).items()}
    return held


def _flipping_names(count: int) -> list[Observation]:
    """One policy whose holder's name is rewritten ``count`` times, after everything else: more values
    than a field keeps."""
    events = scenario(random.Random(7))
    template = in_order(events)[0]
    sighting = template.sightings[0]
    return [
        Observation(event_id=f"XFLIP-p{n:02d}", policy_no="XFLIP", channel="AGENCY", branch_code=None,
                    at=datetime.fromtimestamp(2_000_000_000 + n * 3_600, tz=UTC), actor=template.actor,
                    sightings=(type(sighting)(sighting.person, sighting.id_masked, ("policyholder",),
                                              (("name", f"flip-{n % 11}"),)),))
        for n in range(count)
    ]


@pytest.mark.parametrize("seed", SEEDS)
def test_redis_gives_the_one_batch_answer_whatever_the_batches_and_interleaving(servers: Servers, seed: int) -> None:
    policies = scenario(random.Random(seed))
    reference = run_batches(MemoryStore(), [in_order(policies)])
    assert run_batches(_store(servers), [in_order(policies)]) == reference
    for order, sizes in enumerate(([1], [7], [3, 1, 4, 1, 5], [500])):
        arrived = interleave(policies, random.Random(1_000 * seed + order))
        assert run_batches(_store(servers), split(arrived, sizes)) == reference, sizes


@pytest.mark.parametrize("seed", SEEDS)
def test_both_stores_hold_the_same_index_also_when_caps_evict(servers: Servers, client: redis.Redis,
                                                              seed: int) -> None:
    """The same writes in the same order, with caps small enough to evict at every level (policies
    per person, holders per mobile, policies per holder, values per field)."""
    arrived = interleave(scenario(random.Random(seed)), random.Random(seed)) + _flipping_names(12)
    memory, on_redis = MemoryStore(SMALL_CAPS), _store(servers, SMALL_CAPS)
    assert run_batches(on_redis, split(arrived, [5])) == run_batches(memory, split(arrived, [5]))
    assert _held(client, on_redis.prefix) == {"id": memory.persons, "mob": memory.mobiles}
    assert max(len(values) for entries in memory.persons.values() for entry in entries.values()
               for values in entry["v"].values()) == 8  # the flipping name reached the values cap


def _run(store: RedisStore, stage: CrossPolicyStage, events: list) -> list[Any]:
    runner = CrossPolicyRunner(stage, store)
    loop = asyncio.new_event_loop()
    try:
        return [alert for obs in observations(events, stage)
                for alert in loop.run_until_complete(runner.run([obs], datetime(2025, 1, 1, tzinfo=UTC)))]
    finally:
        loop.run_until_complete(store.client.aclose())
        loop.close()


def test_a_full_mobile_on_redis_keeps_its_newest_holders_and_still_alerts_for_new_ones(
        servers: Servers, client: redis.Redis) -> None:
    config = CrossPolicyConfig(holders_per_mobile=3)
    stage = CrossPolicyStage.default(DEV_SECRET, config)
    store = _store(servers, config)
    old = [event for n in range(3) for event in issued(f"XO{n}", farm_holder(n), minutes=n * 60 * DAY)]
    new = [event for n in range(3) for event in issued(f"XN{n}", farm_holder(10 + n), minutes=(365 + n) * DAY)]
    alerts = _run(store, stage, old + new)
    assert sorted(a.policy_no for a in alerts if a.alert_type.value == "SHARED_CONTACT") == ["XN0", "XN1", "XN2"]
    key = f"{store.prefix}:mob:{stage.hasher.mobile(FARM)}"
    assert sorted(p for entry in client.hvals(key) for p in json.loads(entry)["p"]) == ["XN0", "XN1", "XN2"]


def test_a_write_a_full_key_drops_does_not_extend_its_life(servers: Servers, client: redis.Redis) -> None:
    config = CrossPolicyConfig(holders_per_mobile=2)
    stage = CrossPolicyStage.default(DEV_SECRET, config)
    store = _store(servers, config)
    loop = asyncio.new_event_loop()

    def write(events: list) -> None:
        loop.run_until_complete(store.exchange(stage.request(observations(events, stage))))

    try:
        key = f"{store.prefix}:mob:{stage.hasher.mobile(FARM)}"
        write([event for n in range(2) for event in issued(f"XK{n}", farm_holder(n), minutes=(100 + n) * DAY)])
        before = client.hgetall(key)
        client.expire(key, 100)
        write(issued("XK8", farm_holder(8)))  # older than both holders kept: dropped
        assert client.hgetall(key) == before
        assert 0 < client.ttl(key) <= 100
        write(issued("XK9", farm_holder(9), minutes=200 * DAY))  # newer: takes the oldest one's place
        assert client.ttl(key) > 100
        assert sorted(p for entry in client.hvals(key) for p in json.loads(entry)["p"]) == ["XK1", "XK9"]
    finally:
        loop.run_until_complete(store.client.aclose())
        loop.close()


def test_finding_an_alert_again_keeps_its_claim_alive(servers: Servers, client: redis.Redis) -> None:
    """A claim must outlive the facts that find its alert, or a later event would emit it again."""
    stage = CrossPolicyStage.default(DEV_SECRET)
    store = _store(servers)
    holders = [event for n in range(3) for event in issued(f"XC{n}", farm_holder(n), minutes=n * DAY)]
    alerts = _run(store, stage, holders)
    claims = [f"{store.prefix}:claim:{alert.alert_id}" for alert in alerts]
    assert len(claims) == 3
    for key in claims:
        client.expire(key, 100)
    later = issued("XC0", farm_holder(0), minutes=5 * DAY)[2:]  # XC0's next event: finds the alerts again
    refound = _run(_store(servers, prefix=store.prefix), stage,
                   [(stream, dict(doc, event_id="XC0-p09")) for stream, doc in later])
    assert refound == []  # claimed already: not emitted twice
    assert all(client.ttl(key) > 100 for key in claims)
