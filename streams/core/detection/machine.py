"""The per-policy state machine (CONTRACT.md §2.2, §2.3, §3.3, §3.4).

Every PolicyEvent is compared with the policy's last snapshot. After the lock point a
contact-field change must be covered by an approved or effective, customer-authorized
CONTACT_CHANGE endorsement of the same person, field and new value, approved no later than
the edit plus the clock-skew allowance. Because the two topics are consumed independently,
every post-lock contact edit is held for the arrival grace before it is judged (an
authorization, or the rejection that revokes it, may still be on its way); its clean or
quarantine record waits with it, so an unauthorized edit never reaches a clean topic and
any arrival order within the grace gives the same answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.alert import Alert
from schemas.commission import CommissionInstruction
from schemas.endorsement_event import EndorsementEvent
from schemas.enums import CommissionAction, PolicyEventType, QuarantineReason, Severity
from schemas.finding import Finding
from schemas.policy_event import PolicyEvent
from schemas.quarantine import QuarantineRecord
from streams.core.detection.authorization import APPROVING, covers, record_endorsement, unauthorized_changes
from streams.core.detection.config import DetectionConfig
from streams.core.detection.contacts import changes_between, slots_of
from streams.core.detection.records import instruction, masked, overdue_alert, unauthorized_edit_alert
from streams.core.detection.state import CommissionHold, ContactChange, PendingEdit, PolicyState
from streams.core.evaluate import event_date
from streams.core.labels_zh import field_zh, party_zh
from streams.core.origin import Stream
from streams.core.outputs import Output, OutputKind, clean_output, outputs_of, quarantine_output, record_output
from streams.core.pipeline import Verdict, build_quarantine

MAX_ENDORSEMENTS = 200


@dataclass
class Step:
    """The next state (None: forget the policy) and what to emit, in order."""

    state: PolicyState | None
    outputs: list[Output] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    instructions: list[CommissionInstruction] = field(default_factory=list)
    decided: list[tuple[str | None, str]] = field(default_factory=list)  # (source topic, outcome)
    duplicate: bool = False

    def alert(self, alert: Alert) -> None:
        self.alerts.append(alert)
        self.outputs.append(record_output(OutputKind.ALERTS, alert.policy_no, alert))

    def instruct(self, item: CommissionInstruction) -> None:
        self.instructions.append(item)
        self.outputs.append(record_output(OutputKind.COMMISSION, item.policy_no, item))


def edit_findings(changes: list[ContactChange]) -> list[Finding]:
    findings = []
    for change in changes:
        shown = masked(change)
        findings.append(
            Finding(
                rule="UNAUTHORIZED_CONTACT_EDIT",
                severity=Severity.ERROR,
                party=change.party,
                field=change.field,
                message=(
                    f"承保确认后{party_zh(change.party)}{field_zh(change.field)}被修改"
                    f"（{shown.old or '空'}→{shown.new or '空'}），无客户授权的保全"
                ),
            )
        )
    return findings


class PolicyMachine:
    def __init__(self, config: DetectionConfig | None = None) -> None:
        self.config = config or DetectionConfig()

    # -- entry points ------------------------------------------------------------------

    def on_verdict(self, state: PolicyState | None, verdict: Verdict, now: datetime) -> Step:
        event = verdict.event
        if event is None:  # unreadable: nothing to remember, route as is
            return Step(state, outputs_of(verdict), decided=[(verdict.origin.topic, verdict.outcome)])
        state = state if state is not None else PolicyState(policy_no=event.policy_no)
        if event.event_id in state.seen:
            return Step(state, duplicate=True)
        state.seen.append(event.event_id)
        del state.seen[: -self.config.seen_event_ids]
        state.last_seen_at = now
        step = Step(state)
        if isinstance(event, PolicyEvent):
            self._policy_event(state, verdict, event, now, step)
        else:
            self._endorsement_event(state, verdict, event, now, step)
            state.endorsement_time = max(state.endorsement_time or event.occurred_at, event.occurred_at)
        self._judge_by_event_time(state, now, step)
        self._check_overdue(state, event.occurred_at, step)
        return step

    def _judge_by_event_time(self, state: PolicyState, now: datetime, step: Step) -> None:
        """The grace measured on event time: the policy's endorsement stream (one partition, in
        order) has passed the edit plus the grace, so an authorization approved before the edit
        would have been consumed already. Policy events say nothing about the other topic."""
        if state.endorsement_time is None:
            return
        grace = timedelta(seconds=self.config.arrival_grace_s)
        due = [
            p for p in state.pending if p.endorsement_no is None and p.event_time + grace <= state.endorsement_time
        ]
        for pending in due:
            state.pending.remove(pending)
            self._decide(state, pending, now, step)

    def tick(self, state: PolicyState, now: datetime) -> Step:
        """Timers: held edits past their grace, overdue holds, retention."""
        step = Step(state)
        grace = timedelta(seconds=self.config.arrival_grace_s)
        for pending in [p for p in state.pending if p.held_since + grace <= now]:
            state.pending.remove(pending)
            self._decide(state, pending, now, step)
        self._check_overdue(state, now, step)
        if self.forgettable(state, now):
            step.state = None
        return step

    def finish(self, state: PolicyState, now: datetime, stream_time: datetime | None = None) -> Step:
        """End of a replay: every held edit is judged now; holds are judged on ``stream_time``."""
        step = Step(state)
        for pending in list(state.pending):
            state.pending.remove(pending)
            self._decide(state, pending, now, step)
        if stream_time is not None:
            self._check_overdue(state, stream_time, step)
        return step

    def next_deadline(self, state: PolicyState) -> datetime | None:
        """Held edits and holds; retention is swept separately (it moves with every event)."""
        return state.next_deadline(self.config.arrival_grace_s)

    def forgettable(self, state: PolicyState, now: datetime) -> bool:
        """Idle or terminated past retention, with nothing held."""
        return not state.pending and state.hold is None and self._expired(state, now)

    # -- policy events -----------------------------------------------------------------

    def _policy_event(self, state: PolicyState, verdict: Verdict, event: PolicyEvent, now: datetime, step: Step) -> None:
        after = slots_of(event)
        changes: list[ContactChange] = []
        if state.lock_at is None:
            if event.event_type in self.config.lock_event_types:
                state.lock_at, state.lock_event_id = event.occurred_at, event.event_id
                for pending in [p for p in state.pending if p.endorsement_no is not None]:
                    state.pending.remove(pending)  # the lock point they waited for is known now
                    self._decide(state, pending, now, step)
        else:
            changes = changes_between(state.slots, after)
        state.slots = after
        if event.event_type is PolicyEventType.POLICY_TERMINATED:
            state.terminated_at = now
        self._hold_on_failure(state, verdict, event, step)
        if changes:
            # Judged only once the grace has passed, covered or not: an authorization, or the
            # rejection that revokes it, may still be on its way on the other topic.
            pending = self._pending(verdict, event, changes, now)
            if self.config.arrival_grace_s > 0:
                state.pending.append(pending)
            else:
                self._decide(state, pending, now, step)
            return
        self._emit(state, verdict, step)

    def _pending(
        self,
        verdict: Verdict,
        event: PolicyEvent | EndorsementEvent,
        changes: list[ContactChange],
        now: datetime,
        endorsement_no: str | None = None,
    ) -> PendingEdit:
        if verdict.quarantine is not None:
            record = verdict.quarantine
        else:
            record = build_quarantine(
                verdict.raw, verdict.origin, QuarantineReason.UNAUTHORIZED_EDIT, now=now,
                findings=verdict.findings, event_id=event.event_id, policy_no=event.policy_no,
            )
        return PendingEdit(
            event_id=event.event_id,
            endorsement_no=endorsement_no,
            event_time=event.occurred_at,
            held_since=now,
            changes=changes,
            actor=event.actor.model_dump(mode="json"),
            channel=event.channel,
            branch_code=event.branch_code,
            source_topic=verdict.origin.topic,
            clean_json=verdict.clean.model_dump_json() if verdict.clean is not None else None,
            quarantine_json=record.model_dump_json(),
            outcome=verdict.outcome,
        )

    def _uncovered(self, state: PolicyState, changes: list[ContactChange], edit_time: datetime) -> list[ContactChange]:
        config = self.config
        return [
            change
            for change in changes
            if not any(
                covers(record, change, state, edit_time, config.clock_skew_s, config.adult_age_years)
                for record in state.endorsements.values()
            )
        ]

    def _decide(self, state: PolicyState, pending: PendingEdit, now: datetime, step: Step) -> None:
        if pending.endorsement_no is not None:
            self._decide_endorsement(state, pending, now, step)
            return
        uncovered = self._uncovered(state, pending.changes, pending.event_time)
        if not uncovered:
            self._emit_held(state, pending, Stream.POLICY, step)
            return
        self._quarantine_unauthorized(pending, uncovered, now, step)
        step.alert(
            unauthorized_edit_alert(
                event_id=pending.event_id,
                policy_no=state.policy_no,
                channel=pending.channel,
                branch_code=pending.branch_code,
                event_time=pending.event_time,
                now=now,
                changes=uncovered,
                actor=pending.actor,
                penalties=self.config.penalties,
                evidence={
                    "lock_event_id": state.lock_event_id,
                    "lock_at": state.lock_at.isoformat() if state.lock_at else None,
                    "endorsements_on_file": sorted(state.endorsements),
                    "held_for_s": round((now - pending.held_since).total_seconds(), 3),
                },
            )
        )

    def _quarantine_unauthorized(
        self, pending: PendingEdit, changes: list[ContactChange], now: datetime, step: Step
    ) -> None:
        """The held event's record, as UNAUTHORIZED_EDIT with one finding per offending change."""
        base = QuarantineRecord.model_validate_json(pending.quarantine_json)
        record = base.model_copy(
            update={
                "reason": QuarantineReason.UNAUTHORIZED_EDIT,
                "findings": [*base.findings, *edit_findings(changes)],
                "quarantined_at": now,
            }
        )
        step.outputs.append(quarantine_output(record))
        step.decided.append((pending.source_topic, "quarantined"))

    def _emit_held(self, state: PolicyState, pending: PendingEdit, stream: Stream, step: Step) -> None:
        """A held event turned out fine: emit the record it would have had at once."""
        if pending.clean_json is not None:
            step.outputs.append(clean_output(stream, state.policy_no, pending.clean_json.encode()))
            step.decided.append((pending.source_topic, pending.outcome))
            if stream is Stream.POLICY:
                self._release(state, pending.event_id, pending.event_time, step)
        else:
            step.outputs.append(quarantine_output(QuarantineRecord.model_validate_json(pending.quarantine_json)))
            step.decided.append((pending.source_topic, "quarantined"))

    # -- endorsement events ------------------------------------------------------------

    def _endorsement_event(
        self, state: PolicyState, verdict: Verdict, event: EndorsementEvent, now: datetime, step: Step
    ) -> None:
        record = record_endorsement(state, event)
        if len(state.endorsements) > MAX_ENDORSEMENTS:
            oldest = min(state.endorsements.values(), key=lambda r: r.statuses[0][1] if r.statuses else now)
            state.endorsements.pop(oldest.endorsement_no)
        approving = event.event_type.value in APPROVING
        if approving:
            bad = unauthorized_changes(record, state, event_date(event), self.config.adult_age_years)
            if bad:
                pending = self._pending(verdict, event, bad, now, endorsement_no=record.endorsement_no)
                if state.lock_at is None and self.config.arrival_grace_s > 0:
                    state.pending.append(pending)  # its policy's lock point may not be consumed yet
                else:
                    self._decide_endorsement(state, pending, now, step)
                return
        self._emit(state, verdict, step)

    def _decide_endorsement(self, state: PolicyState, pending: PendingEdit, now: datetime, step: Step) -> None:
        """An approved endorsement without customer authorization: an unauthorized edit after the lock."""
        record = state.endorsements.get(pending.endorsement_no or "")
        after_lock = state.lock_at is not None and pending.event_time >= state.lock_at
        if record is None or not after_lock:
            self._emit_held(state, pending, Stream.ENDORSEMENT, step)
            return
        self._quarantine_unauthorized(pending, pending.changes, now, step)
        if record.flagged:  # its approval was alerted already; an EFFECTIVE event adds no second alert
            return
        record.flagged = True
        step.alert(
            unauthorized_edit_alert(
                event_id=pending.event_id, policy_no=state.policy_no, channel=pending.channel,
                branch_code=pending.branch_code, event_time=pending.event_time, now=now, changes=pending.changes,
                actor=pending.actor, penalties=self.config.penalties,
                evidence={"endorsement_no": record.endorsement_no,
                          "applicant": record.applicant.value if record.applicant else None,
                          "customer_evidence": record.customer_evidence,
                          "lock_event_id": state.lock_event_id},
                via_endorsement=record.endorsement_no,
            )
        )

    # -- routing and commission --------------------------------------------------------

    def _emit(self, state: PolicyState, verdict: Verdict, step: Step) -> None:
        step.outputs += outputs_of(verdict)
        step.decided.append((verdict.origin.topic, verdict.outcome))
        event = verdict.event
        if verdict.clean is not None and isinstance(event, PolicyEvent):
            self._release(state, event.event_id, event.occurred_at, step)

    def _hold_on_failure(self, state: PolicyState, verdict: Verdict, event: PolicyEvent, step: Step) -> None:
        errors = sorted({f.rule for f in verdict.findings if f.severity is Severity.ERROR})
        if state.hold is not None or not event.intermediary_code or not errors:
            return
        if verdict.reason is not QuarantineReason.RULE_ERROR:
            return
        state.hold = CommissionHold(
            intermediary_code=event.intermediary_code,
            channel=event.channel,
            branch_code=event.branch_code,
            opened_by=event.event_id,
            opened_by_actor=event.actor.model_dump(mode="json"),
            opened_at=event.occurred_at,
            deadline=event.occurred_at + timedelta(days=self.config.hold_deadline_days),
            reasons=errors,
        )
        step.instruct(
            instruction(CommissionAction.HOLD, event_id=event.event_id, policy_no=event.policy_no,
                        intermediary_code=event.intermediary_code, channel=event.channel, reasons=errors,
                        at=event.occurred_at)
        )

    def _release(self, state: PolicyState, event_id: str, at: datetime, step: Step) -> None:
        hold = state.hold
        if hold is None:
            return
        state.hold = None
        step.instruct(
            instruction(CommissionAction.RELEASE, event_id=event_id, policy_no=state.policy_no,
                        intermediary_code=hold.intermediary_code, channel=hold.channel, reasons=hold.reasons, at=at)
        )

    def _check_overdue(self, state: PolicyState, now: datetime, step: Step) -> None:
        hold = state.hold
        if hold is not None and not hold.overdue_alerted and now >= hold.deadline:
            hold.overdue_alerted = True
            step.alert(overdue_alert(state.policy_no, hold, now, self.config.hold_deadline_days))

    def _expired(self, state: PolicyState, now: datetime) -> bool:
        retention = timedelta(days=self.config.retention_days)
        since = state.terminated_at or state.last_seen_at
        return since is not None and since + retention <= now
