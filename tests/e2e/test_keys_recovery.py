#!/usr/bin/python3
"""Recovery of disabled keys: every `keys.key_recovery_interval` the proxy probes disabled keys
with `GET {api_url}/key` and brings back those that answer 200 with credit left."""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API = "https://openrouter.ai/api/v1/chat/completions"
KEY_PATH = "/api/v1/key"

KEY_A = "sk-or-v1-test-recovery-a-1a7c3e5f9b2d4086"
KEY_B = "sk-or-v1-test-recovery-b-6b0d2f4a8c1e3597"
TWO_KEYS = ((KEY_A, "rec-a"), (KEY_B, "rec-b"))
OVERRIDES = {"proxy.workers": 2, "keys.key_recovery_interval": 1, "retry.retry_delay": 0.1}

ERR_401 = {"error": {"code": 401, "message": "User not found."}}
ERR_402 = {"error": {"code": 402, "message": "Insufficient credits",
                     "metadata": {"limit_source": "openrouter_credits"}}}


class RecoveryTest(h.FreshProxyTestCase):
    def setUp(self):
        super().setUp()
        self.posted = 0

    def post(self, proxy):
        res, headers = h.curl_with_headers(h.via_proxy(proxy, *h.chat_args(), API))
        self.assertEqual((res.returncode, res.status), (0, 200),
                         "%s %r\n%s" % (res.stderr, res.stdout[:500], proxy.diagnostics()))
        self.posted += 1
        return headers

    def probes_of(self, key):
        return [r for r in self.fake.requests(KEY_PATH) if r["key"] == key and r["method"] == "GET"]

    def chat_count(self, key):
        return sum(1 for r in self.fake.requests(h.CHAT_PATH) if r["key"] == key)

    def disable_a(self, proxy, rule):
        """Script A to fail on chat completions and send requests until the proxy met it."""
        self.fake.script([rule])
        for _ in range(4):
            self.assertEqual(self.post(proxy).get("x-proxy-key"), "rec-b")
        self.assertEqual(self.chat_count(KEY_A), 1, h.redact(self.fake.requests(h.CHAT_PATH)))

    def wait_for_probes(self, proxy, key, n, timeout=10):
        h.wait_until(lambda: len(self.probes_of(key)) >= n, timeout,
                     interval=0.1, message="%d probes of a disabled key\n%s" % (n, proxy.diagnostics()))

    def wait_for_key_in_use(self, proxy, label, timeout=15):
        """Send requests (round robin over two keys) until one is served by `label`."""
        seen = []

        def served():
            seen.append(self.post(proxy).get("x-proxy-key"))
            return seen[-1] == label
        try:
            h.wait_until(served, timeout, interval=0.2, message="key %s serving again" % label)
        except AssertionError as exc:
            raise AssertionError("%s; labels seen: %s; probes: %s\n%s"
                                 % (exc, seen[-10:], len(self.fake.requests(KEY_PATH)),
                                    proxy.diagnostics())) from None

    # -------------------------------------------------------------------------------------------
    def test_401_key_recovers_when_key_endpoint_answers_with_credit(self):
        proxy = self.start_proxy(TWO_KEYS, OVERRIDES)
        # While the key is invalid, /key answers 401 too (as OpenRouter does).
        self.fake.script([{"key": KEY_A, "path": h.CHAT_PATH, "status": 401, "body": ERR_401},
                          {"key": KEY_A, "path": KEY_PATH, "status": 401, "body": ERR_401}])
        for _ in range(4):
            self.assertEqual(self.post(proxy).get("x-proxy-key"), "rec-b")
        self.assertEqual(self.chat_count(KEY_A), 1)
        # Probes happen (bounded wait: interval 1 s) and fail; the key stays out.
        self.wait_for_probes(proxy, KEY_A, 2)
        for _ in range(4):
            self.assertEqual(self.post(proxy).get("x-proxy-key"), "rec-b")
        self.assertEqual(self.chat_count(KEY_A), 1, "a key whose probe failed was used")
        # A healthy key is never probed.
        self.assertEqual(len(self.probes_of(KEY_B)), 0, "an active key was probed")
        # The key is fixed upstream: /key answers 200 with credit left, chat succeeds.
        self.fake.script([])
        self.fake.configure(key_info={KEY_A: {"limit": 10, "limit_remaining": 9.5, "usage": 0.5}})
        self.wait_for_key_in_use(proxy, "rec-a")
        self.assertGreaterEqual(self.chat_count(KEY_A), 2)
        self.assertNoFullKeys(proxy)

    def test_402_key_recovers_only_once_key_endpoint_shows_credit(self):
        proxy = self.start_proxy(TWO_KEYS, OVERRIDES)
        self.fake.configure(key_info={KEY_A: {"limit": 5, "limit_remaining": 0, "usage": 5}})
        self.disable_a(proxy, {"key": KEY_A, "path": h.CHAT_PATH, "status": 402, "body": ERR_402})
        # /key answers 200 but with no credit left: probes must not bring the key back.
        self.wait_for_probes(proxy, KEY_A, 2)
        probes_before = len(self.probes_of(KEY_A))
        for _ in range(4):
            self.assertEqual(self.post(proxy).get("x-proxy-key"), "rec-b")
        self.assertEqual(self.chat_count(KEY_A), 1, "a key with limit_remaining 0 was used")
        # Credit is topped up.
        self.fake.script([])
        self.fake.configure(key_info={KEY_A: {"limit": 15, "limit_remaining": 10, "usage": 5}})
        self.wait_for_key_in_use(proxy, "rec-a")
        self.assertGreater(len(self.probes_of(KEY_A)), probes_before)
        self.assertNoFullKeys(proxy)

    def test_a_200_that_is_not_a_key_description_keeps_the_key_disabled(self):
        # A captive portal or a changed API answering 200 says nothing of the key's credit: before,
        # an unreadable body read as "no limit" and brought the key back.
        proxy = self.start_proxy(TWO_KEYS, OVERRIDES)
        self.disable_a(proxy, {"key": KEY_A, "path": h.CHAT_PATH, "status": 402, "body": ERR_402})
        self.fake.script([{"key": KEY_A, "path": KEY_PATH, "raw_body": "<html>sign in</html>",
                           "headers": {"Content-Type": "text/html"}},
                          {"key": KEY_A, "path": h.CHAT_PATH, "status": 402, "body": ERR_402}])
        self.wait_for_probes(proxy, KEY_A, 2)
        for _ in range(4):
            self.assertEqual(self.post(proxy).get("x-proxy-key"), "rec-b")
        self.assertEqual(self.chat_count(KEY_A), 1, "a key whose probe answer was unreadable was used")
        h.wait_until(lambda: "200 without a readable key description" in proxy.log_text(), 5,
                     message="the probe's failure in the log")
        status, body = proxy.admin_get("/keys")
        self.assertIn(b"probe failed: 200 without a readable key description", body)
        self.assertNoFullKeys(proxy)

    def test_probe_interval_is_respected(self):
        proxy = self.start_proxy(TWO_KEYS, dict(OVERRIDES, **{"keys.key_recovery_interval": 2}))
        self.fake.configure(key_info={KEY_A: {"limit_remaining": 0}})
        self.disable_a(proxy, {"key": KEY_A, "path": h.CHAT_PATH, "status": 402, "body": ERR_402})
        self.wait_for_probes(proxy, KEY_A, 2, timeout=12)
        at = [r["received_at_monotonic"] for r in self.probes_of(KEY_A)]
        gaps = [b - a for a, b in zip(at, at[1:])]
        self.assertTrue(all(g >= 1.5 for g in gaps), "probes closer than the interval: %s" % gaps)

    def test_a_reload_probes_disabled_keys_at_once(self):
        # Credit added after a 402: POST /keys/reload (or SIGHUP) brings the key back now, not at
        # the next key_recovery_interval (an hour here).
        proxy = self.start_proxy(TWO_KEYS, dict(OVERRIDES, **{"keys.key_recovery_interval": 3600}))
        for n, ask in enumerate((lambda: self.assertEqual(proxy.admin_post("/keys/reload")[0], 200),
                                 lambda: proxy.send_signal(signal.SIGHUP))):
            self.fake.script([{"key": KEY_A, "path": h.CHAT_PATH, "status": 402, "body": ERR_402}])
            disabled = proxy.log_text().count("key rec-a active -> disabled_no_credit") + 1

            def a_disabled():
                self.post(proxy)  # round robin: A's turn comes within two requests
                return proxy.log_text().count("key rec-a active -> disabled_no_credit") == disabled
            h.wait_until(a_disabled, 10, interval=0.05, message="key A disabled (round %d)" % n)
            self.fake.script([])
            self.fake.configure(key_info={KEY_A: {"limit": 15, "limit_remaining": 10, "usage": 5}})
            probes = len(self.probes_of(KEY_A))
            ask()
            self.wait_for_probes(proxy, KEY_A, probes + 1)
            self.wait_for_key_in_use(proxy, "rec-a")
            self.assertEqual(proxy.log_text().count("probing 1 disabled key now"), n + 1)

    def test_repeated_reloads_do_not_pile_up_probes(self):
        # Ten reloads while the first one's probe is still under way: one probe, not ten.
        proxy = self.start_proxy(TWO_KEYS, dict(OVERRIDES, **{"keys.key_recovery_interval": 3600}))
        self.fake.configure(key_info={KEY_A: {"limit": 5, "limit_remaining": 0, "usage": 5}})
        self.disable_a(proxy, {"key": KEY_A, "path": h.CHAT_PATH, "status": 402, "body": ERR_402})
        self.fake.script([{"key": KEY_A, "path": KEY_PATH, "delay_ms": 4000}])  # a slow /key
        for _ in range(10):
            self.assertEqual(proxy.admin_post("/keys/reload")[0], 200)
        h.wait_until(lambda: "recovery probe of key rec-a: status 200" in proxy.log_text(), 15,
                     message="the probe's answer")
        self.assertEqual(len(self.probes_of(KEY_A)), 1)
        self.assertEqual(proxy.log_text().count("probing 1 disabled key now"), 1)

    def test_readyz_says_whether_an_intercepted_request_can_be_served(self):
        proxy = self.start_proxy(TWO_KEYS, OVERRIDES)
        self.assertEqual(proxy.admin_get("/readyz"), (200, b"ready: 2 active, 0 cooling, 0 disabled of 2 keys\n"))
        self.fake.script([{"path": h.CHAT_PATH, "status": 401, "body": ERR_401},
                          {"path": KEY_PATH, "status": 401, "body": ERR_401}])
        res, _ = h.curl_with_headers(h.via_proxy(proxy, *h.chat_args(), API))
        self.assertEqual(res.status, 503, res.stdout[:300])  # both keys tried, both invalid
        status, body = proxy.admin_get("/readyz")
        self.assertEqual((status, body), (503, b"not ready: every key is disabled: 0 active, 0 cooling, "
                                               b"2 disabled of 2 keys\n"))
        self.assertEqual(proxy.admin_get("/healthz")[0], 200)  # the process itself is fine

    def assertNoFullKeys(self, proxy):
        # Every request's access line is in (each is flushed after its answer) before the look.
        h.wait_for_access_lines(proxy, self.posted)
        h.assert_no_key_in(self, proxy.all_output(), [key for key, _ in TWO_KEYS], "the proxy's output")


if __name__ == "__main__":
    unittest.main()
