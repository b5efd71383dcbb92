"""The per-policy state machine (docs/contract.md §2.2, §2.3, §3.3, §3.4).

Every PolicyEvent is compared with the policy's last snapshot. After the lock point a
contact-field change must be covered by an approved or effective, customer-authorized
CONTACT_CHANGE endorsement of the same person, field and new value, approved no later than
the edit plus the clock-skew allowance.

Kafka orders each partition, never the two input topics against each other, so nothing
here is decided by arrival order:

- a post-lock contact edit is held until the policy's *endorsement* stream has passed the
  edit plus the arrival grace, and is then judged on the endorsements of that period only;
- an approved endorsement that changes contact fields is held until the *policy* stream has
  passed it plus the grace, and is then judged against the policy as it stands;
- commission HOLD / RELEASE follow the policy stream's own order (a ledger that waits
  behind a held edit), and a hold is overdue once the policy stream passes its deadline.

Time is the caller's :class:`StreamTimes` (event time the partition has reached, the wall
clock standing in only for an idle topic), so replay, a backlog and a live stream give one
answer. The machine mutates the state it is given: the caller passes a copy it can drop.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.alert import Alert
from schemas.commission import CommissionInstruction
from schemas.endorsement_event import EndorsementEvent
from schemas.enums import ActorRole, CommissionAction, PolicyEventType, QuarantineReason, Severity
from schemas.finding import Finding
from schemas.person import CONTACT_FIELDS
from schemas.policy_event import PolicyEvent
from schemas.quarantine import QuarantineRecord
from streams.core import canonical
from streams.core.detection.authorization import (
    authorized_value,
    places_at,
    record_endorsement,
    unauthorized_changes,
)
from streams.core.detection.config import DetectionConfig
from streams.core.detection.contacts import (
    Match,
    baseline,
    carry_baseline,
    changes_between,
    concerned,
    matched,
    slots_of,
)
from streams.core.detection.records import (
    instruction,
    masked,
    overdue_alert,
    switched_back_alert,
    unauthorized_edit_alert,
    wrong_number_alert,
)
from streams.core.detection.state import (
    APPROVING_STATUSES,
    Clock,
    CommissionHold,
    ContactChange,
    HeldVisit,
    Layout,
    LedgerEntry,
    LedgerKind,
    PendingEdit,
    PhoneSwitch,
    PolicyState,
    Slot,
    VisitWatch,
)
from streams.core.event_time import Timing
from streams.core.labels_zh import field_zh, party_zh
from streams.core.origin import Stream
from streams.core.outputs import Output, OutputKind, clean_output, outputs_of, quarantine_output, record_output
from streams.core.pipeline import Verdict, build_quarantine
from streams.core.thresholds import Thresholds

INSURER_STAFF = frozenset({ActorRole.OPERATIONS_CLERK, ActorRole.UNDERWRITER, ActorRole.CUSTOMER_SERVICE})
"""Roles of the insurer's own staff: what they get wrong never holds an intermediary's commission."""

MAX_ENDORSEMENTS = 200
MAX_LAYOUTS = 20
"""Changes of who stands where remembered per policy (to read an endorsement's places as they were)."""
MAX_DEPARTED = 50
"""People who left a policy remembered with their baseline."""
DEPARTED = "departed"
"""The label of a remembered person: found again by ID only, never by place."""
MAX_PHONE_SWITCHES = 20
"""Post-lock changes of the policyholder's phones remembered, to name who put a number there."""
MAX_VISIT_WATCHES = 50
"""Contact changes after issue remembered per policy for the return-visit check (the latest)."""


@dataclass(frozen=True, slots=True)
class StreamTimes:
    """How far a partition's two streams have got, in event time (None: nothing read yet)."""

    policy: datetime | None = None
    endorsement: datetime | None = None

    def on(self, clock: Clock) -> datetime | None:
        if clock is Clock.POLICY:
            return self.policy
        if clock is Clock.ENDORSEMENT:
            return self.endorsement
        known = [t for t in (self.policy, self.endorsement) if t is not None]
        return max(known) if known else None

    def reached(self, clock: Clock, moment: datetime) -> bool:
        now = self.on(clock)
        return now is not None and now >= moment


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


def content_digest(raw: bytes) -> str:
    """Tells a byte-identical re-delivery from a different event reusing an event_id."""
    return hashlib.sha256(raw).hexdigest()[:20]


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


def _slots_of(slots: list[Slot], change: ContactChange) -> list[Slot]:
    """The slots of the current snapshot that hold the changed person (a SELF policyholder is
    two), else the slot in the same place."""
    if change.person is not None:
        found = [slot for slot in slots if slot.person == change.person]
        if found:
            return found
    return [slot for slot in slots if slot.label == change.party]


PHONE_FIELDS = ("mobile", "landline")


def _holder_phone(watch: VisitWatch, holder: Slot | None) -> bool:
    """A watch on the policyholder's own phone (as policyholder, or as a SELF insured): what a
    return visit dials, judged at the visit itself."""
    if watch.field not in PHONE_FIELDS:
        return False
    if watch.party == "policyholder":
        return True
    return holder is not None and holder.person is not None and watch.person == holder.person


def _judged_at(pending: PendingEdit) -> datetime:
    """The time a held edit's authorization is judged as of: the time it states, or, when that
    is far before its policy's previous event (a mistyped year), when it came in."""
    return max(pending.event_time, pending.due_from or pending.event_time)


def _held_quarantine(pending: PendingEdit) -> QuarantineRecord:
    if pending.quarantine_json is None:  # its record, stored beside the state, was not restored
        raise RuntimeError(f"the held record of event {pending.event_id} is missing")
    return QuarantineRecord.model_validate_json(pending.quarantine_json)


def _authorize(slot: Slot, field: str, value: object) -> None:
    """A covered change becomes the person's baseline for that field."""
    kept = dict(baseline(slot))
    kept[field] = value
    slot.authorized = None if kept == slot.contacts else kept


class PolicyMachine:
    def __init__(self, config: DetectionConfig | None = None, adult_age_years: int | None = None) -> None:
        """``adult_age_years``: whose consent a minor's change needs; the rules' threshold
        (POLICYHOLDER_MINOR), so both speak of the same age."""
        self.config = config or DetectionConfig()
        self.adult_age_years = adult_age_years if adult_age_years is not None else Thresholds().adult_age_years
        self._grace = timedelta(seconds=self.config.arrival_grace_s)
        self._lateness = timedelta(seconds=self.config.max_lateness_s)

    # -- entry points ------------------------------------------------------------------

    def on_verdict(self, state: PolicyState | None, verdict: Verdict, now: datetime,
                   timing: Timing | None = None) -> Step:
        """One judged input. Due decisions are the caller's next :meth:`advance`. ``timing``:
        when the record counts for the clocks (streams.core.event_time); an outlier moves none
        of the policy's clocks and its held decisions fall due from the time it came in."""
        event = verdict.event
        if event is None:  # unreadable: nothing to remember, route as is
            return Step(state, outputs_of(verdict), decided=[(verdict.origin.topic, verdict.outcome)])
        if (state is not None and isinstance(event, PolicyEvent) and not (timing is not None and timing.outlier)
                and self._expired_by(state, event.occurred_at)):
            # As forgotten, whether or not the stream time got there first. Only a policy event
            # says so (its policy's events come in order: none older is still to be read; an
            # endorsement may be read ahead of its policy's older events), and only one whose
            # date is not in doubt.
            state = None
        state = state if state is not None else PolicyState(policy_no=event.policy_no)
        digest = content_digest(verdict.raw)
        seen = state.seen.get(event.event_id)
        if seen is not None:
            if seen == digest:
                return Step(state, duplicate=True)
            return self._duplicate_id(state, verdict, now)
        state.seen[event.event_id] = digest
        while len(state.seen) > self.config.seen_event_ids:
            del state.seen[next(iter(state.seen))]
        moment = event.occurred_at
        outlier = timing is not None and timing.outlier
        clock = timing.clock if timing is not None else moment
        due_from = clock if clock != moment else None
        step = Step(state)
        if isinstance(event, PolicyEvent):
            if not outlier:
                state.policy_time = max(state.policy_time or clock, clock)
            locks_at = timing.arrived if outlier and timing is not None and timing.arrived is not None else moment
            judged = None
            if outlier and timing is not None:
                # Its date is wrong: it happened when its partition had got to it (as a stream
                # time would have judged it, held back or not), or failing that at its policy's
                # previous event.
                judged = timing.reached or timing.arrived or clock
            self._policy_event(state, verdict, event, now, step, due_from, locks_at, judged)
        else:
            if not outlier:
                state.endorsement_time = max(state.endorsement_time or clock, clock)
            self._endorsement_event(state, verdict, event, now, step, due_from)
        self._decide_on_own_time(state, now, step)
        return step

    def _decide_on_own_time(self, state: PolicyState, now: datetime, step: Step) -> None:
        """The policy's own other stream (one partition, in order) has passed a held edit plus
        the grace: whatever could decide it has been read."""
        own = StreamTimes(state.policy_time, state.endorsement_time)
        # One policy's stream is near event-time order, not exactly: the lateness allowance.
        self._decide_held(state, now, step, lambda clock, due: own.reached(clock, due + self._lateness))
        self._settle(state, step)

    def _decide_held(self, state: PolicyState, now: datetime, step: Step,
                     reached: Callable[[Clock, datetime], bool]) -> None:
        """Decide the held edits, then the held visits, whose clock has ``reached`` their due
        time (edits first: a visit is judged after the edits made before it)."""
        for pending in list(state.pending):
            if reached(self._waits_on(pending), self._due(pending)):
                state.pending.remove(pending)
                self._decide(state, pending, now, step)
        for visit in list(state.held_visits):
            if reached(Clock.ENDORSEMENT, self._visit_due(visit)):
                state.held_visits.remove(visit)
                self._decide_visit(state, visit, step)

    def advance(self, state: PolicyState, times: StreamTimes, now: datetime) -> Step:
        """Decide what the partition's streams have made due: held edits, the ledger, overdue
        holds, retention. ``times`` are the partition's *safe* times: how far each stream has
        got less the lateness allowance, or the wall clock for a topic that is caught up."""
        step = Step(state)
        self._decide_held(state, now, step, times.reached)
        self._settle(state, step)
        self._check_overdue(state, times, now, step)
        if self._forgettable(state, times):
            step.state = None
        return step

    def finish(self, state: PolicyState, times: StreamTimes, now: datetime) -> Step:
        """End of a replay: every held edit is judged now; holds on the streams' final time."""
        step = Step(state)
        self._decide_held(state, now, step, lambda _clock, _due: True)
        self._settle(state, step)
        self._check_overdue(state, times, now, step)
        return step

    def deadlines(self, state: PolicyState) -> dict[Clock, datetime]:
        """When :meth:`advance` next has something to do for this policy, per stream clock."""
        found: dict[Clock, datetime] = {}

        def add(clock: Clock, moment: datetime) -> None:
            found[clock] = min(found.get(clock, moment), moment)

        # Only deadlines whose passing is sure to change something: a deadline that could
        # come due and change nothing would be found due again at every tick.
        for pending in state.pending:
            add(self._waits_on(pending), self._due(pending))
        for visit in state.held_visits:
            add(Clock.ENDORSEMENT, self._visit_due(visit))
        hold = state.hold
        if hold is not None and not hold.overdue_alerted and not self._overdue_blocked(state, hold):
            add(Clock.POLICY, hold.deadline)
        since = self._idle_since(state)
        if since is not None and not self._holds_anything(state):
            add(Clock.ANY, since + timedelta(days=self.config.retention_days))
        return found

    def _due(self, pending: PendingEdit) -> datetime:
        """When a held edit may be decided: the grace after its time (or after the stream time
        it came in at, when its stated time is an outlier)."""
        return (pending.due_from or pending.event_time) + self._grace

    @staticmethod
    def _waits_on(pending: PendingEdit) -> Clock:
        return Clock.ENDORSEMENT if pending.endorsement_no is None else Clock.POLICY

    # -- duplicates --------------------------------------------------------------------

    def _duplicate_id(self, state: PolicyState, verdict: Verdict, now: datetime) -> Step:
        """Same event_id, different bytes: a different event, never dropped (docs/contract.md §3.2)."""
        event = verdict.event
        if event is None:
            raise ValueError("a duplicate event_id needs the event it came with")
        findings = verdict.quarantine.findings if verdict.quarantine is not None else list(verdict.findings)
        record = build_quarantine(
            verdict.raw, verdict.origin, QuarantineReason.DUPLICATE_ID, now=now, findings=findings,
            errors=["event_id: already seen for this policy with different content"],
            event_id=event.event_id, policy_no=event.policy_no,
        )
        return Step(state, [quarantine_output(record)], decided=[(verdict.origin.topic, "quarantined")])

    # -- policy events -----------------------------------------------------------------

    def _policy_event(self, state: PolicyState, verdict: Verdict, event: PolicyEvent, now: datetime, step: Step,
                      due_from: datetime | None = None, locks_at: datetime | None = None,
                      judged: datetime | None = None) -> None:
        after = slots_of(event)
        changes: list[ContactChange] = []
        locked = state.lock_at is not None
        # Whoever is known: this snapshot's people and those who left it (a person who comes
        # back after an event that dropped them keeps their baseline).
        present = {slot.person for slot in state.slots}
        matches = matched(state.slots + [slot for slot in state.departed if slot.person not in present], after)
        if locked:
            carry_baseline(matches)
        self._remember_people(state, event, matches)
        if not locked:
            if event.event_type in self.config.lock_event_types:
                state.lock_at, state.lock_event_id = locks_at or event.occurred_at, event.event_id
                holder = next((slot for slot in after if slot.label == "policyholder"), None)
                if holder is not None:
                    state.confirmed_phones = {name: holder.contacts.get(name) for name in PHONE_FIELDS}
        else:
            changes = changes_between(matches)
            state.phone_switches += [
                PhoneSwitch(field=change.field, value=change.new, replaced=change.old, event_id=event.event_id,
                            actor=event.actor.model_dump(mode="json"))
                for change in changes if change.party == "policyholder" and change.field in PHONE_FIELDS]
            del state.phone_switches[:-MAX_PHONE_SWITCHES]
        if state.issued_at is not None:
            moved = changes if locked else changes_between(matched(state.slots, after))
            self._watch_return_visit(state, event, moved, after, now, step)
        else:
            if event.event_type is PolicyEventType.POLICY_ISSUED:
                state.issued_at = event.occurred_at
            self._watch_return_visit(state, event, [], after, now, step)  # a visit's number is checked all the same
        state.slots = after
        if event.event_type is PolicyEventType.POLICY_TERMINATED:
            state.terminated_at = event.occurred_at
        entry = self._ledger_entry(verdict, event, held=bool(changes), judged=judged)
        if entry is not None:
            state.ledger.append(entry)
        if changes:
            # Judged only once the grace has passed on the endorsement stream, covered or
            # not: an authorization, or the rejection that revokes it, may still be on its way.
            pending = self._pending(verdict, event, changes, now, slots=concerned(after, changes), due_from=due_from)
            if self.config.arrival_grace_s > 0:
                state.pending.append(pending)
            else:
                self._decide(state, pending, now, step)
        else:
            step.outputs += outputs_of(verdict)
            step.decided.append((verdict.origin.topic, verdict.outcome))
        self._settle(state, step)

    @staticmethod
    def _remember_people(state: PolicyState, event: PolicyEvent, matches: list[Match]) -> None:
        """Keep who stands where from this event on, and the people who left the snapshot (not
        those who stay under another ID: an upgraded or corrected number is the same person)."""
        layout = [Slot(label=slot.label, person=slot.person, birth_date=slot.birth_date) for slot, _ in matches]
        if not state.layouts or state.layouts[-1].slots != layout:
            state.layouts.append(Layout(at=event.occurred_at, slots=layout))
            del state.layouts[:-MAX_LAYOUTS]
        staying = {slot.person for slot, _ in matches if slot.person is not None}
        staying |= {old.person for _, old in matches if old is not None and old.person is not None}
        for slot in state.slots:
            if slot.person is not None and slot.person not in staying:
                state.departed = [kept for kept in state.departed if kept.person != slot.person]
                state.departed.append(slot.model_copy(update={"label": DEPARTED}))
        state.departed = [kept for kept in state.departed if kept.person not in staying][-MAX_DEPARTED:]

    def _pending(
        self,
        verdict: Verdict,
        event: PolicyEvent | EndorsementEvent,
        changes: list[ContactChange],
        now: datetime,
        *,
        endorsement_no: str | None = None,
        slots: list | None = None,
        due_from: datetime | None = None,
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
            due_from=due_from,
            held_since=now,
            changes=changes,
            slots=slots or [],
            actor=event.actor.model_dump(mode="json"),
            channel=event.channel,
            branch_code=event.branch_code,
            source_topic=verdict.origin.topic,
            clean_json=verdict.clean.model_dump_json() if verdict.clean is not None else None,
            quarantine_json=record.model_dump_json(),
            outcome=verdict.outcome,
        )

    def _uncovered(self, state: PolicyState, pending: PendingEdit) -> list[ContactChange]:
        """The changes of a held edit that nothing authorizes, each judged on the history: a
        value back to the person's baseline (what they confirmed or last authorized) is a
        correction; otherwise the latest customer-authorized change of that field by the
        edit's time must have set this value. A covered change moves the baseline; an
        uncovered one never does (docs/contract.md §2.2)."""
        config = self.config
        records = list(state.endorsements.values())
        uncovered = []
        for change in pending.changes:
            slots = _slots_of(state.slots, change)
            found, value = authorized_value(records, change, pending.slots, _judged_at(pending), config.clock_skew_s,
                                            config.arrival_grace_s, self.adult_age_years, state.layouts)
            if found:
                # The customer's latest authorized change of this field decides, even over a
                # baseline value it replaced (restoring that is an edit, not a correction).
                if value != change.new:
                    uncovered.append(change)
                    continue
                for slot in slots:
                    _authorize(slot, change.field, change.new)
                continue
            kept = baseline(slots[0]) if slots else {}
            if change.field in kept and kept[change.field] == change.new:
                continue  # back to what the customer confirmed: a correction, not an edit
            uncovered.append(change)
        return uncovered

    def _decide(self, state: PolicyState, pending: PendingEdit, now: datetime, step: Step) -> None:
        """Judge a held edit. What it emits is stamped with the moment it fell due (event time),
        not when it was judged: a re-run or a re-delivery gives the same bytes."""
        now = self._due(pending)
        if pending.endorsement_no is not None:
            self._decide_endorsement(state, pending, now, step)
            return
        uncovered = self._uncovered(state, pending)
        if not uncovered:
            self._emit_held(state, pending, Stream.POLICY, step)
            self._resolve_ledger(state, pending.event_id, passed=pending.clean_json is not None)
            return
        self._resolve_ledger(state, pending.event_id, passed=False)
        self._quarantine_unauthorized(pending, uncovered, now, step)
        cutoff = _judged_at(pending) + self._grace
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
                # A date mistyped into the past leaves when the edit happened uncertain: named,
                # not fined, until someone has checked it.
                penalties={} if _judged_at(pending) != pending.event_time else self.config.penalties,
                evidence={
                    **({"event_time_outlier": True, "judged_as_of": _judged_at(pending).isoformat()}
                       if _judged_at(pending) != pending.event_time else {}),
                    "lock_event_id": state.lock_event_id,
                    "lock_at": state.lock_at.isoformat() if state.lock_at else None,
                    "endorsements_on_file": sorted(
                        number for number, record in state.endorsements.items()
                        if (record.first_seen() or cutoff) <= cutoff
                    ),
                    "arrival_grace_s": self.config.arrival_grace_s,
                },
            )
        )

    def _quarantine_unauthorized(
        self, pending: PendingEdit, changes: list[ContactChange], now: datetime, step: Step
    ) -> None:
        """The held event's record, as UNAUTHORIZED_EDIT with one finding per offending change."""
        base = _held_quarantine(pending)
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
        else:
            step.outputs.append(quarantine_output(_held_quarantine(pending)))
            step.decided.append((pending.source_topic, "quarantined"))

    # -- endorsement events ------------------------------------------------------------

    def _endorsement_event(
        self, state: PolicyState, verdict: Verdict, event: EndorsementEvent, now: datetime, step: Step,
        due_from: datetime | None = None,
    ) -> None:
        record = record_endorsement(state, event)
        if len(state.endorsements) > MAX_ENDORSEMENTS:
            oldest = min(state.endorsements.values(), key=lambda r: r.first_seen() or event.occurred_at)
            state.endorsements.pop(oldest.endorsement_no)
        if event.event_type.value in APPROVING_STATUSES:
            changes = [
                ContactChange(party=party, person=None, field=name, old=old, new=new)
                for party, name, old, new in record.as_of(event.occurred_at).changes
                if name in CONTACT_FIELDS and not party.startswith("beneficiaries")
            ]
            if changes:
                # Judged once the policy stream has passed it plus the grace: its lock point
                # and the people it changes may be on the other topic, not yet read.
                pending = self._pending(verdict, event, changes, now, endorsement_no=record.endorsement_no,
                                        due_from=due_from)
                if self.config.arrival_grace_s > 0:
                    state.pending.append(pending)
                else:
                    self._decide_endorsement(state, pending, now, step)
                return
        step.outputs += outputs_of(verdict)
        step.decided.append((verdict.origin.topic, verdict.outcome))

    def _decide_endorsement(self, state: PolicyState, pending: PendingEdit, now: datetime, step: Step) -> None:
        """An approved contact change: unauthorized if it changes a customer's contact data
        after the lock point without that customer's authorization."""
        stored = state.endorsements.get(pending.endorsement_no or "")
        after_lock = state.lock_at is not None and pending.event_time >= state.lock_at
        if stored is None or not after_lock:
            self._emit_held(state, pending, Stream.ENDORSEMENT, step)
            return
        record = stored.as_of(pending.event_time + self._grace)  # its news up to the grace, in any read order
        on = canonical.insurer_date(pending.event_time)
        places = places_at(state.layouts, pending.event_time, state.slots)
        bad = unauthorized_changes(record, places, on, self.adult_age_years)
        if not bad:
            self._emit_held(state, pending, Stream.ENDORSEMENT, step)
            return
        self._quarantine_unauthorized(pending, bad, now, step)
        if stored.flagged:  # its approval was alerted already; an EFFECTIVE event adds no second alert
            return
        stored.flagged = True
        step.alert(
            unauthorized_edit_alert(
                event_id=pending.event_id, policy_no=state.policy_no, channel=pending.channel,
                branch_code=pending.branch_code, event_time=pending.event_time, now=now, changes=bad,
                actor=pending.actor, penalties=self.config.penalties,
                evidence={"endorsement_no": record.endorsement_no,
                          "applicant": record.applicant.value if record.applicant else None,
                          "customer_evidence": record.customer_evidence,
                          "lock_event_id": state.lock_event_id},
                via_endorsement=record.endorsement_no,
            )
        )

    # -- return visits (回访) ------------------------------------------------------------

    def _watch_return_visit(self, state: PolicyState, event: PolicyEvent, changes: list[ContactChange],
                            after: list[Slot], now: datetime, step: Step) -> None:
        """RETURN_VISIT_INTERCEPTION, on the policy stream's own order (one partition).

        A visit completed on a number the customer never confirmed or authorized: a number an
        unauthorized edit put there (whoever made that edit answers for it, whether the edit
        was decided before the visit was read or after), or a stranger's number (the visit's
        actor answers). A number back to its original after the visit changes nothing about
        which number the visit reached. Other contact fields changed after issue from A to B
        with a visit completed while B, then back to A, are the A → B → visit → A pattern."""
        holder = next((slot for slot in after if slot.label == "policyholder"), None)
        reverted: list[VisitWatch] = []
        watched: set[tuple[str, str]] = set()
        for change in changes:
            # A person in two slots (a SELF policyholder) is one change of theirs, watched once.
            ident = (change.person if change.person is not None else change.party, change.field)
            if ident in watched:
                continue
            watched.add(ident)
            watch = next((w for w in state.visit_watch if w.field == change.field and (
                w.person == change.person if change.person is not None else w.party == change.party)), None)
            actor = event.actor.model_dump(mode="json")
            if watch is None:
                state.visit_watch.append(VisitWatch(
                    party=change.party, person=change.person, field=change.field, original=change.old,
                    switched=change.new, switched_by=event.event_id, replaced=change.old,
                    switched_at=event.occurred_at, actor=actor))
            elif change.new == watch.original:
                state.visit_watch.remove(watch)
                if watch.visit_event_id is not None and not _holder_phone(watch, holder):
                    reverted.append(watch)
            elif watch.visit_event_id is not None:
                state.visit_watch.remove(watch)  # moved on to a third value: not a switch back
            else:
                watch.switched, watch.switched_by, watch.replaced, watch.switched_at, watch.actor = (
                    change.new, event.event_id, change.old, event.occurred_at, actor)
        del state.visit_watch[:-MAX_VISIT_WATCHES]
        if reverted:
            step.alert(switched_back_alert(
                policy_no=state.policy_no, channel=event.channel, branch_code=event.branch_code,
                event_id=event.event_id, event_time=event.occurred_at, now=now, watches=reverted,
                penalties=self.config.penalties, reverted_by=event.actor.model_dump(mode="json")))
        if event.event_type is not PolicyEventType.RETURN_VISIT_COMPLETED:
            return
        for watch in state.visit_watch:
            if watch.visit_event_id is None:
                watch.visit_event_id, watch.visit_at = event.event_id, event.occurred_at
        called = event.return_visit.phone_called if event.return_visit is not None else None
        dialled = canonical.phone(called)
        if not called or holder is None:
            return
        visit = HeldVisit(event_id=event.event_id, at=event.occurred_at, called=called,
                          actor=event.actor.model_dump(mode="json"), channel=event.channel, branch_code=event.branch_code,
                          holder_mobile=holder.contacts.get("mobile"),
                          slots=[Slot(label=holder.label, person=holder.person, birth_date=holder.birth_date)])
        if state.lock_at is None:
            # Nothing is confirmed yet: the customer's numbers are the ones the visit's record shows.
            if dialled not in {holder.contacts.get(name) for name in PHONE_FIELDS}:
                self._wrong_number(state, visit, now, step)
            return
        if dialled in state.confirmed_phones.values():
            return  # what the customer confirmed at the lock
        # Another number: the customer's own if an authorization of theirs gave it by the visit,
        # which may still be on its way; judged like an edit, once the grace has passed.
        visit.switched_by = next((switch for switch in reversed(state.phone_switches) if switch.value == dialled), None)
        if self.config.arrival_grace_s > 0:
            state.held_visits.append(visit)
        else:
            self._decide_visit(state, visit, step)

    def _visit_due(self, visit: HeldVisit) -> datetime:
        return visit.at + self._grace

    def _decide_visit(self, state: PolicyState, visit: HeldVisit, step: Step) -> None:
        """A visit on a number other than the confirmed one: an interception unless the
        customer's latest authorized change of the policyholder's mobile or landline by the
        visit gave that number. Whoever put it there answers for it (else the visit's actor)."""
        dialled = canonical.phone(visit.called)
        records = list(state.endorsements.values())
        person = visit.slots[0].person if visit.slots else None
        for name in PHONE_FIELDS:
            asked = ContactChange(party="policyholder", person=person, field=name, new=dialled)
            found, value = authorized_value(records, asked, visit.slots, visit.at, self.config.clock_skew_s,
                                            self.config.arrival_grace_s, self.adult_age_years, state.layouts)
            if found and value == dialled:
                return
        switch = visit.switched_by
        if switch is None:
            self._wrong_number(state, visit, self._visit_due(visit), step)
        else:
            self._wrong_number(state, visit, self._visit_due(visit), step, switch.event_id, switch.actor,
                               switch.field, switch.replaced)

    def _wrong_number(self, state: PolicyState, visit: HeldVisit, now: datetime, step: Step,
                      switched_by: str | None = None, switcher: dict[str, Any] | None = None,
                      field: str | None = None, replaced: Any = None) -> None:
        """The interception alert of one visit; its content comes from the visit and the change
        that switched the number alone, so it is the same whenever either was judged."""
        step.alert(wrong_number_alert(
            policy_no=state.policy_no, channel=visit.channel, branch_code=visit.branch_code, event_id=visit.event_id,
            event_time=visit.at, now=now, called=visit.called, holder_mobile=visit.holder_mobile,
            actor=switcher if switcher is not None else visit.actor, penalties=self.config.penalties,
            switched_by=switched_by, field=field, replaced=replaced))

    # -- commission, in policy-event order ----------------------------------------------

    @staticmethod
    def _ledger_entry(verdict: Verdict, event: PolicyEvent, *, held: bool,
                      judged: datetime | None = None) -> LedgerEntry | None:
        errors = sorted({f.rule for f in verdict.findings if f.severity is Severity.ERROR})
        if verdict.reason is QuarantineReason.RULE_ERROR and errors:
            if not event.intermediary_code or event.actor.role in INSURER_STAFF:
                # No intermediary, or the insurer's own staff made the event: nothing the
                # intermediary answers for (docs/contract.md §3.4). A later pass still releases.
                return None
            return LedgerEntry(
                kind=LedgerKind.FAIL, event_id=event.event_id, at=event.occurred_at,
                intermediary_code=event.intermediary_code, channel=event.channel, branch_code=event.branch_code,
                actor=event.actor.model_dump(mode="json"), reasons=errors,
            )
        if verdict.clean is not None:
            kind = LedgerKind.HELD if held else LedgerKind.PASS
            return LedgerEntry(kind=kind, event_id=event.event_id, at=event.occurred_at, judged_at=judged)
        return None

    @staticmethod
    def _resolve_ledger(state: PolicyState, event_id: str, *, passed: bool) -> None:
        for index, entry in enumerate(state.ledger):
            if entry.event_id == event_id and entry.kind is LedgerKind.HELD:
                if passed:
                    entry.kind = LedgerKind.PASS
                else:
                    del state.ledger[index]
                return

    def _settle(self, state: PolicyState, step: Step) -> None:
        """Apply the ledger up to the first edit still held."""
        while state.ledger and state.ledger[0].kind is not LedgerKind.HELD:
            entry = state.ledger.pop(0)
            if entry.kind is LedgerKind.PASS:
                self._release(state, entry, step)
            else:
                self._open_hold(state, entry, step)

    def _open_hold(self, state: PolicyState, entry: LedgerEntry, step: Step) -> None:
        if state.hold is not None or entry.intermediary_code is None:
            return
        state.hold = CommissionHold(
            intermediary_code=entry.intermediary_code,
            channel=entry.channel,
            branch_code=entry.branch_code,
            opened_by=entry.event_id,
            opened_by_actor=entry.actor,
            opened_at=entry.at,
            deadline=entry.at + timedelta(days=self.config.hold_deadline_days),
            reasons=entry.reasons,
        )
        step.instruct(
            instruction(CommissionAction.HOLD, event_id=entry.event_id, policy_no=state.policy_no,
                        intermediary_code=entry.intermediary_code, channel=entry.channel, reasons=entry.reasons,
                        at=entry.at)
        )

    def _release(self, state: PolicyState, entry: LedgerEntry, step: Step) -> None:
        hold = state.hold
        if hold is None:
            return
        if not hold.overdue_alerted and (entry.judged_at or entry.at) > hold.deadline:
            # Corrected after the deadline: overdue, however soon the stream time had got there
            # (a sparse partition, or one that a backfill beside live traffic holds back).
            hold.overdue_alerted = True
            step.alert(overdue_alert(state.policy_no, hold, hold.deadline, self.config.hold_deadline_days))
        state.hold = None
        step.instruct(
            instruction(CommissionAction.RELEASE, event_id=entry.event_id, policy_no=state.policy_no,
                        intermediary_code=hold.intermediary_code, channel=hold.channel, reasons=hold.reasons,
                        at=entry.at)
        )

    def _check_overdue(self, state: PolicyState, times: StreamTimes, now: datetime, step: Step) -> None:
        hold = state.hold
        if hold is None or hold.overdue_alerted or not times.reached(Clock.POLICY, hold.deadline):
            return
        if self._overdue_blocked(state, hold):
            return
        hold.overdue_alerted = True
        step.alert(overdue_alert(state.policy_no, hold, hold.deadline, self.config.hold_deadline_days))

    @staticmethod
    def _overdue_blocked(state: PolicyState, hold: CommissionHold) -> bool:
        """An edit made before the deadline is still held: it may be the correction."""
        return any(entry.at <= hold.deadline for entry in state.ledger)

    @staticmethod
    def _holds_anything(state: PolicyState) -> bool:
        """A held edit, an open commission hold or a queued ledger entry: not to be forgotten."""
        return bool(state.pending or state.held_visits or state.hold is not None or state.ledger)

    @staticmethod
    def _idle_since(state: PolicyState) -> datetime | None:
        """Only a terminated policy is ever forgotten: a policy in force keeps its lock point and
        baseline however long it sits idle (decades, for a life policy), and a go-live backfill
        of years-old snapshots is as locked as yesterday's."""
        return state.terminated_at

    def _forgettable(self, state: PolicyState, times: StreamTimes) -> bool:
        """Terminated past retention, with nothing held."""
        since = self._idle_since(state)
        if since is None or self._holds_anything(state):
            return False
        return times.reached(Clock.ANY, since + timedelta(days=self.config.retention_days))

    def _expired_by(self, state: PolicyState, moment: datetime) -> bool:
        """An event this long after its policy's termination finds the policy forgotten, as the
        stream time would have had it: the answer is the event's and the policy's, never how far
        the partition had got (which a backfill beside live traffic holds back)."""
        since = self._idle_since(state)
        if since is None or self._holds_anything(state):
            return False
        return moment >= since + timedelta(days=self.config.retention_days)


__all__ = ["Clock", "PolicyMachine", "Step", "StreamTimes", "content_digest"]
