"""deploy/k8s: every resource valid for Kubernetes (and the Strimzi / Prometheus Operator CRDs),
offline, and consistent with what the worker needs."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from streams.changelog import changelog_topic
from streams.settings import SETTINGS_FILE_VARIABLE, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "schemas"
KUBERNETES = "1.30.0"  # the oldest minor still in support at most providers; the manifests use nothing newer
CRD_SCHEMAS = {("kafka.strimzi.io/v1", "KafkaTopic"): "kafkatopic-v1.schema.json",
               ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor-v1.schema.json"}


def resources() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, document) for path in sorted(K8S.glob("*.yaml"))
            for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [document for _, document in resources() if document["kind"] == kind]


def closed(schema: Any) -> Any:
    """The schema as the API server applies it: an object that lists its properties accepts no
    others unless it says x-kubernetes-preserve-unknown-fields."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) for key, value in schema.items()}
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        result["additionalProperties"] = False
    return result


def crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[(api_version, kind)]).read_text(encoding="utf-8"))
    schema = closed(schema)
    # metadata is the API server's own ObjectMeta: name and labels are what these manifests use.
    schema["properties"]["metadata"] = {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    }, "additionalProperties": False}
    return jsonschema.Draft7Validator(schema)


def crd_errors(document: dict[str, Any]) -> list[str]:
    validator = crd_validator(document["apiVersion"], document["kind"])
    return [f"{'.'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(document)]


@pytest.mark.parametrize(("file", "document"), [
    pytest.param(file, document, id=f"{file}:{document['kind']}/{document['metadata']['name']}")
    for file, document in resources()])
def test_every_resource_is_valid_for_its_schema(file: str, document: dict[str, Any]) -> None:
    key = (document["apiVersion"], document["kind"])
    if key in CRD_SCHEMAS:
        assert crd_errors(document) == []
    else:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)  # raises with the offending path


def test_a_misspelt_field_fails_validation() -> None:
    """The checks above can fail: a typo in a built-in resource and in a custom one is caught."""
    deployment = copy.deepcopy(of_kind("Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)
    topic = copy.deepcopy(of_kind("KafkaTopic")[0])
    topic["spec"]["partition"] = topic["spec"].pop("partitions")
    assert crd_errors(topic) == ["spec: Additional properties are not allowed ('partition' was unexpected)"]
    topic["spec"]["partitions"] = 0
    assert "spec.partitions: 0 is less than the minimum of 1" in crd_errors(topic)
    monitor = copy.deepcopy(of_kind("PodMonitor")[0])
    monitor["spec"]["podMetricsEndpoints"][0]["portt"] = "metrics"
    assert crd_errors(monitor)


def the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The worker's settings as a pod would read them: the ConfigMap's file, the ConfigMap's
    environment (less the addresses, checked apart), the Secret."""
    config_maps = {document["metadata"]["name"]: document["data"] for document in of_kind("ConfigMap")}
    file = tmp_path / "policyguard.toml"
    file.write_text(config_maps["policyguard-settings"]["policyguard.toml"], encoding="utf-8")
    environment = config_maps["policyguard"]
    assert environment[SETTINGS_FILE_VARIABLE] == "/etc/policyguard/policyguard.toml"
    monkeypatch.setenv(SETTINGS_FILE_VARIABLE, str(file))
    for name in list(environment):
        if name != SETTINGS_FILE_VARIABLE:
            monkeypatch.setenv(name, environment[name])
    monkeypatch.setenv("POLICYGUARD_HASH_SECRET", "from-the-secret")
    return Settings()


def test_the_workers_settings_load_and_match_the_pod(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = the_settings(monkeypatch, tmp_path)
    deployment, = of_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container, = pod["containers"]
    assert {"name": "metrics", "containerPort": settings.metrics_port} in container["ports"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert mounts[settings.data_dir] == "data" and mounts["/etc/policyguard"] == "settings"
    assert {"name": "settings", "configMap": {"name": "policyguard-settings"}} in pod["volumes"]
    secret, = (item for item in container["env"] if item["name"] == "POLICYGUARD_HASH_SECRET")
    assert secret["valueFrom"]["secretKeyRef"] == {"name": "policyguard", "key": "hash-secret"}
    assert settings.log_format == "json" and settings.broker_profile == "kafka"
    # The Dockerfile's user owns the same data directory.
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f"ENV POLICYGUARD_DATA_DIR={settings.data_dir}" in dockerfile
    assert f"chown nobody:nogroup {settings.data_dir}" in dockerfile and "USER nobody" in dockerfile
    assert pod["securityContext"]["runAsUser"] == 65534  # nobody


def test_the_topics_are_the_workers_and_the_inputs_share_one_partition_count(monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    settings = the_settings(monkeypatch, tmp_path)
    topics = {document["spec"].get("topicName", document["metadata"]["name"]): document for document in
              of_kind("KafkaTopic")}
    assert set(topics) == {*settings.input_topics, *settings.output_topics, changelog_topic(settings.app_id)}
    assert {document["metadata"]["labels"]["strimzi.io/cluster"] for document in topics.values()} == {"policy-kafka"}
    inputs = {topics[name]["spec"]["partitions"] for name in settings.input_topics}
    assert inputs == {settings.topic_partitions}  # one count: a policy's two streams meet in one partition
    assert topics[changelog_topic(settings.app_id)]["spec"]["partitions"] == settings.topic_partitions
    assert topics[changelog_topic(settings.app_id)]["spec"]["config"]["cleanup.policy"] == "compact"
    assert {document["spec"]["replicas"] for document in topics.values()} == {settings.topic_replication_factor}
    deployment, = of_kind("Deployment")
    assert deployment["spec"]["replicas"] <= settings.topic_partitions  # more workers than partitions idle


def test_probes_use_the_health_endpoints_and_evictions_are_one_at_a_time() -> None:
    deployment, = of_kind("Deployment")
    container, = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    budget, = of_kind("PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]


def test_the_pod_monitor_scrapes_the_workers_as_the_alert_rules_expect() -> None:
    monitor, = of_kind("PodMonitor")
    deployment, = of_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    endpoint, = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    jobs = set(re.findall(r'job="([^"]+)"', (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()))
    assert {"targetLabel": "job", "replacement": jobs.pop()} in endpoint["relabelings"] and not jobs


def test_no_secret_is_written_in_the_manifests() -> None:
    text = "\n".join(path.read_text(encoding="utf-8") for path in K8S.glob("*.yaml"))
    assert "HASH_SECRET:" not in text and "kind: Secret" not in text
