"""The customer index on Redis (redis-py asyncio): one script call per batch, never per event.

A batch's writes and reads run as one Lua script, so they are atomic: two workers judging
the two halves of an identity conflict at the same moment cannot both miss it, because
whichever script runs second sees the first one's write. The script's merges and caps mirror
:func:`streams.core.crosspolicy.index.merge_person`, :func:`~streams.core.crosspolicy.index.merge_holder`
and :func:`~streams.core.crosspolicy.index.put_capped` exactly; the tests run the same cases against
this store and the in-process one and compare what both hold.

Keys (``<prefix>`` = ``POLICYGUARD_REDIS_PREFIX``), every customer value a keyed hash:
``<prefix>:id:<person>`` hash policy → entry; ``<prefix>:mob:<mobile>`` hash policyholder →
entry; ``<prefix>:roster`` hash mobile → staff member; ``<prefix>:claim:<alert_id>`` the
event that owns an alert; ``<prefix>:alerts:<person>`` the cross-policy alerts about a
person; ``<prefix>:audit`` who looked at which customer. Entries expire after the retention
with no write (a write a full key drops is no write); the access trail ``<prefix>:audit`` never
expires and loses only entries older than its own retention (``POLICYGUARD_ACCESS_TRAIL_RETENTION_DAYS``).
The script names keys it builds itself, so the index needs one Redis (or a Sentinel-managed
primary), not Redis Cluster.
"""
from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from streams.core.crosspolicy.config import CrossPolicyConfig
from streams.core.crosspolicy.index import VALUES_PER_FIELD, Claim, Request, RosterEntry, View, policy_summaries
from streams.core.crosspolicy.store import CustomerRecord

EXCHANGE = """
local req = cjson.decode(ARGV[1])
local prefix, retention = req.prefix, req.retention
local touched = {}
-- Names compare byte by byte, as Python compares them: Lua's < on strings follows the server's
-- locale (Redis sets LC_COLLATE from its environment).
local function before(one, other)
  for i = 1, math.min(#one, #other) do
    local x, y = string.byte(one, i), string.byte(other, i)
    if x ~= y then return x < y end
  end
  return #one < #other
end
-- last_seen: a record's l, a fact's second element ([m, l, ...]).
local function last_seen(x)
  return x.l or x[2]
end
-- Caps keep the newest: the entry last seen longest ago (smallest l, then name) makes room.
local function older(l1, name1, l2, name2)
  return l1 < l2 or (l1 == l2 and before(name1, name2))
end
-- put_capped of streams/core/crosspolicy/index.py, on a nested map.
local function put_capped(map, name, new, cap, merge)
  local old = map[name]
  if old ~= nil then map[name] = merge(old, new); return true end
  local count, oldest, oldest_l = 0, nil, nil
  for key, entry in pairs(map) do
    count = count + 1
    if oldest == nil or older(last_seen(entry), key, oldest_l, oldest) then oldest, oldest_l = key, last_seen(entry) end
  end
  if count < cap then map[name] = new; return true end
  if older(last_seen(new), name, oldest_l, oldest) then return false end
  map[oldest] = nil
  map[name] = new
  return true
end
local function merge_fact(old, new)
  old[1] = math.min(old[1], new[1])
  old[2] = math.max(old[2], new[2])
  return old
end
local function merge_person(old, new)
  for name, incoming in pairs(new.v) do
    local kept = old.v[name]
    if kept == nil then kept = {}; old.v[name] = kept end
    for value, sighting in pairs(incoming) do
      if kept[value] == nil and new.e ~= old.e then
        sighting = {sighting[1], sighting[2], new.f, new.e, new.a, new.r}
      end
      put_capped(kept, value, sighting, req.per_field, merge_fact)
    end
  end
  old.l = math.max(old.l, new.l)
  return old
end
local function merge_holder(old, new)
  for policy, entry in pairs(new.p) do put_capped(old.p, policy, entry, req.cap, merge_fact) end
  old.l = math.max(old.l, new.l)
  return old
end
-- One write: merged into what is stored, or added; on a full key in place of the entry last seen
-- longest ago, unless the write is older still: then it is dropped and the key's expiry untouched.
local function write(kind, w, cap, merge)
  local key, field, new = prefix .. kind .. w[1], w[2], w[3]
  local stored = redis.call('HGET', key, field)
  if stored then
    new = merge(cjson.decode(stored), new)
  elseif redis.call('HLEN', key) >= cap then
    local flat = redis.call('HGETALL', key)
    local oldest, oldest_l = nil, nil
    for j = 1, #flat, 2 do
      local l = cjson.decode(flat[j + 1]).l
      if oldest == nil or older(l, flat[j], oldest_l, oldest) then oldest, oldest_l = flat[j], l end
    end
    if older(new.l, field, oldest_l, oldest) then return end
    redis.call('HDEL', key, oldest)
  end
  redis.call('HSET', key, field, cjson.encode(new))
  touched[key] = true
end
for _, w in ipairs(req.ids) do write(':id:', w, req.per_person, merge_person) end
for _, w in ipairs(req.uses) do write(':mob:', w, req.per_mobile, merge_holder) end
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
  -- A claim lives as long as the alert is found again (its facts are still being written), so
  -- an alert never expires from under facts that would find it, and emit it, once more.
  redis.call('SET', prefix .. ':claim:' .. id, owner, 'NX')
  redis.call('EXPIRE', prefix .. ':claim:' .. id, retention)
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

ACCESS_TRAIL = """
-- The access trail of `policyguard customer`: KEYS[1] a list, newest first. ARGV[1] the new entry
-- (JSON whose "at" is ISO 8601 with an offset), ARGV[2] the retention in seconds, ARGV[3] how many old
-- entries one call drops at most. Trimmed by age on the server's clock, never by count: an entry goes
-- once its own "at" is older than the retention. One that cannot be dated stops the trimming (kept:
-- nothing says it is old), and the entry just written always stays.
if redis.replicate_commands then redis.replicate_commands() end  -- writes after TIME (Redis < 5)
local function epoch(at)
  if type(at) ~= 'string' then return nil end
  local y, mo, d, h, mi, s, rest = string.match(at, '^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(.*)$')
  if y == nil then return nil end
  local offset = 0
  if string.sub(rest, -1) ~= 'Z' then
    local sign, oh, om = string.match(rest, '([+-])(%d%d):(%d%d)$')
    if sign == nil then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == '-' and -1 or 1)
  end
  -- days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((mo + 9) % 12) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
