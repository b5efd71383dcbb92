"""``policyguard customer``: one customer across channels, from the customer index.

The index holds keyed hashes, so the view is looked up by hashing the ID number the operator
typed; what it shows in clear (policy numbers, channels, roles, dates) is what the policy
records carry, and the person's own data only masked. Every use is recorded with the caller:
a log line and an entry in the index's access trail (``<prefix>:audit``), which carry the masked
ID number and the keyed hash, never the number. The caller is the operating-system account the
command runs as (by uid), which the caller cannot choose; what they say about themselves
(``--operator``) is kept only as a note beside it. The trail keeps its entries for a retention
period, however many look-ups there are.
"""
from __future__ import annotations

import logging
import os
import pwd
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams.clock import utc_now
from streams.core.crosspolicy.detectors import conflicts_of, moment
from streams.core.crosspolicy.keys import Hasher
from streams.core.crosspolicy.store import CustomerRecord
from streams.core.labels_zh import field_zh
from streams.core.masking import mask_id
from streams.redis_store import RedisStore
from streams.settings import ACCESS_TRAIL_RETENTION_DAYS

audit_log = logging.getLogger("policyguard.audit")
NOTE_MAX_CHARS = 200


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


def os_user() -> str:
    """The account this process runs as, from its real uid: not ``$USER`` or ``$LOGNAME`` (which
    ``getpass.getuser`` reads first), since anyone can set those to anyone."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid with no account (a container's): the number still says who it was
        return f"uid:{uid}"


def operator_note(text: str | None) -> str | None:
    """The caller's note (``--operator``: a name, a case number), or ValueError: one line of at most
    :data:`NOTE_MAX_CHARS` printable characters, so that it cannot forge a line of the log."""
    if text is None or not text.strip():
        return None
    if len(text) > NOTE_MAX_CHARS or not text.isprintable():
        raise ValueError(f"a note of at most {NOTE_MAX_CHARS} printable characters on one line")
    return text.strip()


async def look_up(store: RedisStore, hasher: Hasher, id_type: str, id_no: str, operator: str,
                  now: datetime | None = None, *, note: str | None = None,
                  retention_days: int = ACCESS_TRAIL_RETENTION_DAYS) -> CustomerView:
    """The customer's view, recorded in the log and the access trail with ``operator`` (the OS
    account, from :func:`os_user`) and the caller's ``note`` beside it."""
    person = hasher.person(id_type, id_no)
    view = CustomerView(mask_id(id_no), id_type, await store.customer(person))
    at = (now or utc_now()).astimezone(UTC).isoformat()  # UTC: the trail is trimmed by this time
    audit_log.info("customer view: operator=%s%s id=%s policies=%d", operator, f" note={note!r}" if note else "",
                   view.id_masked, len(view.record.policies))
    record: dict[str, Any] = {"at": at, "operator": operator}
    if note:
        record["operator_note"] = note
    record.update({"id_no": view.id_masked, "person": person, "policies": len(view.record.policies)})
    await store.audit(record, retention_days=retention_days)
    return view
