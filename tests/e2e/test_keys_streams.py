#!/usr/bin/python3
"""Streams and the key pool: an error in the first `data:` event (after processing comments) is
retried on another key without the client seeing it; an error after the first event is passed
through and never retried."""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API = "https://openrouter.ai/api/v1/chat/completions"

KEY_A = "sk-or-v1-test-streams-a-9e2c4a7b1d3f5086"
KEY_B = "sk-or-v1-test-streams-b-3f8d1b6e0c2a4975"
LABEL = {KEY_A: "str-a", KEY_B: "str-b"}
TWO_KEYS = ((KEY_A, "str-a"), (KEY_B, "str-b"))
OVERRIDES = {"proxy.workers": 2, "keys.key_recovery_interval": 3600, "retry.retry_delay": 0.1}


def key_name(key):
    """A pool key by its label, any other key by its last four characters: safe to print."""
    return LABEL.get(key) or h.redact(key)


class StreamKeysTest(h.FreshProxyTestCase):
    def stream(self, proxy, head_path, events=4, timeout=30):
        args = h.via_proxy(proxy, "-D", head_path, *h.chat_args(
            h.chat_body(stream=True), extra_headers=["X-Fake-Events: %d" % events]), API)
        return h.curl_stream(args, timeout=timeout)

    def run_stream(self, proxy, events=4):
        head_path = os.path.join(proxy.dir, "stream.headers")
        res = self.stream(proxy, head_path, events)
        try:
            with open(head_path) as f:
                headers = h.parse_header_block(f.read())
        except FileNotFoundError:
            headers = {}
        return res, headers

    def assertGoodStream(self, proxy, res, events):
        self.assertEqual(res.returncode, 0, res.stderr + "\n" + proxy.diagnostics())
        payloads = res.data_payloads()
        # N content events, the usage event, [DONE].
        self.assertEqual(len(payloads), events + 2, res.output[-2000:])
        self.assertEqual(payloads[-1], b"[DONE]")
        for i in range(events):
            self.assertIn(b'"tok%d ' % i, payloads[i])

    # -------------------------------------------------------------------------------------------
    def test_first_event_429_retried_invisibly_on_another_key(self):
        proxy = self.start_proxy(TWO_KEYS, OVERRIDES)
        reset_ms = int((time.time() + 60) * 1000)
        self.fake.script([{
            "path": h.CHAT_PATH, "times": 1, "processing_comments": 2,
            "stream_error_first": {"code": 429, "message": "Rate limit exceeded: free-models-per-min.",
                                   "metadata": {"headers": {"X-RateLimit-Limit": "20",
                                                            "X-RateLimit-Remaining": "0",
                                                            "X-RateLimit-Reset": str(reset_ms)}}}}])
        res, headers = self.run_stream(proxy, events=4)
        self.assertGoodStream(proxy, res, 4)
        self.assertNotIn(b"error", res.output, "the client saw the upstream's error event")
        self.assertNotIn(b"Rate limit", res.output)
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 2, h.redact(recs))
        self.assertEqual(recs[0].get("stream_result"), "error_first")
        self.assertEqual(recs[1].get("stream_result"), "complete")
        used = [key_name(r["key"]) for r in recs]
        self.assertNotEqual(used[0], used[1], "retried on the rate-limited key")
        self.assertEqual(headers.get("x-proxy-attempts"), "2", headers)
        self.assertEqual(headers.get("x-proxy-key"), used[1], headers)
        self.assertIn("text/event-stream", headers.get("content-type", ""), headers)

    def test_first_event_401_disables_key_and_retries(self):
        proxy = self.start_proxy(TWO_KEYS, OVERRIDES)
        self.fake.script([{"key": KEY_A, "path": h.CHAT_PATH, "processing_comments": 1,
                           "stream_error_first": {"code": 401, "message": "User not found."}}])
        for _ in range(3):
            res, headers = self.run_stream(proxy, events=2)
            self.assertGoodStream(proxy, res, 2)
            self.assertNotIn(b"User not found", res.output)
            self.assertEqual(headers.get("x-proxy-key"), "str-b", headers)
        used = [key_name(r["key"]) for r in self.fake.requests(h.CHAT_PATH)]
        self.assertLessEqual(used.count("str-a"), 1, "the invalid key was used again: %s" % used)

    def test_mid_stream_error_passed_through_without_retry(self):
        proxy = self.start_proxy(TWO_KEYS, OVERRIDES)
        self.fake.script([{"path": h.CHAT_PATH, "times": 1, "stream_error_after": 3,
                           "stream_error": {"error": {"code": 502, "message": "Provider disconnected",
                                                      "metadata": {"error_type": "provider_error"}}}}])
        res, headers = self.run_stream(proxy, events=6)
        payloads = res.data_payloads()
        self.assertGreaterEqual(len(payloads), 4, res.output[-2000:])
        for i in range(3):
            self.assertIn(b'"tok%d ' % i, payloads[i])
        error_event = json.loads(payloads[3])
        self.assertEqual(error_event["error"]["code"], 502, payloads[3])
        self.assertEqual(error_event["error"]["message"], "Provider disconnected")
        self.assertEqual(len(payloads), 4, "events after the error: %s" % payloads[4:])
        self.assertNotIn(b"[DONE]", res.output)
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 1, "a stream that already reached the client was retried")
        self.assertEqual(recs[0]["stream_result"], "error_after")
        self.assertEqual(headers.get("x-proxy-attempts"), "1", headers)

    def test_mid_stream_error_closes_the_client_connection_and_is_logged(self):
        # SPEC: a failure after data reached the client is passed through, then the client
        # connection closes (it stayed open and was reused, and the access line named no error).
        proxy = self.start_proxy(TWO_KEYS, OVERRIDES)
        self.fake.script([{"path": h.CHAT_PATH, "times": 1, "stream_error_after": 2,
                           "stream_error": {"error": {"code": 502, "message": "Provider disconnected"}}}])
        one = h.via_proxy(proxy, *h.chat_args(h.chat_body(stream=True), extra_headers=["X-Fake-Events: 4"]),
                          "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n", API)
        res = h.curl(one + ["--next"] + one, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        # Both answered 200; the second needed a connection of its own.
        self.assertEqual(res.stdout.decode().split(), ["200", "1", "200", "1"], res.stdout)
        h.wait_until(lambda: "stream error after data: 502 Provider disconnected" in proxy.log_text(), 5,
                     message="the access line's error")
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 2)

    def test_mid_stream_cut_passed_through_without_retry(self):
        proxy = self.start_proxy(TWO_KEYS, OVERRIDES)
        self.fake.script([{"path": h.CHAT_PATH, "times": 1, "stream_error_after": 2,
                           "cut_connection": True}])
        res, _ = self.run_stream(proxy, events=6)
        payloads = res.data_payloads()
        self.assertEqual(len(payloads), 2, res.output[-2000:])
        self.assertNotIn(b"[DONE]", res.output)
        # The client learns the response is incomplete (no terminating chunk).
        self.assertNotEqual(res.returncode, 0, "curl saw a complete response after a cut")
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 1, "a cut stream was retried")
        # The proxy keeps serving.
        res, _ = self.run_stream(proxy, events=2)
        self.assertGoodStream(proxy, res, 2)

    def test_a_stream_slow_to_its_first_event_outlives_the_request_timeout(self):
        # request_timeout bounds the wait for headers; they come at once here, then only comments
        # for 3 s. The look-ahead for the first event used to run into the deadline: 504, and the
        # generation was lost.
        proxy = self.start_proxy(TWO_KEYS, dict(OVERRIDES, **{"upstream.request_timeout": 1}))
        self.fake.script([{"path": h.CHAT_PATH, "times": 1, "processing_comments": 4,
                           "processing_interval_ms": 1000}])
        started = time.monotonic()
        res, headers = self.run_stream(proxy, events=2)
        self.assertGoodStream(proxy, res, 2)
        self.assertIn(b": OPENROUTER PROCESSING", res.output, "the held comments were not relayed")
        self.assertGreaterEqual(time.monotonic() - started, 3.0)
        self.assertEqual(headers.get("x-proxy-attempts"), "1", headers)
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 1)
        line = h.wait_for_access_line(proxy, "status=200")
        self.assertNotIn("error=", line)


if __name__ == "__main__":
    unittest.main()
