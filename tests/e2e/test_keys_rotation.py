#!/usr/bin/python3
"""The key pool answering for upstream errors, through the real binary and curl: rotation on
key-specific failures (429, 401, 402), pass-through of the client's own errors (400, 403),
back-off on provider outages (5xx), every key cooling or disabled, and an empty pool."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API = "https://openrouter.ai/api/v1/chat/completions"

KEY_A = "sk-or-v1-test-rotation-a-5c1e9b7d2f40a6e3"
KEY_B = "sk-or-v1-test-rotation-b-8d3a0f6c1e9b7a24"
KEY_C = "sk-or-v1-test-rotation-c-2b7e4d9f0a1c3e85"
LABEL = {KEY_A: "rot-a", KEY_B: "rot-b", KEY_C: "rot-c"}
TWO_KEYS = ((KEY_A, "rot-a"), (KEY_B, "rot-b"))

# Long recovery interval: a key disabled in a test stays disabled for the whole test.
BASE_OVERRIDES = {"proxy.workers": 2, "keys.key_recovery_interval": 3600, "retry.retry_delay": 0.2}

ERR_402 = {"error": {"code": 402, "message": "Insufficient credits",
                     "metadata": {"limit_source": "openrouter_credits"}}}
ERR_401 = {"error": {"code": 401, "message": "User not found."}}
ERR_429 = {"error": {"code": 429, "message": "Rate limit exceeded: limit_rpm/openai/gpt-4o-mini",
                     "metadata": {"error_type": "rate_limit_exceeded"}}}
ERR_403_MODERATION = {"error": {
    "code": 403, "message": "openai/gpt-4o-mini requires moderation on OpenAI. Your input was flagged "
                            "for \"violence\". No credits were charged.",
    "metadata": {"reasons": ["violence"], "flagged_input": "Say hello...", "provider_name": "OpenAI",
                 "model_slug": "openai/gpt-4o-mini"}}}
ERR_400 = {"error": {"code": 400, "message": "openai/gpt-4o-mini is not a valid model ID",
                     "metadata": {"provider_name": None}}}


def key_label(key):
    """A pool key's label, or its last four characters: what a failing test may print."""
    return LABEL.get(key) or ("...%s" % key[-4:] if key else None)


def summary(recs):
    """Fake request records without their headers (which carry the pool key): for messages."""
    return [(key_label(r["key"]), r["status"], r["connection_id"], round(r["received_at_monotonic"], 3))
            for r in recs]


def overrides(**extra):
    o = dict(BASE_OVERRIDES)
    o.update({k.replace("__", "."): v for k, v in extra.items()})
    return o


class KeysTestBase(h.FreshProxyTestCase):
    def post(self, proxy, body=None, timeout=30):
        return h.curl_with_headers(h.via_proxy(proxy, *h.chat_args(body), API), timeout=timeout)

    def timed_post(self, proxy):
        """post(), and the seconds it took."""
        started = time.monotonic()
        res, headers = self.post(proxy)
        return res, headers, time.monotonic() - started

    def chat_keys(self):
        """The pool keys the fake saw on chat completions, in order, by label: a failing assertion
        prints them, and a pool key is never printed whole."""
        return [key_label(r["key"]) for r in self.fake.requests(h.CHAT_PATH)]

    def assertStatus(self, proxy, res, status):
        self.assertEqual(res.returncode, 0, "curl failed: %s\n%s" % (res.stderr, proxy.diagnostics()))
        self.assertEqual(res.status, status, "body: %r\n%s" % (res.stdout[:600], proxy.diagnostics()))

    def assertOpenRouterError(self, res, code):
        try:
            doc = res.json()
        except ValueError:
            self.fail("the error body is not JSON: %r" % res.stdout[:500])
        self.assertIsInstance(doc.get("error"), dict, doc)
        self.assertEqual(doc["error"].get("code"), code, doc)
        self.assertIsInstance(doc["error"].get("message"), str, doc)
        self.assertTrue(doc["error"]["message"], doc)
        return doc["error"]["message"]


