"""summary.json, summary.html and commission_holds.csv from the audit's tally.

The HTML is one self-contained file (inline CSS, inline SVG charts, no script, no network), so it
can be mailed to a branch or opened on an air-gapped desk. It holds counts and rates only: no
name, ID number, phone or address.
"""
from __future__ import annotations

import csv
import html
import json
from pathlib import Path
from typing import Any

from streams.audit.tally import BASELINE, Tally

CHANNEL_ZH = {"AGENCY": "个险", "BANCASSURANCE": "银保", "GROUP": "团险", "ONLINE": "网销", "TELESALES": "电销",
              "BROKER": "经代", "UNKNOWN": "未知"}


def rows_of(counts: dict[str, list[int]]) -> list[dict[str, Any]]:
    return sorted(
        ({"key": key, "policies": n, "defective": bad, "rate": bad / n if n else 0.0} for key, (n, bad) in counts.items()),
        key=lambda row: (-row["rate"], row["key"]),
    )


def summary(tally: Tally, meta: dict[str, Any]) -> dict[str, Any]:
    return {
        **meta,
        "rows": tally.rows,
        "policies": tally.policies,
        "defective": tally.defective,
        "defective_rate": tally.rate(),
        "with_warnings": tally.warned,
        "bad_rows": tally.bad_rows,
        "bad_row_reasons": tally.bad_reasons,
        "baseline_2014": BASELINE,
        "by_channel": rows_of(tally.by["channel"]),
        "by_branch": rows_of(tally.by["branch_code"]),
        "by_intermediary": rows_of(tally.by["intermediary_code"]),
        "by_rule": [{"rule": rule, "policies_error": e, "policies_warning": w,
                     "share": (e + w) / tally.policies if tally.policies else 0.0}
                    for rule, (e, w) in sorted(tally.rules.items(), key=lambda item: -sum(item[1]))],
        "commission_holds": sum(1 for hold in tally.holds.values() if hold["defective"]),
        "cross_policy_alerts": tally.cross,
    }


def write_holds(tally: Tally, path: Path) -> int:
    """One row per intermediary with policies to correct: finance withholds their commission."""
    held = sorted((code, hold) for code, hold in tally.holds.items() if hold["defective"])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["intermediary_code", "channel", "policies", "policies_to_correct", "rate", "rules", "action"])
        for code, hold in held:
            rules = " ".join(f"{rule}:{n}" for rule, n in sorted(hold["rules"].items(), key=lambda i: (-i[1], i[0])))
            writer.writerow([code, hold["channel"], hold["policies"], hold["defective"],
                             f"{hold['defective'] / hold['policies']:.4f}", rules, "HOLD"])
    return len(held)


def _pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def _bars(rows: list[dict[str, Any]], label: Any, baselines: dict[str, float]) -> str:
    """A horizontal bar chart of rates, with the inspection baselines as dashed lines."""
    width, bar_h, left, right = 780, 26, 200, 80
    top = max([row["rate"] for row in rows] + list(baselines.values()) + [0.01]) * 1.15
    height = bar_h * len(rows) + 40
    scale = (width - left - right) / top
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for i, row in enumerate(rows):
        y = 10 + i * bar_h
        w = max(row["rate"] * scale, 1)
        parts.append(f'<text x="{left - 8}" y="{y + 17}" text-anchor="end">{html.escape(label(row["key"]))}</text>')
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{bar_h - 8}" fill="#c0392b"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 17}">{_pct(row["rate"])}</text>')
    for name, value in baselines.items():
        x = left + value * scale
        parts.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 24}" stroke="#2c3e50" '
                     f'stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" class="base">'
                     f'{html.escape(name)} {_pct(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: list[dict[str, Any]], title: str, label: Any, limit: int | None = None) -> str:
    shown = rows[:limit] if limit else rows
    body = "".join(
        f"<tr><td>{html.escape(label(row['key']))}</td><td>{row['policies']:,}</td><td>{row['defective']:,}</td>"
        f"<td>{_pct(row['rate'])}</td></tr>" for row in shown)
    more = f"<p class='note'>{len(rows) - len(shown):,} more in summary.json</p>" if len(shown) < len(rows) else ""
    return (f"<h2>{html.escape(title)}</h2><table><thead><tr><th></th><th>policies</th><th>to correct</th>"
            f"<th>rate</th></tr></thead><tbody>{body}</tbody></table>{more}")


