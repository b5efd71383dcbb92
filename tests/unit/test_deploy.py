"""deploy/: Prometheus, Alertmanager and Grafana files are valid and speak the contract's metrics."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CONTRACT_METRICS = {
    "policyguard_events_total", "policyguard_rule_findings_total", "policyguard_rule_crashes_total",
    "policyguard_processing_seconds_bucket", "policyguard_event_age_seconds_bucket", "policyguard_alerts_total",
    "policyguard_unauthorized_edits_total", "policyguard_penalty_cny_total", "policyguard_commission_holds_open",
    "policyguard_consumer_lag", "policyguard_quarantined_total",
}
OPERATIONAL_METRICS = {
    "policyguard_cross_policy_store_up", "policyguard_cross_policy_backlog", "policyguard_cross_policy_skipped_total",
    "policyguard_cross_policy_roster_missing",
    "policyguard_cross_policy_seconds_bucket", "policyguard_duplicate_events_total", "policyguard_stage_errors_total",
    "policyguard_worker_crashes_total",
}
"""PolicyGuard's own health beyond the contract's list: the customer index."""


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make install` (scripts/system-deps.sh)")
    return found


def test_prometheus_config_and_rules_are_valid() -> None:
    result = subprocess.run([_tool("promtool"), "check", "config", "prometheus/prometheus.yml"], cwd=DEPLOY,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_fire_as_their_unit_tests_say() -> None:
    result = subprocess.run([_tool("promtool"), "test", "rules", "prometheus/alerts.test.yml"], cwd=DEPLOY,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_rule_has_a_unit_test_in_which_it_fires_and_one_in_which_it_stays_quiet() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tests = yaml.safe_load((DEPLOY / "prometheus" / "alerts.test.yml").read_text(encoding="utf-8"))
    cases = [case for test in tests["tests"] for case in test["alert_rule_test"]]
    fires = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert names - fires == set(), "alert rules no unit test sees firing"
    paging = {"PolicyGuardUnauthorizedContactEdit", "PolicyGuardStaffPhoneAsCustomer", "PolicyGuardConsumerLagHigh",
              "PolicyGuardEventAgeHigh", "PolicyGuardCustomerIndexDown", "PolicyGuardSlowProcessing"}
    assert paging - quiet == set(), "alert rules no unit test sees staying quiet"


def test_alertmanager_config_is_valid() -> None:
    result = subprocess.run([_tool("amtool"), "check-config", "alertmanager/alertmanager.yml"], cwd=DEPLOY,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("labels", "receiver"), [
    (["severity=critical", "channel=BANCASSURANCE"], "bancassurance-on-call"),
    (["severity=critical", "channel=AGENCY"], "on-call"),
    (["severity=warning", "channel=BANCASSURANCE"], "bancassurance"),
    (["severity=warning", "topic=policy-events"], "operations"),
])
def test_alertmanager_routes_by_severity_and_channel(labels: list[str], receiver: str) -> None:
    result = subprocess.run([_tool("amtool"), "config", "routes", "test", "--config.file",
                             "alertmanager/alertmanager.yml", *labels], cwd=DEPLOY, capture_output=True, text=True)
    assert result.stdout.strip() == receiver, result.stdout + result.stderr


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(policyguard_[a-z_]+)", expr))


def _dashboard() -> dict:
    return json.loads((DEPLOY / "grafana" / "policyguard-overview.json").read_text(encoding="utf-8"))


def _dashboard_queries() -> list[str]:
    return [target["expr"] for panel in _dashboard()["panels"] for target in panel.get("targets", [])]


def test_the_provisioned_dashboard_is_the_one_the_code_builds() -> None:
    """deploy/grafana/dashboard.py builds it with Grafana's foundation SDK (models generated from
    Grafana's schema); the JSON Grafana provisions must be exactly its output (`make dashboards`)."""
    spec = importlib.util.spec_from_file_location("dashboard_code", DEPLOY / "grafana" / "dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (DEPLOY / "grafana" / "policyguard-overview.json").read_text(encoding="utf-8") == module.render(), (
        "policyguard-overview.json is stale: run `make dashboards`")


def test_every_dashboard_panel_has_a_unique_id_the_datasource_variable_and_queries_prometheus_parses(
        tmp_path: Path) -> None:
    panels = _dashboard()["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    charts = [panel for panel in panels if panel["type"] != "row"]
    assert charts and all(panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"} for panel in charts)
    assert all(panel.get("targets") and panel.get("title") and panel.get("description") for panel in charts)
    # promtool parses every query as a recording rule: a PromQL typo fails here, not on the wall screen.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{n}", "expr": expr} for n, expr in enumerate(_dashboard_queries())]}]}
    file = tmp_path / "dashboard-queries.yml"
    file.write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = subprocess.run([_tool("promtool"), "check", "rules", str(file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_and_rules_only_use_metrics_the_worker_exports() -> None:
    from prometheus_client import REGISTRY

    import streams.metrics  # noqa: F401 - registers the metrics

    exported = {sample.name for family in REGISTRY.collect() for sample in family.samples}
    exported |= {family.name + "_total" for family in REGISTRY.collect() if family.type == "counter"}
    exported |= {family.name for family in REGISTRY.collect() if family.type == "gauge"}  # labelled, maybe unset
    used = {name for expr in _dashboard_queries() for name in _metric_names(expr)}
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    used |= {name for group in rules["groups"] for rule in group["rules"] for name in _metric_names(rule["expr"])}
    assert used <= CONTRACT_METRICS | OPERATIONAL_METRICS
    missing = used - exported
    assert not missing, f"dashboards use metrics the worker does not export: {missing}"
    panels = {name for expr in _dashboard_queries() for name in _metric_names(expr)}
    uncovered = {name for name in CONTRACT_METRICS if name.removesuffix("_bucket") + "_bucket" not in panels
                 and name not in panels}
    assert not uncovered, f"contract metrics without a dashboard panel: {uncovered}"
