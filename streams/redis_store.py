"""The customer index on Redis (redis-py asyncio): one script call per batch, never per event.

A batch's writes and reads run as one Lua script, so they are atomic: two workers judging
the two halves of an identity conflict at the same moment cannot both miss it, because
whichever script runs second sees the first one's write. The script's merges mirror
:func:`streams.core.crosspolicy.index.merge_identity` and ``merge_use`` exactly; the tests run
the same cases against this store and the in-process one.

Keys (``<prefix>`` = ``POLICYGUARD_REDIS_PREFIX``), every customer value a keyed hash:
``<prefix>:id:<person>`` hash policy → entry; ``<prefix>:mob:<mobile>`` hash policyholder →
entry; ``<prefix>:roster`` hash mobile → staff member; ``<prefix>:claim:<alert_id>`` the
event that owns an alert; ``<prefix>:alerts:<person>`` the cross-policy alerts about a
person; ``<prefix>:audit`` who looked at which customer. Entries expire after the retention
with no write. The script names keys it builds itself, so the index needs one Redis (or a
Sentinel-managed primary), not Redis Cluster.
"""
from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from streams.core.crosspolicy.config import CrossPolicyConfig
from streams.core.crosspolicy.index import Claim, Request, RosterEntry, View
from streams.core.crosspolicy.store import CustomerRecord

EXCHANGE = """
local req = cjson.decode(ARGV[1])
local prefix, retention = req.prefix, req.retention
local touched = {}
-- One write: merged into what is stored, or (a new field) added while the key is under its cap.
-- merge(old, new) is the entry to store, or nil to keep the old one.
local function write(kind, w, cap, merge)
  local key, field, new = prefix .. kind .. w[1], w[2], w[3]
  local stored = redis.call('HGET', key, field)
  local value = nil
  if stored then
    local merged = merge(cjson.decode(stored), new)
    if merged then value = cjson.encode(merged) end
  elseif redis.call('HLEN', key) < cap then
    value = cjson.encode(new)
  end
  if value then redis.call('HSET', key, field, value) end
  touched[key] = true
end
local function merge_identity(old, new)
  if new.t < old.t then return nil end
  if new.k == old.k then new.s = old.s; new.e = old.e; new.a = old.a end
  return new
end
local function merge_use(old, new)
  local first = old
  if new.f < old.f then first = new end
  local policies = old.p
  for _, policy in ipairs(new.p) do
    local known = false
    for _, have in ipairs(policies) do if have == policy then known = true end end
    if not known and #policies < req.cap then table.insert(policies, policy) end
  end
  return {f = first.f, l = math.max(old.l, new.l), e = first.e, a = first.a, p = policies, c = first.c, b = first.b}
end
for _, w in ipairs(req.ids) do write(':id:', w, req.per_person, merge_identity) end
for _, w in ipairs(req.uses) do write(':mob:', w, req.per_mobile, merge_use) end
for key in pairs(touched) do redis.call('EXPIRE', key, retention) end
-- One JSON text back: stored values are JSON already, and one bulk reply parses in C, where
-- thousands of nested reply elements would each cost a Python call.
local out = {}
local function section(name, keys, kind, last)
  out[#out + 1] = '"' .. name .. '":{'
  for n, key in ipairs(keys) do
    local flat = redis.call('HGETALL', prefix .. kind .. key)
    local parts = {}
    for j = 1, #flat, 2 do parts[#parts + 1] = cjson.encode(flat[j]) .. ':' .. flat[j + 1] end
    out[#out + 1] = (n > 1 and ',' or '') .. cjson.encode(key) .. ':{' .. table.concat(parts, ',') .. '}'
  end
  out[#out + 1] = last and '}' or '},'
end
out[#out + 1] = '{'
section('persons', req.persons, ':id:', false)
section('mobiles', req.mobiles, ':mob:', false)
out[#out + 1] = '"roster":{'
local n = 0
for _, mobile in ipairs(req.roster) do
  local entry = redis.call('HGET', prefix .. ':roster', mobile)
  if entry then
    n = n + 1
    out[#out + 1] = (n > 1 and ',' or '') .. cjson.encode(mobile) .. ':' .. entry
  end
end
out[#out + 1] = '}}'
return table.concat(out)
"""

