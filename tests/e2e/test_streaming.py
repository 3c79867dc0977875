#!/usr/bin/python3
"""Streaming through the intercepting proxy: SSE events leave the proxy as they arrive, and a
client that goes away mid-stream makes the proxy close its upstream connection."""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API = "https://openrouter.ai/api/v1/chat/completions"


class StreamingTest(h.ProxyTestCase):
    KEYS = ((h.POOL_KEY_A, "pool-a"), (h.POOL_KEY_B, "pool-b"))

    def stream(self, events, interval_ms, **kwargs):
        args = h.via_proxy(self.proxy, *h.chat_args(
            h.chat_body(stream=True),
            extra_headers=["X-Fake-Events: %d" % events, "X-Fake-Interval-Ms: %d" % interval_ms]), API)
        return h.curl_stream(args, **kwargs)

    def access_lines(self):
        return [l for l in self.proxy.log_text().splitlines() if " access " in l]

    def test_twenty_events_arrive_spread_out(self):
        # The class shares one proxy: earlier tests' access lines are in the log already.
        logged_before = len(self.access_lines())
        res = self.stream(20, 100, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr + "\n" + self.proxy.diagnostics())
        payloads = res.data_payloads()
        # 20 content events, the final usage event, then [DONE].
        self.assertEqual(len(payloads), 22, res.output[-2000:])
        self.assertEqual(payloads[-1], b"[DONE]")
        for i in range(20):
            self.assertIn(b'"tok%d ' % i, payloads[i])
        self.assertIn(b'"usage"', payloads[20])
        arrivals = [t - res.start for t, _ in res.events]
        first, last_content = arrivals[0], arrivals[19]
        # The fake needs 1.9 s to send 20 events 100 ms apart: the first must reach curl long
        # before the last one is even written.
        self.assertLess(first, 1.0, "first event arrived after %.2fs" % first)
        self.assertGreaterEqual(last_content - first, 1.7, arrivals)
        gaps = [b - a for a, b in zip(arrivals[:20], arrivals[1:20])]
        spaced = [g for g in gaps if 0.05 <= g <= 0.3]
        self.assertGreaterEqual(len(spaced), 15, "arrival gaps do not follow the 100 ms spacing: %s"
                                % ["%.3f" % g for g in gaps])
        # The stream's final event carries usage: the access line reports it.
        usage = json.loads(payloads[20])["usage"]
        # The line is written once the proxy has finished the request, which may be just after curl
        # has read the last byte: wait for this request's line, not any line.
        line = h.wait_until(lambda: self.access_lines()[logged_before:], 5, message="this stream's access line")[-1]
        self.assertIn("prompt_tokens=%d completion_tokens=%d" % (usage["prompt_tokens"], usage["completion_tokens"]),
                      line)
        rec = self.fake.requests(h.CHAT_PATH)[0]
        self.assertTrue(rec["stream"])
        self.assertIn(h.header(rec, "Authorization"),
                      ("Bearer " + h.POOL_KEY_A, "Bearer " + h.POOL_KEY_B))

    def test_client_disconnect_closes_upstream_connection(self):
        self.fake.script([{"path": h.CHAT_PATH, "hold_open": True, "times": 1}])
        res = self.stream(5, 100, timeout=30, kill_after_events=2)
        self.assertIsNotNone(res.killed_at, "curl ended before two events: %s" % res.stderr)
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 1)
        cid = recs[0]["connection_id"]

        def closed():
            return [c for c in self.fake.stats()["closed"] if c["connection_id"] == cid]

        # Poll well past the limit so a slow close is reported with its real delay.
        try:
            record = h.wait_until(closed, 5.0, message="upstream connection %d to close" % cid)[0]
        except AssertionError:
            self.fail("the proxy kept the upstream connection open after the client left\n"
                      + self.proxy.diagnostics())
        delay = record["closed_at_monotonic"] - res.killed_at
        self.assertLess(delay, 1.5, "upstream closed %.2fs after the client went away" % delay)
        # The aborted connection was not pooled, and the proxy still serves the next stream.
        time.sleep(0.2)
        again = self.stream(3, 0, timeout=30)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(again.data_payloads()[-1], b"[DONE]")
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 2)
        self.assertNotEqual(recs[1]["connection_id"], cid)
        self.assertProxyAlive()


if __name__ == "__main__":
    unittest.main()
