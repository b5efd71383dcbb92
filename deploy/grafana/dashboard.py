"""The PolicyGuard overview dashboard, as code.

Built with Grafana's own foundation SDK, whose models are generated from Grafana's dashboard
schema, so a panel that Grafana would not load does not build. ``make dashboards`` (or
``python deploy/grafana/dashboard.py``) writes ``policyguard-overview.json`` beside this file,
which Grafana provisions; a test keeps the two identical.

Panels follow the questions operations ask, top to bottom: is the feed healthy, how much is
quarantined and why, which rules fire where, who edited contact data without authorization and
what it cost, which commissions are held, are the workers keeping up, is PolicyGuard itself well.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import StackingConfig
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import StackingMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUTPUT = Path(__file__).with_name("policyguard-overview.json")
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
HALF, THIRD, QUARTER = 12, 8, 6


def query(expr: str, legend: str = "__auto", ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def series(title: str, description: str, unit: str, *targets: prometheus.Dataquery, width: int = HALF,
           stacked: bool = False) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).description(description).unit(unit).datasource(DATASOURCE)
             .span(width).height(8).fill_opacity(10).line_width(1))
    if stacked:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL))
    for target in targets:
        panel = panel.with_target(target)
    return panel


def number(title: str, description: str, unit: str, target: prometheus.Dataquery) -> stat.Panel:
    return (stat.Panel().title(title).description(description).unit(unit).datasource(DATASOURCE)
            .span(QUARTER).height(4).with_target(target.instant()))


def bars(title: str, description: str, target: prometheus.Dataquery) -> bargauge.Panel:
    return (bargauge.Panel().title(title).description(description).unit("short").datasource(DATASOURCE)
            .span(HALF).height(8).with_target(target.instant()))


def build() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model."""
    board = (
        dashboard.Dashboard("PolicyGuard overview")
        .uid("policyguard-overview")
        .tags(["policyguard"])
        .editable()
        .time("now-6h", "now")
        .refresh("30s")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )

    board = (
        board.with_row(dashboard.Row("At a glance"))
        .with_panel(number("Unauthorized contact edits (24h)", "UNAUTHORIZED_CONTACT_EDIT alerts: each one pages.",
                           "short", query('sum(increase(policyguard_alerts_total{alert_type="UNAUTHORIZED_CONTACT_EDIT"}[24h]))')))
        .with_panel(number("Quarantined share (1h)", "Share of inputs quarantined; the 2014 inspection found ~4% "
                           "untrue (6.4% through banks).", "percentunit",
                           query('sum(rate(policyguard_events_total{outcome="quarantined"}[1h])) '
                                 "/ sum(rate(policyguard_events_total[1h]))")))
        .with_panel(number("Open commission holds", "Intermediaries' commissions withheld until their "
                           "customers' data is corrected.", "short",
                           query("sum(policyguard_commission_holds_open)")))
        .with_panel(number("Workers up", "Workers Prometheus scrapes (job policyguard).", "short",
                           query('sum(up{job="policyguard"})')))
    )

    board = (
        board.with_row(dashboard.Row("Feed and quarantine"))
        .with_panel(series("Events per second by outcome", "Every input ends clean, clean with warnings, or "
                           "quarantined; counted when its fate is decided (a held edit after its grace).", "ops",
                           query("sum by (outcome) (rate(policyguard_events_total[5m]))", "{{outcome}}"),
                           width=THIRD, stacked=True))
        .with_panel(series("Quarantine rate by reason", "Quarantined inputs per second by the quarantine record's "
                           "reason, as a share of all inputs.", "percentunit",
                           query("sum by (reason) (rate(policyguard_quarantined_total[15m])) "
                                 "/ scalar(sum(rate(policyguard_events_total[15m])))", "{{reason}}"),
                           width=THIRD, stacked=True))
        .with_panel(series("Quarantined share by topic", "Quarantined inputs as a share of each input topic.",
                           "percentunit",
                           query('sum by (topic) (rate(policyguard_events_total{outcome="quarantined"}[15m])) '
                                 "/ sum by (topic) (rate(policyguard_events_total[15m]))", "{{topic}}"),
                           width=THIRD))
    )

    board = (
        board.with_row(dashboard.Row("Data quality"))
        .with_panel(bars("Findings by rule (last 24h)", "Rule findings by rule and severity.",
                         query("sum by (rule, severity) (increase(policyguard_rule_findings_total[24h]))",
                               "{{rule}} {{severity}}")))
        .with_panel(series("ERROR findings by channel", "Where untrue data comes from: 银保 (BANCASSURANCE) "
                           "ran highest in the 2014 inspection.", "ops",
                           query('sum by (channel) (rate(policyguard_rule_findings_total{severity="ERROR"}[1h]))',
                                 "{{channel}}")))
    )

    board = (
        board.with_row(dashboard.Row("Fraud and accountability"))
        .with_panel(series("Alerts by type (last 24h)", "Every alert PolicyGuard raised, by type and severity.",
                           "short", query("sum by (alert_type, severity) (increase(policyguard_alerts_total[24h]))",
                                          "{{alert_type}} {{severity}}")))
        .with_panel(series("Unauthorized contact edits by field, channel and actor role (last 24h)",
                           "One per offending field change; the actor role is who is fined.", "short",
                           query("sum by (field, channel, actor_role) "
                                 "(increase(policyguard_unauthorized_edits_total[24h]))",
                                 "{{field}} {{channel}} {{actor_role}}")))
        .with_panel(series("Penalties by responsible role (CNY, last 30 days)", "Direct + supervisor fines: "
                           "operations 100 / 50, sales 200 / 100 by default.", "currencyCNY",
                           query("sum by (role) (increase(policyguard_penalty_cny_total[30d]))", "{{role}}")))
        .with_panel(series("Open commission holds by channel", "Holds open on the workers' policies; a hold "
                           "older than 30 days raises INTERMEDIARY_CORRECTION_OVERDUE.", "short",
                           query("sum by (channel) (policyguard_commission_holds_open)", "{{channel}}")))
    )

    board = (
        board.with_row(dashboard.Row("Keeping up"))
        .with_panel(series("Processing time per event (p50 / p99)", "Judging and routing one event in the worker.",
                           "s",
                           query("histogram_quantile(0.5, sum by (le) (rate(policyguard_processing_seconds_bucket[5m])))",
                                 "p50", "A"),
                           query("histogram_quantile(0.99, sum by (le) (rate(policyguard_processing_seconds_bucket[5m])))",
                                 "p99", "B"), width=THIRD))
        .with_panel(series("Event age when handled (p50 / p99)", "Now minus occurred_at when the worker handles "
                           "the event: how far behind the business the checks run.", "s",
                           query("histogram_quantile(0.5, sum by (le) (rate(policyguard_event_age_seconds_bucket[5m])))",
                                 "p50", "A"),
                           query("histogram_quantile(0.99, sum by (le) (rate(policyguard_event_age_seconds_bucket[5m])))",
                                 "p99", "B"), width=THIRD))
        .with_panel(series("Consumer lag by topic", "Records behind each input's high watermark.", "short",
                           query("sum by (topic) (policyguard_consumer_lag)", "{{topic}}"), width=THIRD))
    )

    board = (
        board.with_row(dashboard.Row("PolicyGuard health"))
        .with_panel(series("Defects: rule crashes, stage errors, worker crashes", "Any non-zero line is a "
                           "PolicyGuard defect or an input it did not foresee; the inputs went to quarantine.",
                           "short",
                           query("sum by (rule) (increase(policyguard_rule_crashes_total[1h]))", "rule {{rule}}", "A"),
                           query("sum by (stage) (increase(policyguard_stage_errors_total[1h]))", "stage {{stage}}",
                                 "B"),
                           query("sum(increase(policyguard_worker_crashes_total[1h]))", "worker crashes", "C"),
                           width=THIRD))
        .with_panel(series("Duplicates skipped", "Re-delivered events (same event_id) skipped per second.", "ops",
                           query("sum by (topic) (rate(policyguard_duplicate_events_total[5m]))", "{{topic}}"),
                           width=THIRD))
        .with_panel(series("Customer index (Redis): up, backlog, skipped checks", "Cross-policy checks wait in "
                           "a backlog through a Redis outage and catch up after.", "short",
                           query("min(policyguard_cross_policy_store_up)", "store up", "A"),
                           query("sum(policyguard_cross_policy_backlog)", "backlog", "B"),
                           query("sum by (reason) (increase(policyguard_cross_policy_skipped_total[1h]))",
                                 "skipped {{reason}}", "C"),
                           query("histogram_quantile(0.99, sum by (le) (rate(policyguard_cross_policy_seconds_bucket[5m])))",
                                 "p99 seconds per batch", "D"), width=THIRD))
    )
    model: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    for number_, panel in enumerate(model["panels"], start=1):
        panel["id"] = number_  # stable ids, so links to a panel survive re-provisioning
    return model


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(OUTPUT, file=sys.stderr)
