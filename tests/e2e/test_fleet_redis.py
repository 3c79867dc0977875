#!/usr/bin/python3
"""Fleet mode: two proxy instances share key state through one Redis (`state.backend = redis`).

Each test starts its own redis-server (a loopback port outside the ephemeral range, no
persistence), one fake OpenRouter per class, and two proxies; everything is stopped by PID. Every
wait has a deadline. Times are measured from the fake's receipt of the request that changed a key
(`received_at_monotonic`), not from when the test got round to looking.
"""

import json
import os
import re
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API = "https://openrouter.ai/api/v1/chat/completions"
KEY_PATH = "/api/v1/key"

KEY_1 = "sk-or-v1-test-fleet-one-5c2e9a7b1d3f4680"
KEY_2 = "sk-or-v1-test-fleet-two-8e4a6c0b2d1f3957"
KEYS = ((KEY_1, "fleet-1"), (KEY_2, "fleet-2"))

ERR_401 = {"error": {"code": 401, "message": "User not found."}}
ERR_429 = {"error": {"code": 429, "message": "Rate limit exceeded"}}

# Change-to-visible on the other instance: the issue asks for 100 ms, a few ms is usual. The
# tests wait this long for correctness (a loaded CI machine, a sanitizer build) and print the
# measured time instead of gating on it.
PROPAGATION_TIMEOUT = 10.0


