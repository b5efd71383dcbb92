"""The cross-policy stage as a shell runs it: one store exchange per batch, outages survived.

Validation never waits for the customer index. When the store fails or times out, the
batch's observations are kept in a bounded backlog and the store is left alone for a
backoff (0.5 s doubling to 30 s), so a dead Redis costs no time per batch; the outage is
logged once when it starts and once when it ends. When the store answers again the backlog
is caught up, oldest first, a chunk per batch. What the backlog cannot hold is skipped and
counted (``policyguard_cross_policy_skipped_total``), never silently.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from redis.exceptions import RedisError

from schemas.alert import Alert
from streams import metrics
from streams.core.crosspolicy import CrossPolicyStage, CrossStore, MemoryStore, Observation
from streams.cross_backlog import Backlog, MemoryBacklog, open_backlog
from streams.redis_store import RedisStore
from streams.settings import Settings

log = logging.getLogger(__name__)

STORE_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
ROSTER_SEEN_MARKER = "roster-seen"
"""A file in the worker's data directory: this worker has found a roster in the store before."""
CATCH_UP_CHUNK = 2_000
"""Backlogged observations taken along with one batch: a long outage is caught up over a few
batches (or timer ticks), never in one script call that would hold Redis for seconds."""


class CrossPolicyRunner:
    def __init__(self, stage: CrossPolicyStage, store: CrossStore | None, *, backlog_max: int = 100_000,
                 monotonic: Callable[[], float] = time.monotonic, seen_marker: Path | None = None,
                 backlog: Backlog | None = None) -> None:
        self.stage = stage
        self.store = store
        self.backlog: Backlog = backlog if backlog is not None else MemoryBacklog()
        """Checks waiting for the store, oldest first: on the worker's disk (streams.cross_backlog)
        so that a restart during an outage loses none of them."""
        self.backlog_max = backlog_max
        self.monotonic = monotonic
        self.down_since: float | None = None
        self.retry_at = 0.0
        self.backoff = BACKOFF_FIRST_S
        self.seen_marker = seen_marker
        self.roster_seen = seen_marker is not None and seen_marker.exists()
        """A roster was found in the store, by this process or (``seen_marker``, a file in the
        worker's data directory) an earlier one: a worker restarted while Redis is empty waits too."""
        self.roster_missing = False

    async def run(self, observations: Sequence[Observation], now: datetime) -> list[Alert]:
        """The alerts these observations (and whatever was backlogged) find and own."""
        if self.store is None:
            metrics.count_cross_skipped("no_store", len(observations))
            return []
        if self.down_since is not None and self.monotonic() < self.retry_at:
            self._defer(observations)
            return []
        if not (observations or self.backlog):
            return []
        try:
            if not await self._roster_ready():
                self._defer(observations, up=True)
                return []
        except STORE_ERRORS as exc:
            self._failed(exc, observations)
            return []
        # Backlogged checks stay stored until they have run: a crash in between finds them again.
        taken = self.backlog.peek(CATCH_UP_CHUNK)
        batch = [*taken, *observations]
        started = time.perf_counter()
        try:
            request = self.stage.request(batch)
            view = await self.store.exchange(request)
            candidates = self.stage.detect(batch, view, now)
            owned = await self.store.claim([candidate.claim for candidate in candidates])
        except STORE_ERRORS as exc:
            self._failed(exc, observations)
            return []
        except Exception as exc:  # noqa: BLE001 - a detector defect costs these checks, never the batch
            log.error("cross-policy checks of %d events failed: %s", len(batch), type(exc).__name__)
            self.backlog.drop(len(taken))
            metrics.count_cross_skipped("defect", len(batch))
            metrics.STAGE_ERRORS.labels(stage="cross").inc()
            return []
        self._recovered()  # logs how many deferred checks this catches up: before they are dropped
        self.backlog.drop(len(taken))
        metrics.CROSS_SECONDS.observe(time.perf_counter() - started)
        metrics.set_cross_state(up=True, backlog=len(self.backlog))
        return [candidate.alert for candidate in candidates if candidate.alert.alert_id in owned]

    async def _roster_ready(self) -> bool:
        """False while a store that had a roster has lost it (a Redis restarted empty): the
        staff-phone check would run without the roster and miss what it exists for, so every
        check waits in the backlog, logged and on `policyguard_cross_policy_roster_missing`,
        until `policyguard roster load` runs again. A store that never had one is not waited on."""
        if self.store is None:
            return True  # no store, no checks to hold back (run() counts them as skipped)
        present = await self.store.roster_present()
        if present:
            if not self.roster_seen:
                self._remember_roster()
            self.roster_seen = True
            if self.roster_missing:
                log.warning("staff roster back in the customer index: catching up %d deferred events",
                            len(self.backlog))
                self.roster_missing = False
            metrics.ROSTER_MISSING.set(0)
            return True
        if not self.roster_seen:
            return True
        if not self.roster_missing:
            log.error("the staff roster is gone from the customer index (Redis restarted empty?): cross-policy "
                      "checks wait until `policyguard roster load` runs again")
            self.roster_missing = True
        metrics.ROSTER_MISSING.set(1)
        return False

    def _remember_roster(self) -> None:
        if self.seen_marker is None:
            return
        try:
            self.seen_marker.parent.mkdir(parents=True, exist_ok=True)
            self.seen_marker.touch()
        except OSError as exc:  # the data directory is the worker's; not a store failure
            log.warning("cannot record that a roster was seen (%s): a restart while Redis is empty will not "
                        "wait for it", type(exc).__name__)

    def _defer(self, observations: Sequence[Observation], *, up: bool = False) -> None:
        self.backlog.append(observations)
        overflow = len(self.backlog) - self.backlog_max
        if overflow > 0:
            self.backlog.drop(overflow)
            metrics.count_cross_skipped("backlog_full", overflow)
        metrics.set_cross_state(up=up, backlog=len(self.backlog))

    def _failed(self, exc: BaseException, observations: Sequence[Observation]) -> None:
        """The store failed: ``observations`` (this batch's, newer than all that waits) join the
        backlog, which kept what was taken from it."""
        now = self.monotonic()
        if self.down_since is None:
            self.down_since = now
            self.backoff = BACKOFF_FIRST_S
            log.warning("customer index (Redis) unavailable (%s): validation goes on; cross-policy checks are kept "
                        "for later (up to %d events) and retried with backoff", type(exc).__name__, self.backlog_max)
        else:
            self.backoff = min(self.backoff * 2, BACKOFF_MAX_S)
        self.retry_at = now + self.backoff
        self._defer(observations)

    def _recovered(self) -> None:
        if self.down_since is None:
            return
        log.warning("customer index (Redis) available again after %.1f s; catching up %d deferred events",
                    self.monotonic() - self.down_since, len(self.backlog))
        self.down_since = None
        self.backoff = BACKOFF_FIRST_S

    async def close(self) -> None:
        self.backlog.close()
        if self.store is not None:
            await self.store.close()

    @property
    def pending(self) -> int:
        return len(self.backlog)


def build_runner(settings: Settings, *, in_process: bool = False) -> CrossPolicyRunner:
    """The stage on the Redis of ``REDIS_URL``; without one, an in-process store when
    ``in_process`` (replay: one process sees every policy), else none (a worker: its checks are
    counted as skipped, since one worker's memory would miss the other workers' policies)."""
    config = settings.cross_policy
    stage = CrossPolicyStage.default(settings.secret(), config, settings.detection.penalties)
    store: CrossStore | None = None
    if settings.redis_url:
        store = RedisStore.from_url(settings.redis_url, config, prefix=settings.redis_prefix,
                                    timeout_s=settings.redis_timeout_s)
    elif in_process:
        store = MemoryStore(config)
    if in_process or store is None:
        return CrossPolicyRunner(stage, store, backlog_max=settings.cross_backlog_max)
    return CrossPolicyRunner(stage, store, backlog_max=settings.cross_backlog_max,
                             seen_marker=Path(settings.data_dir) / ROSTER_SEEN_MARKER,
                             backlog=open_backlog(settings.data_dir, settings.app_id))
