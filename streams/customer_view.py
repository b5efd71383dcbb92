"""``policyguard customer ID_NO``: one customer across channels, from the customer index.

The index holds keyed hashes, so the view is looked up by hashing the ID number the operator
typed; what it shows in clear (policy numbers, channels, roles, dates) is what the policy
records carry, and the person's own data only masked. Every use is recorded with the caller:
a log line and an entry in the index's audit list (``<prefix>:audit``), which carry the masked
ID number and the keyed hash, never the number.
"""
from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.clock import utc_now
from streams.core.crosspolicy.detectors import conflicts_of, moment
from streams.core.crosspolicy.keys import Hasher
from streams.core.crosspolicy.store import CustomerRecord
from streams.core.labels_zh import field_zh
from streams.core.masking import mask_id
from streams.redis_store import RedisStore

audit_log = logging.getLogger("policyguard.audit")


@dataclass
class CustomerView:
    id_masked: str
    id_type: str
    record: CustomerRecord

    def policies(self) -> list[dict[str, Any]]:
        return [
            {"policy_no": policy, "channel": entry.get("c"), "branch_code": entry.get("b"), "roles": entry.get("r"),
             "values_since": moment(entry["s"]).isoformat(), "last_event_at": moment(entry["t"]).isoformat()}
            for policy, entry in sorted(self.record.policies.items(), key=lambda item: (item[1]["s"], item[0]))
        ]

    def conflicts(self) -> list[dict[str, Any]]:
        return [{"policies": [older, newer], "fields": fields}
                for older, newer, fields, _ in conflicts_of(self.record.policies)]

    def as_json(self) -> dict[str, Any]:
        policies = self.policies()
        return {"id_no": self.id_masked, "id_type": self.id_type, "policies": policies,
                "channels": sorted({p["channel"] for p in policies if p["channel"]}),
                "conflicts": self.conflicts(), "alerts": self.record.alerts}

    def lines(self) -> list[str]:
        policies = self.policies()
        channels = sorted({p["channel"] for p in policies if p["channel"]})
        out = [f"customer {self.id_masked} ({self.id_type}): {len(policies)} policies"
               + (f" in {', '.join(channels)}" if channels else "")]
        if not policies:
            out.append("  not in the customer index (never seen, or expired after the retention)")
        for p in policies:
            out.append(f"  {p['policy_no']:<20} {p['channel'] or '-':<14} {', '.join(p['roles'] or []):<28} "
                       f"since {p['values_since'][:10]}  last event {p['last_event_at'][:10]}")
        conflicts = self.conflicts()
        out.append(f"conflicts ({len(conflicts)}):" if conflicts else "conflicts: none")
        for conflict in conflicts:
            fields = "、".join(field_zh(name) for name in conflict["fields"])
            out.append(f"  {conflict['policies'][0]} ↔ {conflict['policies'][1]}: {fields}不一致")
        alerts = self.record.alerts
        out.append(f"alerts ({len(alerts)}):" if alerts else "alerts: none")
        for alert in sorted(alerts, key=lambda a: (a["alert_type"], a["policy_no"])):
            out.append(f"  {alert['alert_type']:<24} policy {alert['policy_no']}  id {alert['alert_id']}")
        return out


def caller(operator: str | None) -> str:
    if operator:
        return operator
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


async def look_up(store: RedisStore, hasher: Hasher, id_type: str, id_no: str, operator: str,
                  now: datetime | None = None) -> CustomerView:
    person = hasher.person(id_type, id_no)
    view = CustomerView(mask_id(id_no), id_type, await store.customer(person))
    at = (now or utc_now()).isoformat()
    audit_log.info("customer view: operator=%s id=%s policies=%d", operator, view.id_masked, len(view.record.policies))
    await store.audit({"at": at, "operator": operator, "id_no": view.id_masked, "person": person,
                       "policies": len(view.record.policies)})
    return view
