"""The customer index on a real redis-server: the same answers as the in-process store, no raw
PII in any key or value, and a hung Redis that costs validation nothing."""
from __future__ import annotations

import asyncio
import io
import json
import os
import pwd
import signal
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from streams.core.crosspolicy import DEV_SECRET, CrossPolicyConfig, CrossPolicyStage, MemoryStore
from streams.core.crosspolicy.index import Request, View
from streams.core.origin import Origin, Stream
from streams.core.outputs import OutputKind
from streams.core.pipeline import process_record
from streams.core.ruleset import RuleSet
from streams.customer_view import look_up
from streams.embedded.processes import ProcessGroup
from streams.embedded.redis_server import redis_server
from streams.redis_store import RedisStore
from tests.cross_cases import (
    ROSTER_CSV,
    all_events,
    cases,
    comparable,
    cross_alerts,
    customer,
    driver_with,
    pipe_all,
)
from tests.integration.conftest import Servers
from tests.lifecycle import policy
from tests.oracle import encode, resident_id

pytestmark = pytest.mark.integration

CASES = cases()
ROSTER_STAFF = len(ROSTER_CSV.splitlines()) - 1
"""Usable lines of the shared roster (every one is: its mobiles all differ)."""
StoreFactory = Callable[..., RedisStore]


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def redis_store(servers: Servers, prefix: str) -> StoreFactory:
    def make(url: str = servers.redis_url, timeout_s: float = 2.0) -> RedisStore:
        return RedisStore.from_url(url, CrossPolicyConfig(), prefix=prefix, timeout_s=timeout_s)
    return make


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_on_redis(name: str, redis_store: StoreFactory) -> None:
    alerts = cross_alerts(pipe_all(driver_with(redis_store()), CASES[name].events))
    assert Counter(alert["alert_type"] for alert in alerts) == CASES[name].alerts


@pytest.mark.parametrize("partitions", [1, 4])
def test_redis_gives_the_in_process_answers_whatever_the_order(redis_store: StoreFactory, partitions: int) -> None:
    expected = sorted(map(comparable, cross_alerts(pipe_all(driver_with(MemoryStore()), all_events()))),
                      key=lambda a: a["alert_id"])
    # Policies newest first: every pair and cluster is completed by its *older* member.
    events = all_events()
    by_policy: dict[str, list] = {}
    for event in events:
        by_policy.setdefault(event[1]["policy_no"], []).append(event)
    reordered = [event for policy in sorted(by_policy, reverse=True) for event in by_policy[policy]]
    found = cross_alerts(pipe_all(driver_with(redis_store(), partitions=partitions), reordered))
    assert sorted(map(comparable, found), key=lambda a: a["alert_id"]) == expected


def test_no_raw_id_number_phone_or_name_in_any_redis_key_or_value(servers: Servers, redis_store: StoreFactory,
                                                                   prefix: str) -> None:
    store = redis_store()
    driver = driver_with(store)
    pipe_all(driver, all_events())
    holder = all_events()[0][1]["policyholder"]
    driver.run(look_up(store, driver.cross.stage.hasher, "RESIDENT_ID", holder["id_no"], "auditor"))  # type: ignore[union-attr]
    client = redis.Redis.from_url(servers.redis_url)
    texts = []
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    assert len(keys) > 20
    for key in keys:
        kind = client.type(key).decode()
        texts.append(key.decode())
        if kind == "hash":
            texts += [part.decode() for pair in client.hgetall(key).items() for part in pair]
        elif kind == "string":
            texts.append(client.get(key).decode())
        elif kind == "list":
            texts += [item.decode() for item in client.lrange(key, 0, -1)]
        else:
            pytest.fail(f"unexpected {kind} key {key!r}")
    dump = "\n".join(texts)
    secrets: set[str] = set()
    for _, document in all_events():
        for party in [document.get("policyholder"), *document.get("insureds", [])]:
            if party:
                secrets |= {value for value in (party["id_no"], party["mobile"], party["name"], party.get("landline"))
                            if value}
    secrets |= {field for line in ROSTER_CSV.splitlines()[1:] for field in line.split(",")[2:] if field}
    leaked = sorted(secret for secret in secrets if secret in dump)
    assert leaked == []
    assert "auditor" in dump  # the audit trail names the caller, the ID only masked and hashed
    client.close()


