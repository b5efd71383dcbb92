"""deploy/compose: a valid Compose file whose parts find each other (no Docker here: checked
against the Compose Specification's schema and against the files it mounts)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

from streams.settings import SETTINGS_FILE_VARIABLE, Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
SCHEMA = Path(__file__).resolve().parents[1] / "data" / "schemas" / "compose-spec.json"


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def services() -> dict[str, Any]:
    return compose()["services"]


def workers() -> dict[str, Any]:
    return {name: service for name, service in services().items() if service.get("command") == ["worker"]}


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path → the file or directory on the host, which must exist (a named volume, such
    as Redis's data, must be declared at the top level instead)."""
    result = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if not source.startswith((".", "/")):
            assert source in (compose().get("volumes") or {}), f"named volume {source} is not declared"
            continue
        result[target] = (COMPOSE.parent / source).resolve()
    return result


def test_redis_keeps_the_customer_index_across_a_restart() -> None:
    redis = services()["redis"]
    assert redis["command"][:3] == ["redis-server", "--appendonly", "yes"]
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_the_compose_file_is_valid_for_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in jsonschema.Draft7Validator(schema).iter_errors(compose())]
    assert errors == []
    broken = compose()
    broken["services"]["redis"]["healthcheck"]["interval"] = {"seconds": 5}  # and a broken one is caught
    assert not jsonschema.Draft7Validator(schema).is_valid(broken)


def test_every_mounted_file_exists() -> None:
    for name, service in services().items():
        for target, source in mounts(service).items():
            assert source.exists(), f"{name} mounts {source} at {target}: no such file"


def test_kafka_runs_in_kraft_mode_and_two_workers_share_one_group(monkeypatch: pytest.MonkeyPatch) -> None:
    kafka = services()["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller" and "ZOOKEEPER" not in " ".join(kafka)
    assert services()["kafka"]["image"].startswith("apache/kafka:")
    assert len(workers()) == 2
    advertised = {urlparse(url).netloc for url in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for name, worker in workers().items():
        environment = worker["environment"]
        assert environment["KAFKA_BOOTSTRAP_SERVERS"] in advertised
        assert urlparse(environment["REDIS_URL"]).hostname == "redis" and "redis" in services()
        assert re.fullmatch(r"\$\{POLICYGUARD_HASH_SECRET:\?.+\}", environment["POLICYGUARD_HASH_SECRET"])
        assert worker["depends_on"]["kafka"] == {"condition": "service_healthy"}
        settings_file = mounts(worker)[environment[SETTINGS_FILE_VARIABLE]]
        monkeypatch.setenv(SETTINGS_FILE_VARIABLE, str(settings_file))
        settings = Settings()  # the workers' settings file loads
        assert settings.app_id == "policyguard", f"{name}: both workers must be one consumer group"


def test_prometheus_scrapes_both_workers_and_alerts_through_alertmanager(monkeypatch: pytest.MonkeyPatch) -> None:
    prometheus = services()["prometheus"]
    config_dir = mounts(prometheus)["/etc/prometheus"]
    config = yaml.safe_load((config_dir / "prometheus.yml").read_text(encoding="utf-8"))
    monkeypatch.setenv(SETTINGS_FILE_VARIABLE, str(DEPLOY / "compose" / "policyguard.toml"))
    port = Settings().metrics_port
    job, = config["scrape_configs"]
    targets = {target for static in job["static_configs"] for target in static["targets"]}
    assert targets == {f"{name}:{port}" for name in workers()}
    manager, = (target for entry in config["alerting"]["alertmanagers"] for static in entry["static_configs"]
                for target in static["targets"])
    assert manager.split(":")[0] in services() and "9093" in manager
    assert all((config_dir / rule_file).exists() for rule_file in config["rule_files"])


def test_alertmanager_reaches_the_dingtalk_bridge() -> None:
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
    urls = {hook["url"] for receiver in config["receivers"] for hook in receiver.get("webhook_configs", [])}
    bridge = services()["policyguard-dingtalk"]
    listen = bridge["command"][bridge["command"].index("--listen") + 1]
    assert urls == {f"http://policyguard-dingtalk:{listen.rsplit(':', 1)[1]}/alertmanager"}


def test_alertmanager_sends_the_bridge_the_token_the_bridge_requires() -> None:
    """One variable feeds both: the bridge's setting, and the compose secret Alertmanager reads as
    its bearer credentials; compose refuses to start without it, as the bridge would."""
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
    hooks = [hook for receiver in config["receivers"] for hook in receiver.get("webhook_configs", [])]
    files = {hook["http_config"]["authorization"]["credentials_file"] for hook in hooks}
    assert all(hook["http_config"]["authorization"].get("type", "Bearer") == "Bearer" for hook in hooks)
    secret_name = files.pop().removeprefix("/run/secrets/")
    assert files == set() and secret_name in services()["alertmanager"]["secrets"]
    variable = compose()["secrets"][secret_name]["environment"]
    bridge = services()["policyguard-dingtalk"]["environment"]
    assert variable == "POLICYGUARD_DINGTALK_BRIDGE_TOKEN"
    assert re.fullmatch(rf"\$\{{{variable}:\?.+\}}", bridge["POLICYGUARD_DINGTALK_BRIDGE_TOKEN"])


def test_grafana_provisions_the_dashboard_and_its_datasource() -> None:
    grafana = mounts(services()["grafana"])
    provider = yaml.safe_load(grafana["/etc/grafana/provisioning/dashboards/policyguard.yml"].read_text())
    path, = (p["options"]["path"] for p in provider["providers"])
    dashboards = {target: source for target, source in grafana.items() if target.startswith(path + "/")}
    assert [source.name for source in dashboards.values()] == ["policyguard-overview.json"]
    datasource, = yaml.safe_load(grafana["/etc/grafana/provisioning/datasources/prometheus.yml"].read_text())[
        "datasources"]
    assert datasource["type"] == "prometheus" and datasource["isDefault"]
    assert urlparse(datasource["url"]).hostname == "prometheus" and "prometheus" in services()
