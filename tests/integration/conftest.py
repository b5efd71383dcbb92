"""Real servers for integration tests: one tansu broker and one redis-server per session.

Each test gets its own topic names and consumer group (a prefix), so tests share the
servers without seeing each other's records.
"""
from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from streams.accounting import Accounting
from streams.embedded.processes import ChildProcess, ProcessGroup, free_port
from streams.embedded.redis_server import start_redis
from streams.embedded.tansu import start_tansu
from streams.settings import BrokerProfile, Settings


@dataclass(frozen=True)
class Servers:
    bootstrap: str
    redis_url: str


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    workdir = tmp_path_factory.mktemp("servers")
    with ProcessGroup() as group:
        bootstrap = start_tansu(group, workdir)
        redis_url = start_redis(group, workdir)
        yield Servers(bootstrap, redis_url)


def settings_for(servers: Servers, tmp_path: Path, *, partitions: int = 1) -> Settings:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    return Settings(
        kafka_bootstrap_servers=servers.bootstrap,
        redis_url=servers.redis_url,
        redis_prefix=prefix,
        hash_secret="integration-test-secret",
        broker_profile=BrokerProfile.EMBEDDED,
        app_id=f"policyguard-{prefix}",
        topic_policy_events=f"{prefix}.policy-events",
        topic_endorsement_events=f"{prefix}.endorsement-events",
        topic_policy_clean=f"{prefix}.policy-events.clean",
        topic_endorsement_clean=f"{prefix}.endorsement-events.clean",
        topic_quarantine=f"{prefix}.quarantine",
        topic_alerts=f"{prefix}.alerts",
        topic_commission=f"{prefix}.commission",
        topic_partitions=partitions,
        metrics_port=free_port(),
        metrics_host="127.0.0.1",
        data_dir=str(tmp_path / "worker-data"),
        log_level="INFO",
    )


def short_grace(settings: Settings) -> Settings:
    """A 2 s authorization grace checked every 0.2 s, so held edits resolve within a test."""
    detection = settings.detection.model_copy(update={"arrival_grace_s": 2.0})
    return settings.model_copy(update={"detection": detection, "timer_interval_s": 0.2})


@pytest.fixture
def settings(servers: Servers, tmp_path: Path) -> Settings:
    return settings_for(servers, tmp_path)


def policyguard(args: list[str], settings: Settings, log: Path) -> ChildProcess:
    env = {**os.environ, **settings.as_env(), "PYTHONUNBUFFERED": "1"}
    return ChildProcess("policyguard " + " ".join(args), [sys.executable, "-m", "streams.cli.main", *args], log, env)


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator:
    group = ProcessGroup()

    def start(settings: Settings) -> ChildProcess:
        return group.add(policyguard(["worker"], settings, tmp_path / f"worker-{len(group.children)}.log").start())

    yield start
    group.stop_all()


def load_roster(settings: Settings, tmp_path: Path, roster_csv: str, *, name: str = "roster") -> Path:
    """``policyguard roster load`` of ``roster_csv``, as an operator runs it."""
    roster = tmp_path / f"{name}.csv"
    roster.write_text(roster_csv, encoding="utf-8")
    loader = policyguard(["roster", "load", str(roster)], settings, tmp_path / f"{name}.log").start()
    assert loader.popen is not None and loader.popen.wait(60) == 0, loader.log_tail()
    return roster


SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "json"


def schema_violations(accounting: Accounting, settings: Settings) -> list[str]:
    """Every record the workers produced checked against the published JSON Schema of its topic
    (schemas/json, what downstream consumers validate with): the first problems found."""
    def validator(record: str) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(json.loads((SCHEMAS / f"{record}.schema.json").read_text()))

    by_topic = {settings.topic_policy_clean: validator("clean-policy-event"),
                settings.topic_endorsement_clean: validator("clean-endorsement-event"),
                settings.topic_quarantine: validator("quarantine-record"),
                settings.topic_alerts: validator("alert"),
                settings.topic_commission: validator("commission-instruction")}
    records = [(topic, document) for found in accounting.outputs.values() for topic, document in found]
    records += [(topic, document) for topic, documents in accounting.others.items() for document in documents]
    problems = [f"{topic}: {error.json_path}: {error.message}"[:300] for topic, document in records
                for error in by_topic[topic].iter_errors(document)]
    assert records, "no records to check"
    return problems[:5]