class RotationTest(KeysTestBase):
    # -------------------------------------------------------------------------------------------
    def test_429_on_first_key_then_success_on_the_other(self):
        proxy = self.start_proxy(TWO_KEYS, overrides())
        # Whichever key the pool picks first is rate limited (for a minute); the other one works.
        self.fake.script([{"path": h.CHAT_PATH, "status": 429, "body": ERR_429,
                           "headers": {"Retry-After": "60"}, "times": 1}])
        res, headers = self.post(proxy)
        self.assertStatus(proxy, res, 200)
        self.assertEqual(res.json()["object"], "chat.completion")
        seen = self.chat_keys()
        self.assertEqual(len(seen), 2, seen)
        first, second = seen
        self.assertNotEqual(first, second, "the rate-limited key was retried for the same request")
        self.assertEqual(headers.get("x-proxy-attempts"), "2", headers)
        self.assertEqual(headers.get("x-proxy-key"), second, headers)
        # Exactly one response reached the client: one status line, one JSON document.
        self.assertEqual(len(res.all_metrics), 1)
        self.assertNotIn(b"Rate limit exceeded", res.stdout)

        # The cooling key (Retry-After 60) is not chosen by the next requests.
        for _ in range(4):
            res, headers = self.post(proxy)
            self.assertStatus(proxy, res, 200)
            self.assertEqual(headers.get("x-proxy-attempts"), "1", headers)
            self.assertEqual(headers.get("x-proxy-key"), second, headers)
        self.assertEqual(self.chat_keys()[2:], [second] * 4)

    def test_429_rotation_reuses_the_pooled_connection_without_waiting(self):
        # Issue 7: a rotation is not an outage. With a pooled upstream connection free, the next
        # key goes out on that same connection (no new TLS handshake) and at once (no back-off:
        # the first back-off is a draw in [retry_delay/2, retry_delay] = [5, 10] s here, so a wait
        # would show plainly between the two attempts the fake received).
        proxy = self.start_proxy(TWO_KEYS, overrides(proxy__workers=1, retry__retry_delay=10))
        res, _ = self.post(proxy)  # warms the pool: one upstream connection, idle again
        self.assertStatus(proxy, res, 200)
        accepted = self.fake.stats()["connections_accepted"]
        self.fake.script([{"path": h.CHAT_PATH, "status": 429, "body": ERR_429,
                           "headers": {"Retry-After": "60"}, "times": 1}])
        res, headers = self.post(proxy)
        self.assertStatus(proxy, res, 200)
        self.assertEqual(headers.get("x-proxy-attempts"), "2", headers)
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 3, summary(recs))
        self.assertEqual([r["status"] for r in recs], [200, 429, 200], summary(recs))
        gap = recs[2]["received_at_monotonic"] - recs[1]["received_at_monotonic"]
        self.assertLess(gap, 0.5, "the rotation waited %.2f s between the attempts (retry_delay is 10 s): %s"
                        % (gap, summary(recs)))
        self.assertNotEqual(key_label(recs[1]["key"]), key_label(recs[2]["key"]))
        self.assertEqual({r["connection_id"] for r in recs}, {recs[0]["connection_id"]},
                         "the retry did not go out on the pooled connection")
        self.assertEqual(self.fake.stats()["connections_accepted"], accepted, "a new upstream connection was opened")

    def test_401_key_is_never_chosen_again(self):
        proxy = self.start_proxy(TWO_KEYS, overrides())
        self.fake.script([{"key": KEY_A, "path": h.CHAT_PATH, "status": 401, "body": ERR_401}])
        for _ in range(6):
            res, headers = self.post(proxy)
            self.assertStatus(proxy, res, 200)
            self.assertEqual(headers.get("x-proxy-key"), "rot-b", headers)
        seen = self.chat_keys()
        self.assertLessEqual(seen.count("rot-a"), 1, "an invalid key was chosen again: %s" % seen)
        self.assertEqual(seen.count("rot-b"), 6, seen)

    def test_an_empty_401_still_disables_the_key(self):
        # Content-Length: 0: the answer ends with its head (the proxy once waited on for a body
        # until upstream.request_timeout, and answered 504 without rotating).
        proxy = self.start_proxy(TWO_KEYS, overrides(upstream__request_timeout=10))
        self.fake.script([{"key": KEY_A, "path": h.CHAT_PATH, "status": 401, "raw_body": ""}])
        attempts = []
        for _ in range(2):  # round robin: rot-a's turn comes in one of the two
            res, headers, took = self.timed_post(proxy)
            self.assertStatus(proxy, res, 200)
            self.assertEqual(headers.get("x-proxy-key"), "rot-b", headers)
            self.assertLess(took, 5)
            attempts.append(headers.get("x-proxy-attempts"))
        self.assertIn("2", attempts)
        self.assertEqual(self.chat_keys().count("rot-a"), 1, self.chat_keys())

    def test_the_key_sent_upstream_never_comes_back_to_the_client(self):
        # Wherever the upstream quotes the key it was sent: a header, an event after data, a 200
        # body, an error body too large to be read whole first (all relayed as they come).
        proxy = self.start_proxy(((KEY_A, "rot-a"),), overrides(retry__max_retries=0))
        cases = [
            ({"status": 400, "body": {"error": {"code": 400, "message": "x"}}, "headers": {"X-Debug-Key": KEY_A}}, False),
            ({"stream_error_after": 1, "stream_error": {"error": {"code": 502, "message": "saw " + KEY_A}}}, True),
            ({"status": 200, "body": {"echo": KEY_A}}, False),
            ({"status": 400, "raw_body": json.dumps({"error": {"code": 400, "message": "x" * (1100 * 1024) + KEY_A}})},
             False),
        ]
        for case, (rule, stream) in enumerate(cases):
            self.fake.reset()
            self.fake.script([dict(rule, path=h.CHAT_PATH)])
            res = h.curl(h.via_proxy(proxy, *h.chat_args(h.chat_body(stream=stream)), "-i", API), timeout=30)
            self.assertEqual(res.returncode, 0, res.stderr)
            h.assert_no_key_in(self, res.stdout, (KEY_A, KEY_A[9:-4]), "the answer of case %d" % case)
            # Blotted out byte for byte: framing and lengths stay right (curl read it whole).
            self.assertTrue(b"sk-or-v1-" + b"*" * (len(KEY_A) - 13) + KEY_A[-4:].encode() in res.stdout,
                            "case %d: no blotted key in the answer" % case)

    def test_a_request_waiting_for_a_cool_down_is_answered_when_the_proxy_stops(self):
        # It used to be cut off at the 10 s drain limit: an empty reply, and no access line.
        proxy = self.start_proxy(((KEY_A, "rot-a"),), overrides(upstream__request_timeout=120))
        self.fake.script([{"path": h.CHAT_PATH, "status": 429, "body": ERR_429, "headers": {"Retry-After": "60"}}])
        started = []

        def first_attempt_then_sigterm():
            h.wait_until(lambda: len(self.chat_keys()) == 1, 10, message="the first attempt")
            started.append(time.monotonic())
            proxy.send_signal(signal.SIGTERM)
        out, err = h.curl_during(h.via_proxy(proxy, *h.chat_args(), "-i", API), first_attempt_then_sigterm)
        self.assertTrue(out.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 503" in out, out[:500] + err)
        self.assertIn(b"X-Proxy-Attempts: 1", out)
        self.assertIn(b"is stopping", out)
        self.assertEqual(proxy.stop(), 0)
        self.assertLess(time.monotonic() - started[0], 5)
        self.assertIn('status=503', proxy.log_text())
        self.assertIn('error="proxy stopping"', proxy.log_text())

    def test_an_account_wide_429_with_retry_after_is_honoured_by_the_global_back_off(self):
        # Every key answers 429 with Retry-After: 600 (an IP- or account-wide limit). The pool
        # pauses as told: one attempt per key, then 429 at once with the upstream's Retry-After.
        # It used to pause 5 s (then 10, 20) instead and try the keys again: 11 attempts in 35 s.
        proxy = self.start_proxy(((KEY_A, "rot-a"), (KEY_B, "rot-b"), (KEY_C, "rot-c")), overrides())
        self.fake.script([{"path": h.CHAT_PATH, "status": 429, "body": ERR_429, "headers": {"Retry-After": "600"},
                           "times": 20}])
        res, headers, took = self.timed_post(proxy)
        self.assertEqual(res.status, 429, res.stderr)
        self.assertEqual(headers.get("x-proxy-attempts"), "3")
        self.assertGreaterEqual(int(headers.get("retry-after", "0")), 590)
        self.assertEqual(len(self.chat_keys()), 3)
        # The next request is answered by the proxy alone, without trying a key.
        res, headers, _ = self.timed_post(proxy)
        self.assertEqual(res.status, 429)
        self.assertGreaterEqual(int(headers.get("retry-after", "0")), 590)
        self.assertEqual(len(self.chat_keys()), 3)
        self.assertLess(took, 20, "the first request waited instead of answering 429 at once")
        h.wait_until(lambda: re.search(r"global back-off (599|600)\.\ds", proxy.log_text()), 10,
                     message="the global back-off of about 600 s in the log")

    def test_402_key_is_never_chosen_again(self):
        proxy = self.start_proxy(TWO_KEYS, overrides())
        self.fake.script([{"key": KEY_A, "path": h.CHAT_PATH, "status": 402, "body": ERR_402}])
        for _ in range(6):
            res, headers = self.post(proxy)
            self.assertStatus(proxy, res, 200)
            self.assertEqual(headers.get("x-proxy-key"), "rot-b", headers)
        seen = self.chat_keys()
        self.assertLessEqual(seen.count("rot-a"), 1, "a key without credit was chosen again: %s" % seen)
        self.assertEqual(seen.count("rot-b"), 6, seen)

    def test_403_moderation_passed_through_and_key_kept(self):
        proxy = self.start_proxy(((KEY_A, "rot-a"),), overrides())
        raw = json.dumps(ERR_403_MODERATION, separators=(",", ":"))
        self.fake.script([{"path": h.CHAT_PATH, "status": 403, "raw_body": raw,
                           "headers": {"X-Upstream-Marker": "moderation"}, "times": 1}])
        res, headers = self.post(proxy)
        self.assertStatus(proxy, res, 403)
        self.assertEqual(res.stdout, raw.encode(), "the 403 body was not passed through unchanged")
        self.assertEqual(headers.get("x-upstream-marker"), "moderation", headers)
        self.assertEqual(headers.get("x-proxy-attempts"), "1", headers)
        self.assertEqual(len(self.chat_keys()), 1, "a 403 must not be retried")
        # The key is not benched: the next request uses it and succeeds.
        res, headers = self.post(proxy)
        self.assertStatus(proxy, res, 200)
        self.assertEqual(headers.get("x-proxy-key"), "rot-a", headers)
        self.assertEqual(self.chat_keys(), ["rot-a", "rot-a"])

    def test_400_passed_through_unchanged(self):
        proxy = self.start_proxy(TWO_KEYS, overrides())
        raw = json.dumps(ERR_400)
        self.fake.script([{"path": h.CHAT_PATH, "status": 400, "raw_body": raw, "times": 1}])
        res, headers = self.post(proxy)
        self.assertStatus(proxy, res, 400)
        self.assertEqual(res.stdout, raw.encode())
        self.assertEqual(headers.get("x-proxy-attempts"), "1", headers)
        self.assertIn(headers.get("x-proxy-key"), ("rot-a", "rot-b"), headers)
        self.assertEqual(len(self.chat_keys()), 1, "a 400 must not be retried")

    def test_a_pool_key_quoted_in_a_passed_through_error_is_masked(self):
        # OpenRouter quotes the key it was sent in some messages; a client must never learn a
        # pool key from one (written plainly or with JSON escapes).
        proxy = self.start_proxy(TWO_KEYS, overrides())
        for key in (KEY_A, KEY_B):
            escaped = key.replace("-", "\\u002d")
            raw = '{"error":{"code":403,"message":"key %s is not allowed (%s)"}}' % (key, escaped)
            self.fake.script([{"key": key, "path": h.CHAT_PATH, "status": 403, "raw_body": raw}], append=True)
        for _ in range(2):
            res, headers = self.post(proxy)
            self.assertStatus(proxy, res, 403)
            h.assert_no_key_in(self, res.stdout, (KEY_A, KEY_B, KEY_A[9:], KEY_B[9:]), "the 403 passed on")
            message = json.loads(res.stdout)["error"]["message"]
            self.assertRegex(message, r"^key sk-or-v1-.+ is not allowed \(sk-or-v1-.+\)$")
            self.assertEqual(int(headers["content-length"]), len(res.stdout), headers)

    def test_502_then_503_retried_with_backoff(self):
        proxy = self.start_proxy(TWO_KEYS, overrides(retry__max_retries=3, retry__retry_delay=0.2))
        self.fake.script([
            {"path": h.CHAT_PATH, "status": 502, "times": 1,
             "body": {"error": {"code": 502, "message": "Provider returned error",
                                "metadata": {"error_type": "provider_error", "provider_name": "Fake"}}}},
            {"path": h.CHAT_PATH, "status": 503, "times": 1,
             "body": {"error": {"code": 503, "message": "No available provider"}}},
        ])
        res, headers, elapsed = self.timed_post(proxy)
        self.assertStatus(proxy, res, 200)
        self.assertEqual(headers.get("x-proxy-attempts"), "3", headers)
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual([r["status"] for r in recs], [502, 503, 200], summary(recs))
        self.assertEqual(headers.get("x-proxy-key"), key_label(recs[-1]["key"]), headers)
        # Back-off (src/keys/backoff.hpp): retry n waits a uniform draw in [d/2, d] with
        # d = retry_delay * 2^(n-1): at least 0.1 s before the 2nd attempt, 0.2 s before the 3rd.
        at = [r["received_at_monotonic"] for r in recs]
        slack = 0.01
        self.assertGreaterEqual(at[1] - at[0], 0.1 - slack, "no back-off before retry 1: %s" % at)
        self.assertGreaterEqual(at[2] - at[1], 0.2 - slack, "no back-off before retry 2: %s" % at)
        self.assertGreaterEqual(elapsed, 0.3 - slack)
        self.assertLess(elapsed, 5.0, "back-off far longer than retry_delay calls for")
        # A provider outage does not bench a key: the next request is answered at once.
        res, headers = self.post(proxy)
        self.assertStatus(proxy, res, 200)
        self.assertEqual(headers.get("x-proxy-attempts"), "1", headers)

    def test_5xx_beyond_max_retries_answers_with_the_upstream_error(self):
        proxy = self.start_proxy(TWO_KEYS, overrides(retry__max_retries=2, retry__retry_delay=0.05))
        self.fake.script([{"path": h.CHAT_PATH, "status": 502,
                           "body": {"error": {"code": 502, "message": "Provider returned error"}}}])
        res, headers = self.post(proxy)
        self.assertStatus(proxy, res, 502)
        self.assertEqual(headers.get("x-proxy-attempts"), "3", headers)
        self.assertEqual(len(self.chat_keys()), 3)
        self.assertEqual(self.assertOpenRouterError(res, 502), "Provider returned error")

    def test_out_of_retries_the_client_gets_the_upstreams_last_answer(self):
        # Its status, body and Retry-After, not a 502 of the proxy's (the last answer's connection
        # used to go back to the pool before the proxy knew it would be the last).
        proxy = self.start_proxy(TWO_KEYS, overrides(retry__max_retries=1, retry__retry_delay=0.05))
        self.fake.script([{"path": h.CHAT_PATH, "status": 500,
                           "body": {"error": {"code": 500, "message": "Internal Server Error upstream"}}}])
        res, headers = self.post(proxy)
        self.assertStatus(proxy, res, 500)
        self.assertEqual(self.assertOpenRouterError(res, 500), "Internal Server Error upstream")
        self.assertEqual(headers.get("x-proxy-attempts"), "2", headers)
        # A Retry-After beyond the request's deadline: answered at once, with the upstream's hint.
        proxy.stop()
        proxy = self.start_proxy(TWO_KEYS, overrides(upstream__request_timeout=3))
        self.fake.script([{"path": h.CHAT_PATH, "status": 503, "headers": {"Retry-After": "10"},
                           "body": {"error": {"code": 503, "message": "overloaded"}}}])
        res, headers, took = self.timed_post(proxy)
        self.assertStatus(proxy, res, 503)
        self.assertEqual(headers.get("retry-after"), "10", headers)
        self.assertEqual(self.assertOpenRouterError(res, 503), "overloaded")
        self.assertLess(took, 3)

    def test_every_key_429_with_long_retry_after_gives_429(self):
        proxy = self.start_proxy(TWO_KEYS, overrides(upstream__request_timeout=2))
        self.fake.script([{"path": h.CHAT_PATH, "status": 429, "body": ERR_429,
                           "headers": {"Retry-After": "30"}}])
        res, headers, elapsed = self.timed_post(proxy)
        self.assertStatus(proxy, res, 429)
        self.assertIn("retry-after", headers, headers)
        retry_after = int(headers["retry-after"])
        self.assertGreaterEqual(retry_after, 1, headers)
        self.assertLessEqual(retry_after, 31, headers)
        self.assertOpenRouterError(res, 429)
        self.assertLess(elapsed, 2.0 + 1.5, "the answer came after the request deadline")
        self.assertEqual(sorted(self.chat_keys()), ["rot-a", "rot-b"], "each key should be tried once")
        # The proxy's own answer names the last key tried and the attempts, like any other.
        self.assertIn(headers.get("x-proxy-key"), ("rot-a", "rot-b"), headers)
        self.assertEqual(headers.get("x-proxy-attempts"), "2", headers)

    def test_every_key_429_with_short_retry_after_waits_and_succeeds(self):
        proxy = self.start_proxy(TWO_KEYS, overrides(upstream__request_timeout=10))
        self.fake.script([{"path": h.CHAT_PATH, "status": 429, "body": ERR_429,
                           "headers": {"Retry-After": "1"}, "times": 2}])
        res, headers, elapsed = self.timed_post(proxy)
        self.assertStatus(proxy, res, 200)
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual([r["status"] for r in recs], [429, 429, 200], summary(recs))
        self.assertEqual(len({r["key"] for r in recs[:2]}), 2, "both keys should be tried first: %s" % summary(recs))
        # The third attempt waited for a cool-down (Retry-After: 1 s).
        self.assertGreaterEqual(recs[2]["received_at_monotonic"] - recs[0]["received_at_monotonic"], 0.9)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 10.0)
        self.assertEqual(headers.get("x-proxy-attempts"), "3", headers)

    def test_keys_that_keep_answering_429_are_tried_at_most_twice(self):
        # After one wait for a cool-down the request gives up with 429: it used to wait and retry
        # for as long as its deadline allowed (each key ten times in 10 s).
        proxy = self.start_proxy(TWO_KEYS, overrides(upstream__request_timeout=10))
        self.fake.script([{"path": h.CHAT_PATH, "status": 429, "body": ERR_429, "headers": {"Retry-After": "1"}}])
        res, headers, elapsed = self.timed_post(proxy)
        self.assertStatus(proxy, res, 429)
        self.assertOpenRouterError(res, 429)
        self.assertIn("retry-after", headers, headers)
        self.assertEqual(sorted(self.chat_keys()), ["rot-a", "rot-a", "rot-b", "rot-b"])
        self.assertEqual(headers.get("x-proxy-attempts"), "4", headers)
        self.assertLess(elapsed, 5.0, "the request went on waiting for cool-downs")
        h.wait_for_access_line(proxy, 'error="all keys cooling down"')

    def test_every_key_invalid_gives_503(self):
        proxy = self.start_proxy(TWO_KEYS, overrides())
        self.fake.script([{"path": h.CHAT_PATH, "status": 401, "body": ERR_401}])
        res, headers = self.post(proxy)
        self.assertStatus(proxy, res, 503)
        message = self.assertOpenRouterError(res, 503)
        self.assertIn("disabled", message.lower(), message)
        self.assertEqual(sorted(self.chat_keys()), ["rot-a", "rot-b"])
        self.assertIn(headers.get("x-proxy-key"), ("rot-a", "rot-b"), headers)
        self.assertEqual(headers.get("x-proxy-attempts"), "2", headers)
        # Later requests are answered without troubling the upstream, and say no key was tried.
        res, headers = self.post(proxy)
        self.assertStatus(proxy, res, 503)
        self.assertEqual((headers.get("x-proxy-key"), headers.get("x-proxy-attempts")), ("none", "0"), headers)
        self.assertIn("disabled", self.assertOpenRouterError(res, 503).lower())
        self.assertEqual(len(self.chat_keys()), 2, "disabled keys were tried again")


