"""The demo: embedded broker + Redis + a real worker process + the built-in scenario."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr

from streams.accounting import Accounting, collect
from streams.core.crosspolicy import DEV_SECRET, Hasher
from streams.core.crosspolicy.roster import Roster, parse_roster
from streams.demo.scenario import ROSTER_CSV, Scene, scenes
from streams.embedded.processes import ChildProcess, ProcessGroup, StartupFailed, free_port
from streams.embedded.redis_server import start_redis
from streams.embedded.tansu import start_tansu
from streams.produce import Published, publish
from streams.redis_store import RedisStore
from streams.settings import BrokerProfile, Settings
from streams.topics import TopicSetupError, ensure_topics

DEMO_GRACE_S = 5.0  # the demo cannot wait the production 10 minutes for a late authorization


def worker_env(settings: Settings, metrics_port: int, data_dir: str) -> dict[str, str]:
    quiet = settings.model_copy(
        update={"metrics_port": metrics_port, "metrics_host": "127.0.0.1", "log_level": "WARNING", "data_dir": data_dir,
                "detection": settings.detection.model_copy(
                    update={"arrival_grace_s": min(settings.detection.arrival_grace_s, DEMO_GRACE_S)})}
    )
    return {**os.environ, **quiet.as_env(), "PYTHONUNBUFFERED": "1"}


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_demo(settings: Settings, *, serve: bool = False, timeout_s: float = 150.0, out: TextIO = sys.stdout) -> int:
    signal.signal(signal.SIGTERM, _raise_interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="policyguard-demo-"))
    started = time.monotonic()

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    keep = False  # the folder (its logs) is kept only when the demo failed
    try:
        code = _run(settings, workdir, serve, timeout_s, started, say)
        keep = code not in (0, 130)
        return code
    finally:
        if keep:
            say(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(settings: Settings, workdir: Path, serve: bool, timeout_s: float, started: float, say: Any) -> int:
    embedded = not settings.kafka_bootstrap_servers
    with ProcessGroup() as group:
        try:
            if embedded:
                bootstrap = start_tansu(group, workdir)
                settings = settings.model_copy(
                    update={"kafka_bootstrap_servers": bootstrap, "broker_profile": BrokerProfile.EMBEDDED}
                )
                say(f"started embedded broker (tansu, memory storage) on {bootstrap}")
            if settings.hash_secret is None:
                settings = settings.model_copy(update={"hash_secret": SecretStr(DEV_SECRET)})
            if not settings.redis_url:
                settings = settings.model_copy(update={"redis_url": start_redis(group, workdir)})
                say(f"started redis-server on {settings.redis_url}")
                # Only into a Redis of its own: a configured one may hold a real roster.
                roster = asyncio.run(_load_roster(settings))
                say(f"loaded the demo staff roster: {roster.summary()}")
            asyncio.run(ensure_topics(settings))
            metrics_port = free_port()
            worker = group.add(
                ChildProcess(
                    "worker",
                    [sys.executable, "-m", "streams.cli.main", "worker"],
                    workdir / "worker.log",
                    env=worker_env(settings, metrics_port, str(workdir / "worker-data")),
                ).start()
            )
            worker_started = time.monotonic()
            say(f"started worker (pid {worker.pid}); logs in {workdir} (removed at the end unless the demo fails)")
            pairs = asyncio.run(_publish(settings, scenes()))
            published = [record for record, _ in pairs]
            say(f"published {len(published)} events; waiting until every one is accounted for…")
            accounting = asyncio.run(
                collect(
                    settings.kafka_bootstrap_servers or "",
                    [settings.topic_policy_clean, settings.topic_endorsement_clean],
                    settings.topic_quarantine,
                    Accounting(published),
                    timeout_s=timeout_s,
                    alive=worker.running,
                    other_topics=[settings.topic_alerts, settings.topic_commission],
                )
            )
        except (StartupFailed, TopicSetupError) as exc:
            say(f"demo could not start: {exc}")
            return 1
        except KeyboardInterrupt:
            say("interrupted; stopping worker, Redis and broker")
            return 130
        if not accounting.complete:
            say(f"demo failed: {len(accounting.missing)} of {len(published)} inputs never came out")
            if not worker.running():
                say(f"the worker exited:\n{worker.log_tail()}")
            return 1
        try:  # from here on the demo has its answer: Ctrl-C only ends it early
            first = (accounting.first_output_at or worker_started) - worker_started
            _print_summary(say, pairs, accounting, first, time.monotonic() - started)
            alerts = accounting.others.get(settings.topic_alerts, [])
            instructions = accounting.others.get(settings.topic_commission, [])
            _print_alerts(say, alerts, instructions)
            _print_metrics(say, f"http://127.0.0.1:{metrics_port}/metrics", serving=serve)
            if accounting.duplicated:
                say(f"demo failed: {len(accounting.duplicated)} inputs came out more than once")
                return 1
            if serve:
                say(f"note: the topics already hold the scenario's {len(published)} inputs, their "
                    f"{sum(accounting.topics().values())} clean and quarantine records, {len(alerts)} alerts and "
                    f"{len(instructions)} commission instructions, and /metrics counts them"
                    + ("; the broker keeps them in memory until the demo stops" if embedded else ""))
                say("serving: the worker keeps consuming; Ctrl-C stops it, Redis and the broker")
                say(f"  KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers} REDIS_URL={settings.redis_url}")
                while worker.running():
                    time.sleep(0.5)
        except KeyboardInterrupt:
            say("stopping")
    return 0


async def _load_roster(settings: Settings) -> Roster:
    store = RedisStore.from_url(settings.redis_url or "", settings.cross_policy, prefix=settings.redis_prefix)
    try:
        roster = parse_roster(ROSTER_CSV, Hasher(settings.secret()))
        await store.load_roster(roster.entries)
        return roster
    finally:
        await store.close()


async def _publish(settings: Settings, items: list[Scene]) -> list[tuple[Published, Scene]]:
    """Publish the scenes per topic; returns each scene beside where it landed."""
    topics = {"policy": settings.topic_policy_events, "endorsement": settings.topic_endorsement_events}
    pairs: list[tuple[Published, Scene]] = []
    for kind, topic in topics.items():
        chosen = [scene for scene in items if scene.topic == kind]
        landed = await publish(settings.kafka_bootstrap_servers or "", topic, [scene.value for scene in chosen])
        pairs += zip(landed, chosen, strict=True)
    return pairs


def outcome_tokens(document: dict[str, Any]) -> tuple[str, list[str]]:
    """(outcome, what to show): the clean status, or the quarantine reason and ERROR rules."""
    if "validation" in document:
        outcome = "clean" if document["validation"]["status"] == "PASS" else "clean_with_warnings"
        return outcome, [outcome, *dict.fromkeys(f["rule"] for f in document["validation"]["findings"])]
    errors = dict.fromkeys(f["rule"] for f in document["findings"] if f["severity"] == "ERROR")
    return "quarantined", [document["reason"], *errors]


def _print_summary(
    say: Any, pairs: list[tuple[Published, Scene]], accounting: Accounting, first_s: float, total_s: float
) -> None:
    outcomes: Counter[str] = Counter()
    unexpected = 0
    say("")
    say("PolicyGuard demo: what became of each input")
    say(f"  {'input (topic[partition]@offset)':<34} {'event_id':<26} outcome")
    for record, scene in pairs:
        (_, document), *_ = accounting.outputs[(record.topic, record.partition, record.offset)]
        outcome, shown = outcome_tokens(document)
        outcomes[outcome] += 1
        matches = set(shown) == set(scene.expect.split())
        unexpected += not matches
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        event_id = document.get("event_id") or "(unreadable)"
        say(f"  {where:<34} {event_id:<26} {' '.join(shown)}{'' if matches else f'  (expected {scene.expect})'}")
        findings = document["validation"]["findings"] if "validation" in document else document["findings"]
        for finding in findings:
            say(f"  {'':<34}   · {finding['rule']} @ {finding['party']}.{finding['field']}: {finding['message']}")
        for error in document.get("errors", []):
            say(f"  {'':<34}   · {error}")
    say("")
    say("totals: " + ", ".join(f"{name} {outcomes[name]}" for name in ("clean", "clean_with_warnings", "quarantined")))
    say("records on: " + ", ".join(f"{topic} {n}" for topic, n in sorted(accounting.topics().items())))
    say(f"every input accounted for exactly once: {accounting.complete and not accounting.duplicated}")
    if unexpected:
        say(f"{unexpected} inputs did not end as the scenario expects")
    say(f"first result {first_s:.1f}s after the worker started; whole demo {total_s:.1f}s")


def _print_alerts(say: Any, alerts: list[dict[str, Any]], instructions: list[dict[str, Any]]) -> None:
    say("")
    say(f"alerts ({len(alerts)}):")
    for alert in alerts:
        who = alert.get("responsible") or {}
        penalty = alert.get("penalty")
        fine = f", penalty {penalty['direct_cny']}/{penalty['supervisor_cny']} CNY" if penalty else ""
        say(f"  {alert['severity']} {alert['alert_type']} {alert['policy_no']}: responsible "
            f"{who.get('user_id')} ({who.get('role')}, supervisor {who.get('supervisor_id')}){fine}")
        for change in alert.get("changes", []):
            shown = change["new"] if change["old"] is None else f"{change['old']} → {change['new']}"
            say(f"      {change['party']}.{change['field']}: {shown}")
        say(f"      {alert['summary_zh']}")
    say(f"commission instructions ({len(instructions)}):")
    for item in instructions:
        say(f"  {item['action']} {item['policy_no']} intermediary {item['intermediary_code']} "
            f"reasons {', '.join(item['reasons'])}")


def _print_metrics(say: Any, url: str, *, serving: bool) -> None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError as exc:
        say(f"metrics: {url} (not reachable: {exc})")
        return
    shown = ("policyguard_events_total", "policyguard_alerts_total", "policyguard_unauthorized_edits_total",
             "policyguard_penalty_cny_total", "policyguard_commission_holds_open")
    lines = [line for line in text.splitlines() if line.startswith(shown)]
    if serving:
        say(f"metrics: {url}")
    else:  # the worker stops with the demo: say so rather than hand out an address that is gone
        say(f"metrics (scraped from {url} before the worker stopped; `policyguard demo --serve` keeps it up):")
    for line in lines:
        say(f"  {line}")


__all__ = ["run_demo"]