CLAIM = """
local retention = tonumber(ARGV[1])
local prefix = ARGV[2]
local i = 3
local n = tonumber(ARGV[i]); i = i + 1
local owned = {}
for _ = 1, n do
  local id, owner, ref, people = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  redis.call('SET', prefix .. ':claim:' .. id, owner, 'NX', 'EX', retention)
  local mine = redis.call('GET', prefix .. ':claim:' .. id) == owner
  if mine then table.insert(owned, id) end
  for _ = 1, people do
    if mine then
      local key = prefix .. ':alerts:' .. ARGV[i]
      redis.call('HSET', key, id, ref)
      redis.call('EXPIRE', key, retention)
    end
    i = i + 1
  end
end
return owned
"""

AUDIT_KEPT = 100_000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStore:
    def __init__(self, client: aioredis.Redis, config: CrossPolicyConfig, prefix: str = "policyguard") -> None:
        self.client = client
        self.config = config
        self.prefix = prefix
        self._retention = max(int(config.retention_days * 86_400), 1)
        self._exchange = client.register_script(EXCHANGE)
        self._claim = client.register_script(CLAIM)

    @classmethod
    def from_url(cls, url: str, config: CrossPolicyConfig, *, prefix: str = "policyguard",
                 timeout_s: float = 2.0) -> RedisStore:
        """Short timeouts: a slow Redis must cost a batch its cross-policy checks, not the
        partition its progress."""
        client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                         max_connections=8)
        return cls(client, config, prefix)

    async def exchange(self, request: Request) -> View:
        config = self.config
        document = {
            "prefix": self.prefix, "retention": self._retention, "cap": config.policies_per_mobile,
            "per_person": config.policies_per_person, "per_mobile": config.holders_per_mobile,
            "ids": request.identities, "uses": request.uses,
            "persons": sorted(request.persons), "mobiles": sorted(request.mobiles), "roster": sorted(request.roster),
        }
        reply = json.loads(await self._exchange(args=[json.dumps(document, separators=(",", ":"))]))
        return View(
            persons=reply["persons"],
            mobiles=reply["mobiles"],
            roster={key: RosterEntry.from_entry(entry) for key, entry in reply["roster"].items()},
        )

    async def claim(self, claims: list[Claim]) -> set[str]:
        if not claims:
            return set()
        args: list[Any] = [self._retention, self.prefix, len(claims)]
        for claim in claims:
            ref = json.dumps({"alert_id": claim.alert_id, "alert_type": claim.alert_type,
                              "policy_no": claim.policy_no}, separators=(",", ":"))
            args += [claim.alert_id, claim.owner, ref, len(claim.persons), *claim.persons]
        return {_text(alert_id) for alert_id in await self._claim(args=args)}

    async def load_roster(self, entries: dict[str, RosterEntry]) -> None:
        """Written aside, then renamed over the live roster in one step."""
        live, loading = f"{self.prefix}:roster", f"{self.prefix}:roster:loading"
        await self.client.delete(loading)
        items = [(mobile, json.dumps(entry.to_entry(), separators=(",", ":"))) for mobile, entry in entries.items()]
        for start in range(0, len(items), 1000):
            await self.client.hset(loading, mapping=dict(items[start:start + 1000]))
        async with self.client.pipeline(transaction=True) as pipe:
            if items:
                pipe.rename(loading, live)
            else:
                pipe.delete(live)
            await pipe.execute()

    async def roster_size(self) -> int:
        return int(await self.client.hlen(f"{self.prefix}:roster"))

    async def customer(self, person: str) -> CustomerRecord:
        policies = await self.client.hgetall(f"{self.prefix}:id:{person}")
        alerts = await self.client.hgetall(f"{self.prefix}:alerts:{person}")
        return CustomerRecord(
            {_text(k): json.loads(v) for k, v in policies.items()},
            [json.loads(v) for v in alerts.values()],
        )

    async def audit(self, record: dict[str, Any]) -> None:
        key = f"{self.prefix}:audit"
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.lpush(key, json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            pipe.ltrim(key, 0, AUDIT_KEPT - 1)
            await pipe.execute()

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
