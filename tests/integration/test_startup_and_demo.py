"""Start-up refusal, the demo end to end, and clean shutdown of every child process."""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.conftest import Servers, policyguard, settings_for

pytestmark = pytest.mark.integration


def test_worker_refuses_inputs_that_are_not_co_partitioned(servers: Servers, tmp_path: Path) -> None:
    settings = settings_for(servers, tmp_path)

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(settings.topic_policy_events, 2, 1),
                                       NewTopic(settings.topic_endorsement_events, 3, 1)])
        finally:
            await admin.close()

    asyncio.run(create())
    worker = policyguard(["worker"], settings, tmp_path / "worker.log").start()
    assert worker.popen is not None
    code = worker.popen.wait(60)
    assert code == 2
    log = worker.log_tail()
    assert "not co-partitioned" in log and "has 2 partitions" in log and "has 3" in log


def test_worker_without_broker_setting_explains_itself(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    result = subprocess.run([sys.executable, "-m", "streams.cli.main", "worker"], env=env, capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert "KAFKA_BOOTSTRAP_SERVERS is not set" in result.stderr


def _http(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_worker_is_live_then_ready_and_a_second_on_its_port_says_why_it_cannot_start(
    servers: Servers, tmp_path: Path, worker_factory
) -> None:
    settings = settings_for(servers, tmp_path)
    worker = worker_factory(settings)
    port = settings.metrics_port
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _http(port, "/readyz") != 200:
        assert worker.running(), worker.log_tail()
        time.sleep(0.2)
    assert _http(port, "/readyz") == 200 and _http(port, "/healthz") == 200

    second = policyguard(["worker"], settings, tmp_path / "second.log").start()
    assert second.popen is not None and second.popen.wait(60) == 2
    assert (f"policyguard worker: cannot serve /metrics on 127.0.0.1:{port} (Address already in use); give each "
            "worker on a host its own POLICYGUARD_METRICS_PORT (0 disables it)") in second.log_tail()
    assert worker.running() and _http(port, "/healthz") == 200


def test_json_logs_are_one_object_per_line_from_start_to_stop(servers: Servers, tmp_path: Path) -> None:
    settings = settings_for(servers, tmp_path).model_copy(update={"log_format": "json", "log_level": "INFO"})
    worker = policyguard(["worker"], settings, tmp_path / "json.log").start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _http(settings.metrics_port, "/readyz") != 200:
            assert worker.running(), worker.log_tail()
            time.sleep(0.2)
    finally:
        assert worker.stop() is not None
    lines = [line for line in (tmp_path / "json.log").read_text().splitlines() if line.strip()]
    documents = [json.loads(line) for line in lines]  # raises on any line that is not one JSON object
    assert documents and all(set(d) >= {"time", "level", "logger", "message"} for d in documents)
    assert any(d["message"].startswith("topics ready") for d in documents)
    assert any(d["logger"].startswith(("faust", "mode", "aiokafka")) for d in documents)  # the libraries' too


def test_an_unreachable_broker_is_progress_then_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}", "POLICYGUARD_CONNECT_TIMEOUT_S": "6",
           "POLICYGUARD_METRICS_PORT": "0"}
    result = subprocess.run([sys.executable, "-m", "streams.cli.main", "worker"], env=env, capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (f"policyguard worker: cannot reach Kafka at 127.0.0.1:{port} within 6 s "
                         "(KafkaConnectionError); check KAFKA_BOOTSTRAP_SERVERS and that the broker is up "
                         "(POLICYGUARD_CONNECT_TIMEOUT_S sets the wait)")
    progress = lines[:-1]
    assert progress and all("waiting for Kafka at" in line for line in progress)  # every 5 s, nothing else
    assert "aiokafka" not in result.stderr and "Traceback" not in result.stderr


def test_demo_accounts_for_every_input_and_exits_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    scratch = tmp_path.parent / f"{tmp_path.name}-tmp"
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)  # where the demo makes its working folder
    result = subprocess.run([sys.executable, "-m", "streams.cli.main", "demo"], env=env, capture_output=True,
                            text=True, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "every input accounted for exactly once: True" in out
    assert "(expected" not in out  # every scene ended as the scenario says
    # Checked here too, against the scenario's hand-written expectations rather than the demo's
    # own comparison: one row per input, each with the outcome its scene expects.
    from streams.demo.scenario import scenes

    rows = re.findall(r"^  \S+\[\d+\]@\d+ +\S+ +(.+)$", out, flags=re.MULTILINE)
    expected = Counter(frozenset(scene.expect.split()) for scene in scenes())
    assert Counter(frozenset(row.split()) for row in rows) == expected
    outcome = {"clean": "clean", "clean_with_warnings": "clean_with_warnings"}
    totals = Counter(next((outcome[t] for t in tokens if t in outcome), "quarantined")
                     for tokens in expected.elements())
    assert (f"totals: clean {totals['clean']}, clean_with_warnings {totals['clean_with_warnings']}, "
            f"quarantined {totals['quarantined']}") in out
    on_topics = re.search(r"^records on: (.+)$", out, flags=re.MULTILINE)
    assert on_topics is not None
    assert sum(int(part.rsplit(" ", 1)[1]) for part in on_topics.group(1).split(", ")) == len(scenes())
    assert re.search(r"totals: clean \d+, clean_with_warnings \d+, quarantined \d+", out)
    assert "DECODE_ERROR" in out and "SCHEMA_ERROR" in out and "ID_CHECKSUM" in out
    assert re.search(r"metrics \(scraped from http://127\.0\.0\.1:\d+/metrics before the worker stopped; "
                     r"`policyguard demo --serve` keeps it up\):", out)
    assert "policyguard_events_total" in out
    # PII stays masked in what the demo prints.
    assert "13957102846" not in out and "陈晓明" not in out
    assert not list(tmp_path.iterdir()), "the demo must not litter the working directory"
    assert not list(scratch.iterdir()), "the demo removes its working folder when it succeeds"


def _port_open(host_port: str) -> bool:
    host, port = host_port.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes once its state is Z.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_ctrl_c_stops_the_serving_demo_and_all_its_children(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    env["PYTHONUNBUFFERED"] = "1"
    scratch = tmp_path.parent / f"{tmp_path.name}-tmp"
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    demo = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "demo", "--serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("serving"):
                break
        text = "".join(lines)
        assert "serving" in text, text
        assert re.search(r"note: the topics already hold the scenario's \d+ inputs, their \d+ clean and quarantine "
                         r"records, \d+ alerts and \d+ commission instructions", text), text
        broker = re.search(r"KAFKA_BOOTSTRAP_SERVERS=(\S+)", demo.stdout.readline()).group(1)
        redis = re.search(r"started redis-server on redis://([\d.]+:\d+)", text).group(1)
        worker_pid = int(re.search(r"started worker \(pid (\d+)\)", text).group(1))
        assert _port_open(broker) and _port_open(redis) and _pid_alive(worker_pid)

        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_port_open(broker) or _port_open(redis) or _pid_alive(worker_pid)):
        time.sleep(0.2)
    assert not _port_open(broker) and not _port_open(redis) and not _pid_alive(worker_pid)
    assert not list(scratch.iterdir()), "the serving demo removes its working folder when stopped"


def test_worker_refuses_a_bad_rules_file_naming_the_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[rules.ADDRESS_VAGUE]\nseverity = "ERROR"\n\n[rules.MOBILE_FORMATT]\nseverity = "OFF"\n')
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "POLICYGUARD_RULES_FILE": str(rules)}
    result = subprocess.run([sys.executable, "-m", "streams.cli.main", "worker"], env=env, capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{rules}, line 4: unknown rule id 'MOBILE_FORMATT'" in result.stderr


def test_produce_publishes_every_line_keyed_by_policy_no(servers: Servers, tmp_path: Path) -> None:
    from aiokafka import AIOKafkaConsumer

    samples = Path(__file__).resolve().parents[1] / "data" / "samples" / "endorsement-events.jsonl"
    source = tmp_path / "in.jsonl"
    source.write_bytes(samples.read_bytes() + b"\n\nnot json\n")
    topic = f"produce-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": servers.bootstrap}
    result = subprocess.run([sys.executable, "-m", "streams.cli.main", "produce", str(source), "--topic", topic],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"published 4 records to {topic}" in result.stdout

    async def read() -> list[tuple[bytes | None, bytes]]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=servers.bootstrap, group_id=None,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            got: list[tuple[bytes | None, bytes]] = []
            deadline = time.monotonic() + 30
            while len(got) < 4 and time.monotonic() < deadline:
                for messages in (await consumer.getmany(timeout_ms=200)).values():
                    got += [(m.key, m.value) for m in messages]
            return got
        finally:
            await consumer.stop()

    got = asyncio.run(read())
    # Order holds within a partition only: the unkeyed record may sit on another one.
    assert Counter(key for key, _ in got) == Counter({b"P86440324030002": 3, None: 1})
    assert [value for key, value in got if key is None] == [b"not json"]