end
local key = KEYS[1]
redis.call('LPUSH', key, ARGV[1])
local cutoff = tonumber(redis.call('TIME')[1]) - tonumber(ARGV[2])
local dropped, most = 0, tonumber(ARGV[3])
while dropped < most and redis.call('LLEN', key) > 1 do
  local ok, entry = pcall(cjson.decode, redis.call('LINDEX', key, -1))
  local at = ok and type(entry) == 'table' and epoch(entry.at) or nil
  if at == nil or at >= cutoff then break end
  redis.call('RPOP', key)
  dropped = dropped + 1
end
return dropped
"""
TRAIL_TRIM_PER_CALL = 10_000
"""Old trail entries one look-up drops at most: years of backlog go over several look-ups, not in
one long script that would stall the index's other clients."""


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
        self._trail = client.register_script(ACCESS_TRAIL)

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
            "per_field": VALUES_PER_FIELD,
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
            pipe.set(f"{self.prefix}:meta:roster", json.dumps({"staff": len(items)}))  # never expires
            await pipe.execute()

    async def roster_present(self) -> bool:
        """A roster was loaded (the marker ``roster load`` writes, or the roster itself, loaded
        by an earlier release): a Redis restarted empty has neither."""
        return bool(await self.client.exists(f"{self.prefix}:meta:roster", f"{self.prefix}:roster"))

    async def roster_size(self) -> int:
        return int(await self.client.hlen(f"{self.prefix}:roster"))

    async def customer(self, person: str) -> CustomerRecord:
        policies = await self.client.hgetall(f"{self.prefix}:id:{person}")
        alerts = await self.client.hgetall(f"{self.prefix}:alerts:{person}")
        return CustomerRecord(
            policy_summaries({_text(k): json.loads(v) for k, v in policies.items()}),
            [json.loads(v) for v in alerts.values()],
        )

    async def audit(self, record: dict[str, Any], *, retention_days: int) -> int:
        """Add ``record`` to the access trail (``<prefix>:audit``, newest first, no expiry) and drop
        the entries older than ``retention_days`` by Redis's clock. By age, never by count: a burst
        of look-ups must not push out who looked at whom last year, and an operator's machine
        with a wrong clock cannot cut the trail short. Returns how many old entries went."""
        entry = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        dropped = await self._trail(keys=[f"{self.prefix}:audit"],
                                    args=[entry, retention_days * 86_400, TRAIL_TRIM_PER_CALL])
        return int(dropped)

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