def write_html(document: dict[str, Any], path: Path) -> None:
    channel = lambda key: f"{CHANNEL_ZH.get(key, key)} {key}"  # noqa: E731
    plain = lambda key: key  # noqa: E731
    rules = document["by_rule"]
    rule_rows = [{"key": r["rule"], "policies": r["policies_error"] + r["policies_warning"],
                  "defective": r["policies_error"], "rate": r["share"]} for r in rules]
    rule_body = "".join(
        f"<tr><td>{html.escape(r['rule'])}</td><td>{r['policies_error']:,}</td><td>{r['policies_warning']:,}</td>"
        f"<td>{_pct(r['share'])}</td></tr>" for r in rules)
    cross = document["cross_policy_alerts"]
    cross_text = ", ".join(f"{html.escape(k)} {v:,}" for k, v in sorted(cross.items())) or "none"
    bad = ", ".join(f"{html.escape(k)} {v:,}" for k, v in sorted(document["bad_row_reasons"].items())) or "none"
    baselines = {"2014 overall": BASELINE["overall"], "2014 银保": BASELINE["BANCASSURANCE"]}
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>客户信息真实性清查 · PolicyGuard audit</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 24px 40px; color: #222; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 28px; }}
.kpis {{ display: flex; gap: 16px; flex-wrap: wrap; }}
.kpi {{ border: 1px solid #ccc; border-radius: 6px; padding: 10px 16px; min-width: 150px; }}
.kpi b {{ display: block; font-size: 22px; }}
table {{ border-collapse: collapse; margin-top: 6px; }}
td, th {{ border: 1px solid #ddd; padding: 4px 10px; text-align: right; font-size: 13px; }}
td:first-child, th:first-child {{ text-align: left; }}
th {{ background: #f4f4f4; }}
.chart text {{ font-size: 12px; }} .chart .base {{ fill: #2c3e50; }}
.note {{ color: #666; font-size: 12px; }}
</style></head><body>
<h1>客户信息真实性清查报告 · Customer-information audit</h1>
<p class="note">{html.escape(str(document.get("generated_at", "")))} · {document["rows"]:,} rows from
{len(document.get("inputs", []))} file(s) · policies with at least one ERROR finding are to be corrected</p>
<div class="kpis">
<div class="kpi">policies<b>{document["policies"]:,}</b></div>
<div class="kpi">to correct<b>{document["defective"]:,}</b></div>
<div class="kpi">rate<b>{_pct(document["defective_rate"])}</b>2014 inspection: {_pct(BASELINE["overall"])}</div>
<div class="kpi">commission holds<b>{document["commission_holds"]:,}</b>intermediaries</div>
<div class="kpi">bad rows<b>{document["bad_rows"]:,}</b>{bad}</div>
</div>
<h2>Rate of untrue or incomplete records by channel</h2>
{_bars(document["by_channel"], channel, baselines)}
{_table(document["by_channel"], "By channel", channel)}
<h2>By rule (share of policies)</h2>
{_bars(rule_rows[:12], plain, {})}
<table><thead><tr><th>rule</th><th>ERROR</th><th>WARNING</th><th>share</th></tr></thead><tbody>{rule_body}</tbody></table>
{_table(document["by_branch"], "By branch", plain, 40)}
{_table(document["by_intermediary"], "By intermediary (bank / post outlet, broker)", plain, 40)}
<h2>Cross-policy checks</h2><p>{cross_text}</p>
</body></html>
"""
    path.write_text(page, encoding="utf-8")


def write_json(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