class EmptyPoolTest(h.TunnelTargetMixin, KeysTestBase):
    def test_no_keys_starts_answers_503_and_tunnels(self):
        proxy = self.start_proxy((), overrides())
        # The warning of src/app/run.cpp, not just any line naming keys.csv ("loaded N keys from
        # .../keys.csv" names it too).
        self.assertIn("keys.csv holds no keys: tunnelling works, intercepted requests get 503 until keys "
                      "are added to ", proxy.all_output(), "the start does not say the pool is empty")
        self.assertNotIn("loaded 0 keys", proxy.all_output())
        res, headers = self.post(proxy)
        self.assertStatus(proxy, res, 503)
        message = self.assertOpenRouterError(res, 503)
        self.assertIn("keys.csv", message)
        self.assertRegex(message.lower(), r"\badd\b", message)
        self.assertEqual(self.fake.requests(), [], "nothing should reach the upstream")
        self.assertEqual(proxy.admin_get("/readyz"),
                         (503, b"not ready: keys.csv holds no keys: 0 active, 0 cooling, 0 disabled of 0 keys\n"))
        # Tunnelling is unaffected.
        res = h.curl(["-x", proxy.url, "--cacert", self.pki.ca_cert,
                      "https://localhost:%d/api/v1/key" % self.target.port,
                      "-H", "Authorization: Bearer " + h.CLIENT_KEY], metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr)
        self.assertIn(b'"data"', res.stdout)
        self.assertEqual(len(self.target.requests()), 1)


if __name__ == "__main__":
    unittest.main()
