#include "state/redis_scripts.hpp"

#include "state/fleet_record.hpp"

namespace orp::state {

// KEYS[1] = orp:key:<fp>
// ARGV: 1 op (disable | recover | cool | seed), 2 fp, 3 channel, 4 instance, 5 event time (ms),
//       6 cool_until (ms, 0 = none), 7 status (disabled_* | active | ''), 8 status reason,
//       9 cool reason, 10 label, 11 ttl (ms)
// A cool-down never shortens (the later deadline wins); a status change raises `ver` and names
// its author; anything that changed is published, so each instance learns of it at once.
// Returns {changed (0|1), ver}.
const std::string_view update_script = R"lua(
local key = KEYS[1]
local op = ARGV[1]
local changed = false
local want = tonumber(ARGV[6]) or 0
if want > 0 then
  local cur = tonumber(redis.call('HGET', key, 'cool_until') or '0') or 0
  if want > cur then
    redis.call('HSET', key, 'cool_until', ARGV[6], 'cool_reason', ARGV[9])
    changed = true
  end
end
local status = redis.call('HGET', key, 'status')
local to = nil
if op == 'disable' and status ~= ARGV[7] then
  to = ARGV[7]
elseif op == 'recover' and status and status ~= 'active' then
  to = 'active'
elseif op == 'seed' and not status and ARGV[7] ~= '' and ARGV[7] ~= 'active' then
  to = ARGV[7]
end
local ver = tonumber(redis.call('HGET', key, 'ver') or '0') or 0
-- Versions are microseconds (about 1.8e15 now). One past 2^53 was not written by an instance (a
-- hand edit, a broken peer): raising it would keep it beyond what instances read, and the key's
-- changes would never count as news again; start again from the clock.
if ver ~= ver or ver < 0 or ver > 9007199254740992 then ver = 0 end
if to then
  -- Versions come from Redis's clock (microseconds), so they keep rising across a Redis restart
  -- that lost the data: instances that saw old versions still take the new ones as news.
  local t = redis.call('TIME')
  ver = math.max(ver + 1, tonumber(t[1]) * 1000000 + tonumber(t[2]))
  redis.call('HSET', key, 'ver', string.format('%.0f', ver), 'status', to, 'status_reason', ARGV[8],
             'by', ARGV[4], 'changed_at', ARGV[5])
  changed = true
end
if not changed then
  return {0, ver}
end
redis.call('HSET', key, 'label', ARGV[10])
redis.call('PEXPIRE', key, ARGV[11])
local h = redis.call('HMGET', key, 'status', 'by', 'status_reason', 'cool_until', 'cool_reason')
redis.call('PUBLISH', ARGV[3], cjson.encode({
  fp = ARGV[2], status = h[1] or '', ver = string.format('%.0f', ver), by = h[2] or '', reason = h[3] or '',
  cool_until = h[4] or '0', cool_reason = h[5] or '', label = ARGV[10], from = ARGV[4], t = ARGV[5]}))
return {1, ver}
)lua";

std::string key_name(std::string_view fingerprint) { return "orp:key:" + std::string(fingerprint); }
std::string probe_lock_name(std::string_view fingerprint) { return "orp:probe:" + std::string(fingerprint); }
std::string events_channel(int db) { return "orp:" + std::to_string(db) + ":events"; }

std::vector<std::string> update_command(const std::string& sha, const pending_update& u, update_op op,
                                        const script_context& ctx) {
  std::string verb = "cool";
  if (op == update_op::seed) verb = "seed";
  else if (u.status && keys::is_disabled(*u.status)) verb = "disable";
  else if (u.status == keys::key_state::active) verb = "recover";
  return {"EVALSHA",
          sha,
          "1",
          key_name(u.fingerprint),
          verb,
          u.fingerprint,
          ctx.channel,
          ctx.instance_id,
          std::to_string(to_epoch_ms(u.at)),
          u.cooling_until ? std::to_string(to_epoch_ms(*u.cooling_until)) : std::string("0"),
          u.status ? std::string(keys::to_string(*u.status)) : std::string(),
          u.status_reason,
          u.cooling_reason,
          u.label,
          std::to_string(ctx.record_ttl.count())};
}

}  // namespace orp::state