class CountingStore(RedisStore):
    """The real store, counting the batches that reached Redis (a batch asks first whether the
    roster is there, then exchanges: a hung Redis stops it at the first)."""

    calls = 0

    async def roster_present(self) -> bool:
        self.calls += 1
        return await super().roster_present()

    async def exchange(self, request: Request) -> View:
        return await super().exchange(request)


def test_a_hung_redis_defers_the_checks_and_they_catch_up(tmp_path: Path, prefix: str) -> None:
    """A Redis that answers nothing costs one timeout, then nothing until the backoff has passed
    (on the runner's own clock, stepped here by hand: no assumption about this machine's speed)."""
    with ProcessGroup() as group:
        child, url = redis_server(group, tmp_path / "redis")
        base = RedisStore.from_url(url, CrossPolicyConfig(), prefix=prefix, timeout_s=0.3)
        store = CountingStore(base.client, base.config, prefix)
        driver = driver_with(store)
        runner = driver.cross
        assert runner is not None
        clock = [1000.0]
        runner.monotonic = lambda: clock[0]
        events = all_events()
        half = len(events) // 2
        for stream, document in events[:half]:
            driver.pipe(stream, encode(document), key=document["policy_no"].encode(), advance_s=1)
        child.signal(signal.SIGSTOP)  # alive, listening, answering nothing: every call times out
        try:
            before = store.calls
            for stream, document in events[half:]:
                driver.pipe(stream, encode(document), key=document["policy_no"].encode(), advance_s=1)
            attempts = store.calls - before
            assert runner.down_since is not None and runner.pending > 0
            # The backoff: one timed-out call, then no batch waits on Redis until 0.5 s have passed.
            assert attempts == 1, attempts
            clock[0] += 0.6
            driver.tick()
            assert store.calls - before == 2 and runner.backoff == 1.0  # failed again: the backoff doubles
        finally:
            child.signal(signal.SIGCONT)
        # Validation went on: every record was routed or is held for its authorization.
        routed = [o for o in driver.outputs if o.kind in (OutputKind.POLICY_CLEAN, OutputKind.ENDORSEMENT_CLEAN,
                                                           OutputKind.QUARANTINE)]
        held = sum(len(state.pending) for task in driver.tasks.values() for state in task.states.values())
        assert len(routed) + held == len(events)
        driver.tick()
        assert runner.pending > 0  # within the backoff: not retried yet
        clock[0] += 1.1
        driver.tick()  # the worker's timer does this: a retry once the backoff has passed
        assert runner.pending == 0 and runner.down_since is None
        driver.finish()
        alerts = cross_alerts(driver.read(OutputKind.ALERTS))
        assert Counter(a["alert_type"] for a in alerts) == sum((c.alerts for c in CASES.values()), Counter())


def test_roster_load_replaces_the_roster_atomically(servers: Servers, tmp_path: Path, prefix: str) -> None:
    from streams.cli.main import main

    env = {"REDIS_URL": servers.redis_url, "POLICYGUARD_REDIS_PREFIX": prefix,
           "POLICYGUARD_HASH_SECRET": "integration-test-secret"}
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER_CSV + "X9,NOBODY,13900000000\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert main(["roster", "load", str(roster)]) == 0
        client = redis.Redis.from_url(servers.redis_url)
        assert client.hlen(f"{prefix}:roster") == ROSTER_STAFF
        roster.write_text("user_id,role,mobile\nB1,SALES_AGENT,13700000001\n", encoding="utf-8")
        assert main(["roster", "load", str(roster)]) == 0
        assert client.hlen(f"{prefix}:roster") == 1
        assert not client.exists(f"{prefix}:roster:loading")
        roster.write_text("name,phone\n", encoding="utf-8")
        assert main(["roster", "load", str(roster)]) == 2  # not a roster: the old one stays
        assert client.hlen(f"{prefix}:roster") == 1
        values = json.dumps([v.decode() for v in client.hvals(f"{prefix}:roster")])
        assert "13700000001" not in values
        client.close()


