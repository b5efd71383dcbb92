"""The alerts and commission instructions detection emits, with deterministic ids."""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from schemas.alert import Alert, AlertChange, Penalty, Responsible
from schemas.commission import CommissionInstruction
from schemas.enums import ActorRole, AlertSeverity, AlertType, Channel, CommissionAction
from streams.core import canonical
from streams.core.detection.state import CommissionHold, ContactChange, VisitWatch
from streams.core.labels_zh import field_zh, party_zh
from streams.core.masking import mask_field

ROLE_ZH = {
    ActorRole.SALES_AGENT: "销售人员",
    ActorRole.BANK_TELLER: "银行网点人员",
    ActorRole.OPERATIONS_CLERK: "运营人员",
    ActorRole.UNDERWRITER: "核保人员",
    ActorRole.CUSTOMER_SERVICE: "客服人员",
    ActorRole.CUSTOMER: "客户",
    ActorRole.SYSTEM: "系统",
}


def stable_id(*parts: str) -> str:
    """Same inputs, same id: a replayed or re-delivered event yields the same alert id."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def masked(change: ContactChange) -> AlertChange:
    def show(value: Any) -> str | None:
        return None if value is None else mask_field(change.field, value)

    return AlertChange(party=change.party, field=change.field, old=show(change.old), new=show(change.new))


def responsible_of(actor: dict[str, Any]) -> Responsible:
    role = actor.get("role")
    return Responsible(
        user_id=actor.get("user_id"),
        role=ActorRole(role) if isinstance(role, str) and role in ActorRole.__members__ else None,
        supervisor_id=actor.get("supervisor_id"),
    )


def policy_alert(alert_type: AlertType, *, key_event: str, policy_no: str, channel: Channel | None,
                 branch_code: str | None, now: datetime, event_time: datetime, source_event_ids: list[str],
                 responsible: Responsible, penalty: Penalty | None, evidence: dict[str, Any], summary_zh: str,
                 changes: list[AlertChange] | None = None) -> Alert:
    """A CRITICAL alert about one policy, its id from the alert type and the event that decided it."""
    return Alert(
        alert_id=stable_id(alert_type.value, key_event), alert_type=alert_type, severity=AlertSeverity.CRITICAL,
        policy_no=policy_no, channel=channel, branch_code=branch_code, detected_at=now, event_time=event_time,
        source_event_ids=source_event_ids, changes=changes or [], responsible=responsible, penalty=penalty,
        evidence=evidence, summary_zh=summary_zh,
    )


def penalized(actor: dict[str, Any], penalties: dict[ActorRole, Penalty | None]) -> tuple[Responsible, Penalty | None]:
    """Who answers for an alert and their penalty from the schedule (None for roles it spares)."""
    responsible = responsible_of(actor)
    return responsible, penalties.get(responsible.role) if responsible.role is not None else None


def fine_zh(responsible: Responsible, penalty: Penalty | None) -> str:
    """The penalty sentence of a summary ("" when the role carries none)."""
    if penalty is None:
        return ""
    # The id in brackets: run together with the amount it read as one number (主管OP010050元).
    supervisor = f"其主管（{responsible.supervisor_id}）" if responsible.supervisor_id else "其主管"
    return f"，按规定处罚本人{penalty.direct_cny}元、{supervisor}{penalty.supervisor_cny}元"


def who_zh(responsible: Responsible) -> str:
    role = ROLE_ZH.get(responsible.role, "人员") if responsible.role else "人员"
    return f"{role}{responsible.user_id or '未知'}"


def unauthorized_edit_alert(
    *,
    event_id: str,
    policy_no: str,
    channel: Channel | None,
    branch_code: str | None,
    event_time: datetime,
    now: datetime,
    changes: list[ContactChange],
    actor: dict[str, Any],
    penalties: dict[ActorRole, Penalty | None],
    evidence: dict[str, Any],
    via_endorsement: str | None = None,
) -> Alert:
    responsible, penalty = penalized(actor, penalties)
    what = "、".join(
        f"{party_zh(c.party)}{field_zh(c.field)}" for c in changes
    )
    how = f"通过未经客户授权的保全{via_endorsement}" if via_endorsement else "在无客户授权保全的情况下"
    summary = f"保单{policy_no}承保确认后，{who_zh(responsible)}{how}修改了{what}{fine_zh(responsible, penalty)}；请核实并恢复客户确认的信息。"
    return policy_alert(
        AlertType.UNAUTHORIZED_CONTACT_EDIT, key_event=event_id, policy_no=policy_no, channel=channel,
        branch_code=branch_code, now=now, event_time=event_time, source_event_ids=[event_id],
        changes=[masked(change) for change in changes], responsible=responsible, penalty=penalty, evidence=evidence,
        summary_zh=summary,
    )


def switched_back_alert(
    *, policy_no: str, channel: Channel | None, branch_code: str | None, event_id: str, event_time: datetime,
    now: datetime, watches: list[VisitWatch], penalties: dict[ActorRole, Penalty | None], reverted_by: dict[str, Any],
) -> Alert:
    """RETURN_VISIT_INTERCEPTION, A → B → visit → A: whoever switched to B is responsible."""
    first = watches[0]
    responsible, penalty = penalized(first.actor, penalties)
    what = "、".join(f"{party_zh(w.party)}{field_zh(w.field)}" for w in watches)
    return policy_alert(
        AlertType.RETURN_VISIT_INTERCEPTION, key_event=event_id, policy_no=policy_no, channel=channel,
        branch_code=branch_code, now=now, event_time=event_time,
        source_event_ids=[e for e in dict.fromkeys([first.switched_by, first.visit_event_id, event_id]) if e],
        changes=[masked(ContactChange(party=w.party, person=None, field=w.field, old=w.original, new=w.switched))
                 for w in watches],
        responsible=responsible,
        penalty=penalty,
        evidence={"switched_by_event": first.switched_by, "switched_at": first.switched_at.isoformat(),
                  "visit_event": first.visit_event_id,
                  "visit_at": first.visit_at.isoformat() if first.visit_at else None,
                  "switched_back_event": event_id,
                  "switched_back_by": {"user_id": reverted_by.get("user_id"), "role": reverted_by.get("role")}},
        summary_zh=(
            f"保单{policy_no}承保后{what}在回访前被{who_zh(responsible)}改为他人联系方式、回访后又改回原值，"
            f"回访未到达客户本人{fine_zh(responsible, penalty)}；请重新回访并核实。"
        ),
    )


def wrong_number_alert(
    *, policy_no: str, channel: Channel | None, branch_code: str | None, event_id: str, event_time: datetime,
    now: datetime, called: str, holder_mobile: str | None, actor: dict[str, Any],
    penalties: dict[ActorRole, Penalty | None], switched_by: str | None = None, field: str | None = None,
    replaced: Any = None,
) -> Alert:
    """RETURN_VISIT_INTERCEPTION: a visit completed on a number the customer never confirmed or
    authorized. ``switched_by``: the unauthorized edit that put the number there, whose
    ``actor`` answers for it; otherwise the visit's own actor does. The id is the visit's."""
    responsible, penalty = penalized(actor, penalties)
    shown = mask_field("mobile", canonical.phone(called) or called)
    how = (f"该号码由{who_zh(responsible)}未经客户授权修改而来" if switched_by else
           f"回访由{who_zh(responsible)}完成，该号码不是投保人确认或授权的手机或固定电话")
    return policy_alert(
        AlertType.RETURN_VISIT_INTERCEPTION, key_event=event_id, policy_no=policy_no, channel=channel,
        branch_code=branch_code, now=now, event_time=event_time,
        source_event_ids=[e for e in (switched_by, event_id) if e],
        changes=[AlertChange(party="policyholder", field=field, new=shown,
                             old=mask_field(field, replaced) if isinstance(replaced, str) else None)]
        if switched_by and field else [],
        responsible=responsible,
        penalty=penalty,
        evidence={"phone_called": shown,
                  "policyholder_mobile": mask_field("mobile", holder_mobile) if holder_mobile else None,
                  "visit_event": event_id, "switched_by_event": switched_by},
        summary_zh=(
            f"保单{policy_no}的回访在{shown}上完成，{how}，回访未到达客户本人{fine_zh(responsible, penalty)}；请重新回访。"
        ),
    )


def overdue_alert(policy_no: str, hold: CommissionHold, now: datetime, deadline_days: float) -> Alert:
    responsible = responsible_of(hold.opened_by_actor)
    return Alert(
        alert_id=stable_id(AlertType.INTERMEDIARY_CORRECTION_OVERDUE.value, hold.opened_by),
        alert_type=AlertType.INTERMEDIARY_CORRECTION_OVERDUE,
        severity=AlertSeverity.HIGH,
        policy_no=policy_no,
        channel=hold.channel,
        branch_code=hold.branch_code,
        detected_at=now,
        event_time=hold.opened_at,
        source_event_ids=[hold.opened_by],
        responsible=responsible,
        penalty=None,
        evidence={"intermediary_code": hold.intermediary_code, "reasons": hold.reasons,
                  "hold_opened_at": hold.opened_at.isoformat(), "deadline": hold.deadline.isoformat()},
        summary_zh=(
            f"保单{policy_no}（中介机构{hold.intermediary_code}）客户信息自{hold.opened_at.date().isoformat()}起"
            f"超过{deadline_days:g}天仍未更正（{'、'.join(hold.reasons)}），手续费继续暂缓，请移交合规部门处理。"
        ),
    )


def instruction(
    action: CommissionAction, *, event_id: str, policy_no: str, intermediary_code: str,
    channel: Channel | None, reasons: list[str], at: datetime,
) -> CommissionInstruction:
    return CommissionInstruction(
        instruction_id=stable_id(action.value, event_id),
        action=action,
        policy_no=policy_no,
        intermediary_code=intermediary_code,
        channel=channel,
        reasons=reasons,
        at=at,
    )