class FleetRedisTest(h.FreshProxyTestCase):
    def setUp(self):
        super().setUp()
        self.redis = h.RedisServer()
        self.addCleanup(self.redis.cleanup)
        self.redis.start()

    # -- helpers ---------------------------------------------------------------------------------
    def start_proxy(self, **overrides):
        settings = {"proxy.workers": 2, "retry.retry_delay": 0.1, "keys.key_recovery_interval": 3600,
                    "state.backend": "redis", "state.redis_url": self.redis.url}
        settings.update(overrides)
        return super().start_proxy(KEYS, settings)

    def post(self, proxy):
        """One chat completion through `proxy`; returns the label of the key that served it."""
        res, headers = h.curl_with_headers(h.via_proxy(proxy, *h.chat_args(), API), timeout=30)
        self.assertEqual((res.returncode, res.status), (0, 200),
                         "%s %r\n%s" % (res.stderr, res.stdout[:300], proxy.diagnostics()))
        return headers.get("x-proxy-key")

    def break_key_1(self, proxy, rules=None):
        """Script fleet-1 to fail (401 on chat and /key by default) and send requests through
        `proxy` until one of them met it (round robin may be anywhere in its turn). Returns the
        fake's time.monotonic() of receiving that request: the key changed on `proxy` after it."""
        self.fake.script(rules or [
            {"key": KEY_1, "path": h.CHAT_PATH, "status": 401, "body": ERR_401},
            {"key": KEY_1, "path": KEY_PATH, "status": 401, "body": ERR_401}])
        before = len(self.chats_of(KEY_1))
        for _ in range(3):
            self.assertEqual(self.post(proxy), "fleet-2")
            chats = self.chats_of(KEY_1)
            if len(chats) > before:
                self.assertIn(chats[before]["status"], (401, 429), "fleet-1's request was not failed")
                return chats[before]["received_at_monotonic"]
        self.fail("fleet-1 never tried by %s\n%s" % (proxy.dir, proxy.diagnostics()))

    def keys_of(self, proxy):
        status, body = proxy.admin_get("/keys")
        self.assertEqual(status, 200)
        return {k["label"]: k for k in json.loads(body)["keys"]}

    def state_of(self, proxy, label):
        return self.keys_of(proxy)[label]["state"]

    def wait_state(self, proxy, label, state, timeout, interval=0.005):
        """Poll the admin endpoint until `label` is in `state`; returns time.monotonic() when the
        answer that showed it had arrived (the state held by then)."""
        try:
            h.wait_until(lambda: self.state_of(proxy, label) == state, timeout, interval=interval,
                         message="key %s %s on %s" % (label, state, proxy.dir))
        except AssertionError as e:
            raise AssertionError("%s (now %s)\n%s" % (e, self.state_of(proxy, label), proxy.diagnostics())) from None
        return time.monotonic()

    def chats_of(self, key):
        return [r for r in self.fake.requests(h.CHAT_PATH) if r["key"] == key]

    def chat_count(self, key):
        return len(self.chats_of(key))

    def probes_of(self, key):
        return [r for r in self.fake.requests(KEY_PATH) if r["key"] == key]

    def metric(self, proxy, name):
        status, body = proxy.admin_get("/metrics")
        self.assertEqual(status, 200)
        m = re.search(r"^%s (\S+)$" % re.escape(name), body.decode(), re.M)
        return float(m.group(1)) if m else None

    def assertNoFullKeys(self, *proxies, stored=("fleet-1",)):
        """No pool key in the proxies' output nor in Redis, whose hashes of the keys labelled
        `stored` (keys whose state changed) must be there to be looked at."""
        pool_keys = [key for key, _ in KEYS]
        for proxy in proxies:
            h.assert_no_key_in(self, proxy.all_output(), pool_keys, "the output of the proxy in " + proxy.dir)
        names = self.redis.cli("--scan", check=True).splitlines()
        for i, name in enumerate(names):
            dump = self.redis.cli("HGETALL", name, check=True) if name.startswith("orp:key:") else ""
            h.assert_no_key_in(self, name + "\n" + dump, pool_keys, "Redis (entry %d of its scan)" % i)
        ids = self.keys_of(proxies[0])
        for label in stored:
            self.assertIn("orp:key:" + ids[label]["id"], names, "the hash of key %s is not in Redis" % label)

    # -- tests -----------------------------------------------------------------------------------
    def test_429_on_a_keeps_b_off_the_key_until_the_cool_down_ends(self):
        a, b = self.start_proxy(), self.start_proxy()
        cool = 8  # Retry-After, seconds
        hit_at = self.break_key_1(a, [{"key": KEY_1, "path": h.CHAT_PATH, "status": 429, "body": ERR_429,
                                       "headers": {"Retry-After": str(cool)}, "times": 1}])
        seen_at = self.wait_state(b, "fleet-1", "cooling", PROPAGATION_TIMEOUT)
        print("\n  429 on A -> cooling on B (fake's receipt of the request to B's admin answer): %.1f ms"
              % ((seen_at - hit_at) * 1000), file=sys.stderr)
        cooling_left = self.keys_of(b)["fleet-1"]["cooling_left_s"]
        # A cools the key down for Retry-After from its receipt of the 429 (after hit_at); B's
        # cool-down ends with A's.
        ends = time.monotonic() + cooling_left
        self.assertGreater(ends - hit_at, cool - 0.5,
                           "B's cool-down ends %.2f s after the 429, Retry-After is %d s" % (ends - hit_at, cool))

        # While it lasts, B sends nothing with fleet-1: as many requests as fit well inside it.
        sent = 0
        while sent < 6 and time.monotonic() < hit_at + cool - 2:
            self.assertEqual(self.post(b), "fleet-2")
            sent += 1
        self.assertGreaterEqual(sent, 2, "hardly any request was sent inside the cool-down")
        self.assertEqual(self.chat_count(KEY_1), 1, "B used a key that was cooling on A")

        # Back once the cool-down is over, not before.
        active_at = self.wait_state(b, "fleet-1", "active", cool + PROPAGATION_TIMEOUT, interval=0.05)
        self.assertGreaterEqual(active_at - hit_at, cool - 0.5, "B's cool-down ended early")
        labels = [self.post(b) for _ in range(3)]
        self.assertIn("fleet-1", labels)
        propagation = self.metric(b, "orp_redis_propagation_seconds")
        self.assertIsNotNone(propagation, "no propagation gauge on B")
        print("  429 on A -> applied on B (orp_redis_propagation_seconds): %.2f ms"
              % (propagation * 1000), file=sys.stderr)
        self.assertNoFullKeys(a, b)

    def test_401_on_a_disables_on_b_and_recovery_on_b_reactivates_on_a(self):
        # Only B probes: A's interval is an hour.
        a = self.start_proxy()
        b = self.start_proxy(**{"keys.key_recovery_interval": 1})
        hit_at = self.break_key_1(a)
        seen_at = self.wait_state(b, "fleet-1", "disabled_invalid", PROPAGATION_TIMEOUT)
        print("\n  401 on A -> disabled on B (fake's receipt of the request to B's admin answer): %.1f ms"
              % ((seen_at - hit_at) * 1000), file=sys.stderr)
        for _ in range(4):
            self.assertEqual(self.post(b), "fleet-2")
        self.assertEqual(self.chat_count(KEY_1), 1, "B used a key disabled on A")

        # The key is fixed upstream; B's probe finds credit and the whole fleet takes it back.
        self.fake.script([])
        self.fake.configure(key_info={KEY_1: {"limit": 10, "limit_remaining": 9.5, "usage": 0.5}})
        self.wait_state(b, "fleet-1", "active", 10, interval=0.05)
        seen_at = self.wait_state(a, "fleet-1", "active", PROPAGATION_TIMEOUT)
        good = [p for p in self.probes_of(KEY_1) if p["status"] == 200]
        self.assertTrue(good, "no successful probe")
        print("  recovery on B -> active on A (fake's receipt of the probe to A's admin answer): %.1f ms"
              % ((seen_at - good[0]["received_at_monotonic"]) * 1000), file=sys.stderr)
        self.assertIn("fleet: ", self.keys_of(a)["fleet-1"]["reason"])
        self.assertIn("fleet-1", [self.post(a) for _ in range(3)])
        self.assertIn("recovery probe of key fleet-1", b.log_text())
        self.assertNotIn("recovery probe of key fleet-1", a.log_text())
        self.assertNoFullKeys(a, b)

    def test_a_reload_probes_even_when_the_fleet_probed_this_interval(self):
        # The fleet's probe lock spaces out the periodic probes; a probe the user asks for (credit
        # just topped up, then SIGHUP) is not held back by it.
        a = self.start_proxy(**{"keys.key_recovery_interval": 1, "log.level": "debug"})
        fp1 = self.keys_of(a)["fleet-1"]["id"]
        # Another instance probed the key this interval (an hour): its lock holds.
        self.redis.cli("SET", "orp:probe:" + fp1, "another-instance", "PX", "3600000", check=True)
        self.break_key_1(a)
        self.wait_state(a, "fleet-1", "disabled_invalid", PROPAGATION_TIMEOUT)
        self.fake.script([])
        self.fake.configure(key_info={KEY_1: {"limit": 10, "limit_remaining": 9.5, "usage": 0.5}})
        h.wait_until(lambda: "left to another instance" in a.log_text(), 10,
                     message="a periodic probe held back by the lock")
        self.assertEqual(self.probes_of(KEY_1), [])
        a.send_signal(signal.SIGHUP)
        self.wait_state(a, "fleet-1", "active", 10, interval=0.05)
        self.assertEqual([p["status"] for p in self.probes_of(KEY_1)], [200])

    def test_only_one_instance_probes_a_key_per_interval(self):
        interval = 2
        overrides = {"keys.key_recovery_interval": interval}
        a, b = self.start_proxy(**overrides), self.start_proxy(**overrides)
        self.break_key_1(a)
        self.wait_state(b, "fleet-1", "disabled_invalid", PROPAGATION_TIMEOUT)
        # Both instances hold the key disabled and try to probe it every interval. The fleet's
        # lock (held for the interval less 10 %, src/app/run.cpp) lets one of them a time: the
        # probes reaching the upstream are an interval apart. Without it each instance probes on
        # its own schedule, and of two consecutive gaps (together about one interval) one is at
        # most half an interval.
        wanted = 4

        def enough_probes():
            probes = self.probes_of(KEY_1)
            return probes if len(probes) >= wanted else None
        probes = h.wait_until(enough_probes, wanted * interval * 3 + 10, interval=0.1,
                              message="%d probes of fleet-1" % wanted)
        at = [p["received_at_monotonic"] for p in probes]
        gaps = [round(later - earlier, 3) for earlier, later in zip(at, at[1:])]
        print("\n  probes of fleet-1 %s s apart (interval %d s)" % (gaps, interval), file=sys.stderr)
        self.assertGreaterEqual(min(gaps), 0.8 * interval,
                                "two probes of one key within one interval (%d s): gaps %s" % (interval, gaps))
        self.assertEqual(self.state_of(a, "fleet-1"), "disabled_invalid")

    def test_a_redis_key_of_the_wrong_type_costs_only_its_own_updates(self):
        # A string where the key's hash belongs (put there by hand): that key's updates are
        # refused for good. They used to be retried as if Redis were down, every 2 s for ever,
        # holding up every other key's updates queued behind them.
        a, b = self.start_proxy(**{"upstream.request_timeout": 3}), self.start_proxy()
        fp1 = self.keys_of(a)["fleet-1"]["id"]
        self.redis.cli("SET", "orp:key:" + fp1, "garbage", check=True)
        self.fake.script([{"key": KEY_1, "path": h.CHAT_PATH, "status": 429, "body": ERR_429,
                           "headers": {"Retry-After": "30"}},
                          {"key": KEY_2, "path": h.CHAT_PATH, "status": 401, "body": ERR_401}])
        for _ in range(2):  # meets both keys: fleet-1 cools down, fleet-2 is disabled
            h.curl(h.via_proxy(a, *h.chat_args(), API), timeout=30)
        self.wait_state(a, "fleet-1", "cooling", 5)
        self.wait_state(b, "fleet-2", "disabled_invalid", 5)
        h.wait_until(lambda: "redis refused the update of key fleet-1: WRONGTYPE" in a.log_text(), 5,
                     message="the refusal logged")
        self.assertEqual(self.metric(a, "orp_redis_up"), 1)
        self.assertNotIn("unreachable", a.log_text())
        self.assertEqual(self.state_of(b, "fleet-1"), "active")  # its news could not be shared

    def test_a_key_back_in_keys_csv_learns_what_the_fleet_decided_meanwhile(self):
        a, b = self.start_proxy(), self.start_proxy()
        a.write_keys([KEYS[1]])  # fleet-1 leaves A's keys.csv
        a.send_signal(signal.SIGHUP)
        h.wait_until(lambda: "fleet-1" not in self.keys_of(a), 5, message="fleet-1 gone from A")
        self.break_key_1(b)  # ... and is disabled by B meanwhile
        a.write_keys(list(KEYS))
        a.send_signal(signal.SIGHUP)
        h.wait_until(lambda: "fleet-1" in self.keys_of(a), 5, message="fleet-1 back on A")
        # A learns it at its next reconcile at the latest; it used to take the key back as active.
        self.wait_state(a, "fleet-1", "disabled_invalid", 8, interval=0.05)

    def test_a_version_no_instance_wrote_does_not_stop_the_key_changes_spreading(self):
        a, b = self.start_proxy(), self.start_proxy()
        fp1 = self.keys_of(a)["fleet-1"]["id"]
        self.redis.cli("HSET", "orp:key:" + fp1, "ver", "1e30", check=True)  # by hand, or a broken peer
        self.break_key_1(a)
        # It used to stay active on B: the version written after 1e30 read back as 0, never news.
        self.wait_state(b, "fleet-1", "disabled_invalid", 5)

    def test_a_probe_lock_without_an_expiry_gets_one(self):
        a = self.start_proxy(**{"keys.key_recovery_interval": 1})
        fp1 = self.keys_of(a)["fleet-1"]["id"]
        self.redis.cli("SET", "orp:probe:" + fp1, "a-stale-instance", check=True)  # no expiry
        self.break_key_1(a)
        self.fake.script([])
        self.fake.configure(key_info={KEY_1: {"limit": 10, "limit_remaining": 9.5, "usage": 0.5}})
        # The stale lock is given the interval as its expiry, and the key is probed back after it.
        self.wait_state(a, "fleet-1", "active", 8, interval=0.05)

    def test_redis_outage_loses_no_request_and_state_converges(self):
        a, b = self.start_proxy(), self.start_proxy()
        self.assertEqual(self.metric(a, "orp_redis_up"), 1)

        results, stop = [], threading.Event()  # (started, finished, curl exit code, status)

        def traffic():
            proxies = (a, b)
            for i in range(1000):
                if stop.is_set():
                    break
                started = time.monotonic()
                res = h.curl(h.via_proxy(proxies[i % 2], *h.chat_args(), API), timeout=30, metrics=True)
                results.append((started, time.monotonic(), res.returncode, res.status))

        def started_after(t):
            return [r for r in results if r[0] >= t]

        worker = threading.Thread(target=traffic, daemon=True)
        worker.start()
        try:
            h.wait_until(lambda: len(results) >= 3, 60, interval=0.05, message="requests before the outage")
            self.redis.kill()
            killed_at = time.monotonic()
            # Both notice at once (their subscriber's connection ends), while requests go on ...
            h.wait_until(lambda: self.metric(a, "orp_redis_up") == 0 and self.metric(b, "orp_redis_up") == 0,
                         10, interval=0.05, message="A and B noticing that Redis is down")
            noticed_at = time.monotonic()
            # ... and requests sent with Redis known to be down, to each instance, are served too.
            h.wait_until(lambda: len(started_after(noticed_at)) >= 6, 60, interval=0.05,
                         message="requests during the outage")
        finally:
            stop.set()
            worker.join(timeout=40)
        self.assertFalse(worker.is_alive())
        print("\n  requests: %d before the outage, %d sent after Redis was killed"
              % (len(results) - len(started_after(killed_at)), len(started_after(killed_at))), file=sys.stderr)
        failed = [("%+.2f s" % (r[0] - killed_at), r[2], r[3]) for r in results if (r[2], r[3]) != (0, 200)]
        self.assertEqual(failed, [], "requests failed while Redis died (start relative to the kill, curl, status)")

        # A change while Redis is down stays local to A: it waits in A's queue for Redis, the only
        # way to B. Once it is queued (with Redis down, nothing takes it out), B cannot have it;
        # no quiet period to wait out.
        received = self.metric(b, "orp_redis_messages_received_total")
        self.break_key_1(a)
        self.assertEqual(self.state_of(a, "fleet-1"), "disabled_invalid")
        h.wait_until(lambda: self.metric(a, "orp_redis_queued_keys") == 1, 5, interval=0.05,
                     message="A queueing fleet-1's change for Redis")
        self.assertEqual(self.metric(a, "orp_redis_up"), 0)
        self.assertEqual(self.state_of(b, "fleet-1"), "active")
        self.assertEqual(self.metric(b, "orp_redis_messages_received_total"), received)

        # ... and reaches B once Redis is back (same address, empty), without a restart.
        self.redis.start()
        self.wait_state(b, "fleet-1", "disabled_invalid", 10, interval=0.05)
        h.wait_until(lambda: self.metric(a, "orp_redis_up") == 1 and self.metric(b, "orp_redis_up") == 1,
                     10, interval=0.1, message="both instances reconnected")
        self.assertEqual(self.redis.cli("HGET", "orp:key:" + self.keys_of(a)["fleet-1"]["id"], "status",
                                        check=True), "disabled_invalid")
        for proxy in (a, b):
            log = proxy.log_text()
            self.assertEqual(log.count("unreachable"), 1, "not exactly one warning per outage:\n" + log)
            self.assertIn("reachable again", log)
        self.assertNoFullKeys(a, b)

    def test_redis_down_at_start_then_up(self):
        self.redis.stop()
        a = self.start_proxy()
        self.assertEqual(self.post(a), "fleet-1")
        self.assertEqual(self.metric(a, "orp_redis_up"), 0)
        self.break_key_1(a)
        self.redis.start()
        b = self.start_proxy()
        # A pushes what it learnt while alone; B (started after Redis) gets it.
        self.wait_state(b, "fleet-1", "disabled_invalid", 10, interval=0.05)
        self.assertEqual(a.log_text().count("unreachable"), 1)

    def test_restarted_instance_picks_up_the_shared_state(self):
        a, b = self.start_proxy(), self.start_proxy()
        self.assertEqual(self.post(b), "fleet-1")
        b.stop(expect_code=0)
        self.break_key_1(a)
        self.wait_state(a, "fleet-1", "disabled_invalid", 5)
        # B's own state file still says active; Redis knows better, before B serves anything.
        b.start()
        self.assertEqual(self.state_of(b, "fleet-1"), "disabled_invalid")
        chats_before = self.chat_count(KEY_1)
        for _ in range(3):
            self.assertEqual(self.post(b), "fleet-2")
        self.assertEqual(self.chat_count(KEY_1), chats_before)
        # And a brand-new instance with no state file at all.
        c = self.start_proxy()
        self.assertEqual(self.state_of(c, "fleet-1"), "disabled_invalid")
        self.assertNoFullKeys(a, b, c)


if __name__ == "__main__":
    unittest.main()
