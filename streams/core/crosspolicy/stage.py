"""The cross-policy stage: a batch's observations → one index exchange → candidate alerts.

Sans I/O, so the worker (Redis, asynchronously) and replay (in process, or Redis when
``REDIS_URL`` is set) run the very same steps:

1. :meth:`CrossPolicyStage.request` — the writes and reads of a whole batch;
2. the shell has its store execute them in one round trip (writes first, so two workers
   judging two halves of a conflict at once cannot both miss it: whichever store call runs
   second sees the other's write);
3. :meth:`CrossPolicyStage.detect` — candidates from the view;
4. the store's claim keeps the alerts this batch's events own (see :class:`Claim`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas.alert import Penalty
from schemas.enums import ActorRole
from schemas.policy_event import PolicyEvent
from streams.core.crosspolicy.config import CrossPolicyConfig
from streams.core.crosspolicy.detectors import (
    Candidate,
    actor_list,
    epoch,
    identity_conflicts,
    shared_contacts,
    staff_phones,
)
from streams.core.crosspolicy.index import Request, View, identity_entry, use_entry
from streams.core.crosspolicy.keys import Hasher
from streams.core.crosspolicy.observation import Observation, observe
from streams.core.detection.config import DEFAULT_PENALTIES
from streams.core.pipeline import Verdict


@dataclass
class CrossPolicyStage:
    hasher: Hasher
    config: CrossPolicyConfig
    penalties: dict[ActorRole, Penalty | None]

    @classmethod
    def default(cls, secret: str, config: CrossPolicyConfig | None = None,
                penalties: dict[ActorRole, Penalty | None] | None = None) -> CrossPolicyStage:
        return cls(Hasher(secret), config or CrossPolicyConfig(), penalties or dict(DEFAULT_PENALTIES))

    def observe(self, verdict: Verdict) -> Observation | None:
        """What a judged input tells the index (None: not a readable policy event)."""
        event = verdict.event
        if not isinstance(event, PolicyEvent):
            return None
        return observe(event, verdict.findings, self.hasher)

    def request(self, observations: Sequence[Observation]) -> Request:
        request = Request()
        for obs in observations:
            at, actor = epoch(obs.at), actor_list(obs.actor)
            for sighting in obs.sightings:
                request.identities.append((sighting.person, obs.policy_no, identity_entry(
                    identity=sighting.identity, at=at, event_id=obs.event_id, actor=actor,
                    roles=list(sighting.roles), channel=obs.channel, branch_code=obs.branch_code)))
                request.persons.add(sighting.person)
            if obs.use is not None:
                request.uses.append((obs.use.mobile, obs.use.holder, use_entry(
                    at=at, event_id=obs.event_id, actor=actor, policy_no=obs.policy_no, channel=obs.channel,
                    branch_code=obs.branch_code)))
                request.mobiles.add(obs.use.mobile)
            request.roster.update(phone.mobile for phone in obs.phones)
        return request

    def detect(self, observations: Sequence[Observation], view: View, now: datetime) -> list[Candidate]:
        """Every alert the batch's events find, in event order; the same alert found twice in
        one batch is listed once, under the first event that found it."""
        found: dict[str, Candidate] = {}
        grouped: dict[str, dict[str, list[str]]] = {}
        windows: dict[str, list[tuple[int, list[str]]]] = {}
        for obs in observations:
            for candidate in (
                *staff_phones(obs, view, now, self.penalties),
                *identity_conflicts(obs, view, now, grouped),
                *shared_contacts(obs, view, now, self.config, windows),
            ):
                found.setdefault(candidate.alert.alert_id, candidate)
        return list(found.values())


__all__ = ["Candidate", "CrossPolicyStage"]