def test_the_customer_command_shows_one_customer_across_channels(servers: Servers, redis_store: StoreFactory,
                                                                 prefix: str, capsys: pytest.CaptureFixture,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.cli.main import main

    store = redis_store()
    driver = driver_with(store, secret="integration-test-secret")
    pipe_all(driver, CASES["identity-conflict"].events)
    holder = CASES["identity-conflict"].events[0][1]["policyholder"]
    monkeypatch.setenv("REDIS_URL", servers.redis_url)
    monkeypatch.setenv("POLICYGUARD_REDIS_PREFIX", prefix)
    monkeypatch.setenv("POLICYGUARD_HASH_SECRET", "integration-test-secret")
    monkeypatch.setattr("sys.stdin", io.StringIO(holder["id_no"] + "\n"))  # never an argument: ps would show it
    assert main(["customer", "--operator", "compliance-7"]) == 0
    out = capsys.readouterr().out
    assert "XIC1" in out and "XIC2" in out and "AGENCY" in out and "BANCASSURANCE" in out
    assert "IDENTITY_CONFLICT" in out and "姓名不一致" in out
    assert holder["id_no"] not in out and holder["name"] not in out
    client = redis.Redis.from_url(servers.redis_url)
    (entry,) = [json.loads(item) for item in client.lrange(f"{prefix}:audit", 0, -1)]
    assert entry["operator"] == pwd.getpwuid(os.getuid()).pw_name and entry["operator_note"] == "compliance-7"
    assert holder["id_no"] not in json.dumps(entry)
    client.close()
    monkeypatch.delenv("POLICYGUARD_HASH_SECRET")
    monkeypatch.setattr("sys.stdin", io.StringIO(holder["id_no"] + "\n"))
    assert main(["customer"]) == 2


def test_hot_keys_are_capped_alike_on_both_stores(redis_store: StoreFactory) -> None:
    """A group policyholder on 600 policies, one mobile on 300 policyholders: both stores keep the
    same newest entries up to the caps, so a hot key never grows a batch's read without bound."""
    config = CrossPolicyConfig()
    stage = CrossPolicyStage.default(DEV_SECRET, config)
    company = customer("万达物业", "M", "1980-01-01", region="110101", serial=99, mobile="13700000000")
    events = [policy(f"XG{n:04d}", 1, "APPLICATION_SUBMITTED", n, holder=company) for n in range(600)]
    events += [policy(f"XH{n:04d}", 1, "APPLICATION_SUBMITTED", n, holder=dict(
        customer("钱进", "M", "1985-05-05", region="110101", serial=n % 100), mobile="13600000000",
        id_no=resident_id("11010" + str(n // 100), "1985-05-05", "M", n % 100))) for n in range(300)]
    verdicts = [process_record(encode(doc), Origin(topic="policy-events"), now=datetime(2025, 1, 1, tzinfo=UTC),
                               ruleset=RuleSet.default(), stream=stream) for stream, doc in events]
    request = stage.request([o for o in map(stage.observe, verdicts) if o is not None])
    memory, on_redis = MemoryStore(config), redis_store()

    async def both() -> tuple[View, View]:
        try:
            return await memory.exchange(request), await on_redis.exchange(request)
        finally:
            await on_redis.close()

    in_memory, in_redis = asyncio.run(both())
    person = stage.hasher.person("RESIDENT_ID", company["id_no"])
    assert len(in_redis.persons[person]) == config.policies_per_person == len(in_memory.persons[person])
    assert in_redis.persons == in_memory.persons
    assert in_redis.mobiles == in_memory.mobiles
    assert max(len(holders) for holders in in_redis.mobiles.values()) == config.holders_per_mobile
    assert sorted(in_redis.persons[person]) == [f"XG{n:04d}" for n in range(100, 600)]  # the newest 500


def test_replay_on_redis_and_in_process_give_the_same_alerts(servers: Servers, tmp_path: Path, prefix: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.cli.main import main

    files = []
    for name, stream in (("policy.jsonl", Stream.POLICY), ("endorsement.jsonl", Stream.ENDORSEMENT)):
        path = tmp_path / name
        path.write_bytes(b"".join(encode(doc) + b"\n" for s, doc in all_events() if s is stream))
        files.append(str(path))
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER_CSV, encoding="utf-8")
    monkeypatch.setenv("POLICYGUARD_HASH_SECRET", "integration-test-secret")
    monkeypatch.setenv("POLICYGUARD_REDIS_PREFIX", prefix)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["replay", *files, "--roster", str(roster), "--out", str(tmp_path / "memory")]) == 0
    monkeypatch.setenv("REDIS_URL", servers.redis_url)
    assert main(["replay", *files, "--roster", str(roster), "--out", str(tmp_path / "redis")]) == 0

    def alerts(out: str) -> list[dict]:
        lines = (tmp_path / out / "alerts.jsonl").read_text().splitlines()
        return sorted((comparable(json.loads(line)) for line in lines), key=lambda a: a["alert_id"])

    assert alerts("redis") == alerts("memory")
    assert Counter(a["alert_type"] for a in cross_alerts(alerts("redis"))) == sum(
        (c.alerts for c in CASES.values()), Counter())
    client = redis.Redis.from_url(servers.redis_url)
    assert client.hlen(f"{prefix}:roster") == ROSTER_STAFF  # --roster with REDIS_URL loads it there
    client.close()
    monkeypatch.delenv("POLICYGUARD_HASH_SECRET")
    assert main(["replay", *files, "--out", str(tmp_path / "refused")]) == 2  # never the development key on Redis


@pytest.mark.parametrize("worker", ["the-same-worker", "a-worker-restarted-on-its-data"])
def test_a_redis_restarted_empty_makes_the_checks_wait_for_the_roster(servers: Servers, redis_store: StoreFactory,
                                                                      prefix: str, tmp_path: Path,
                                                                      worker: str) -> None:
    """Redis lost everything (restarted without persistence): the staff-phone check must not run
    without the roster. The checks wait, counted, until the roster is loaded again, and then
    find the staff phone they would have missed. A worker restarted on its data directory
    remembers that it had seen a roster, so it waits too."""
    import redis as sync_redis

    from streams.core.crosspolicy.roster import parse_roster

    marker = tmp_path / "worker-data" / "roster-seen"
    store = redis_store()
    driver = driver_with(store, seen_marker=marker)
    runner = driver.cross
    assert runner is not None
    first = CASES["identity-conflict"].events
    for stream, document in first:
        driver.pipe(stream, encode(document), key=document["policy_no"].encode(), advance_s=1)
    assert runner.roster_seen and not runner.roster_missing
    client = sync_redis.Redis.from_url(servers.redis_url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)  # what a restart without persistence leaves of this index: nothing
    assert marker.exists()
    if worker == "a-worker-restarted-on-its-data":
        store = redis_store()  # a new process: its own connection, nothing in memory
        driver = driver_with(store, roster=None, seen_marker=marker)
        assert driver.cross is not None
        runner = driver.cross
    for stream, document in CASES["staff-phone"].events:
        driver.pipe(stream, encode(document), key=document["policy_no"].encode(), advance_s=1)
    assert runner.roster_missing and runner.pending > 0
    assert not [a for a in driver.read(OutputKind.ALERTS) if a["alert_type"] == "STAFF_PHONE_AS_CUSTOMER"]
    driver.run(store.load_roster(parse_roster(ROSTER_CSV, runner.stage.hasher).entries))
    driver.tick()
    assert not runner.roster_missing and runner.pending == 0
    staff = [a for a in driver.read(OutputKind.ALERTS) if a["alert_type"] == "STAFF_PHONE_AS_CUSTOMER"]
    assert [a["policy_no"] for a in staff] == ["XSP1"]


def test_checks_waiting_for_redis_survive_a_worker_killed_during_the_outage(servers: Servers,
                                                                            redis_store: StoreFactory,
                                                                            tmp_path: Path) -> None:
    """The inputs of a Redis outage are committed while their checks wait: a worker killed then
    (no close, no flush) must find those checks on its disk when it starts again, and run them
    once Redis answers."""
    from streams.cross_backlog import DiskBacklog
    from streams.embedded.processes import free_port
    from streams.local_state import RocksBacking

    where = tmp_path / "cross-backlog"
    dead = redis_store(url=f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.3)  # nothing listens there
    driver = driver_with(dead, roster=None, backlog=DiskBacklog(RocksBacking(where)))
    for stream, document in CASES["staff-phone"].events:
        driver.pipe(stream, encode(document), key=document["policy_no"].encode(), advance_s=1)
    assert driver.cross is not None and driver.cross.pending == 3
    del driver  # killed: the backlog is not closed, nothing is flushed by us

    import gc
    gc.collect()  # the killed process's handle on the directory is gone with it
    restarted = driver_with(redis_store(), backlog=DiskBacklog(RocksBacking(where)))
    assert restarted.cross is not None and restarted.cross.pending == 3
    restarted.tick()
    assert restarted.cross.pending == 0
    staff = [a for a in restarted.read(OutputKind.ALERTS) if a["alert_type"] == "STAFF_PHONE_AS_CUSTOMER"]
    assert [a["policy_no"] for a in staff] == ["XSP1"]
