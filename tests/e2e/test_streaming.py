#!/usr/bin/python3
"""Streaming through the intercepting proxy: SSE events leave the proxy as they arrive, and a
client that goes away mid-stream makes the proxy close its upstream connection."""

import json
import os
import statistics
import time
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API = "https://openrouter.ai/api/v1/chat/completions"


class StreamingTest(h.ProxyTestCase):
    KEYS = ((h.POOL_KEY_A, "pool-a"), (h.POOL_KEY_B, "pool-b"))
    # One worker, so one upstream pool: a connection pooled by one request is the one the next finds.
    OVERRIDES = {"proxy.workers": 1}

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
        arrivals = [t for t, _ in res.events]
        rec = self.fake.requests(h.CHAT_PATH)[0]
        # The fake sleeps 100 ms before each event after the first: it cannot write the last
        # content event before 1.9 s after it received the request. The first event reached curl
        # before that (measured from the fake's receipt, not curl's start: no process start, CONNECT
        # or TLS handshakes in it), and the events reached curl spread out as they were sent.
        last_written = rec["received_at_monotonic"] + 1.9
        self.assertLess(arrivals[0], last_written, "the first event arrived %.2fs after the fake received the "
                        "request: held back until the stream ended?" % (arrivals[0] - rec["received_at_monotonic"]))
        self.assertGreaterEqual(arrivals[19] - arrivals[0], 1.7, ["%.3f" % (t - res.start) for t in arrivals])
        # The typical gap is the fake's 100 ms (a busy machine may bunch a few: the median, not each).
        gaps = [b - a for a, b in zip(arrivals[:20], arrivals[1:20])]
        self.assertTrue(0.05 <= statistics.median(gaps) <= 0.3, "arrival gaps do not follow the 100 ms spacing: %s"
                        % ["%.3f" % g for g in gaps])
        # The stream's final event carries usage: the access line reports it.
        usage = json.loads(payloads[20])["usage"]
        # The line is written once the proxy has finished the request, which may be just after curl
        # has read the last byte: wait for this request's line, not any line.
        line = h.wait_until(lambda: self.access_lines()[logged_before:], 5, message="this stream's access line")[-1]
        self.assertIn("prompt_tokens=%d completion_tokens=%d" % (usage["prompt_tokens"], usage["completion_tokens"]),
                      line)
        self.assertTrue(rec["stream"])
        used = h.header(rec, "Authorization")
        self.assertTrue(used in ("Bearer " + h.POOL_KEY_A, "Bearer " + h.POOL_KEY_B),
                        "upstream Authorization: %r" % h.redact(used))

    def upstream_stale(self):
        """/stats' counts of pooled upstream connections found dead: before use, and on use (the
        request then sent again on a new one, which a client never notices)."""
        status, body = self.proxy.admin_get("/stats")
        self.assertEqual(status, 200, body)
        stats = json.loads(body)
        return {k: stats[k] for k in ("upstream_stale_discarded", "upstream_stale_retried")}

    def test_client_disconnect_closes_upstream_connection(self):
        stale_before = self.upstream_stale()
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
        # The proxy still serves the next stream, and the aborted connection was not pooled: a
        # pooled dead one would be found dead on use or before it (and replaced unseen).
        again = self.stream(3, 0, timeout=30)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(again.data_payloads()[-1], b"[DONE]")
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 2)
        self.assertNotEqual(recs[1]["connection_id"], cid)
        self.assertEqual(self.upstream_stale(), stale_before, "a dead upstream connection was pooled")
        self.assertProxyAlive()


class ClientGoneBeforeTheAnswer(h.FreshProxyTestCase):
    """A client that hangs up before its answer began (curl --max-time) has its upstream request
    cancelled: the connection closes, which stops the generation and its billing. It used to go on
    until the answer was there to be written (and a request waiting for a cool-down was still sent)."""

    KEYS = ((h.POOL_KEY_A, "pool-a"),)

    def give_up_after(self, proxy, seconds, stream=False):
        res = h.curl(h.via_proxy(proxy, "--max-time", str(seconds), *h.chat_args(h.chat_body(stream=stream)), API),
                     timeout=30)
        gone_at = time.monotonic()
        self.assertEqual(res.returncode, 28, "curl did not time out: %s %r" % (res.stderr, res.stdout[:300]))
        return gone_at

    def assertUpstreamClosedSoonAfter(self, proxy, gone_at):
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 1, h.redact(recs))
        cid = recs[0]["connection_id"]
        record = h.wait_until(lambda: [c for c in self.fake.stats()["closed"] if c["connection_id"] == cid], 10,
                              message="the upstream connection to close\n" + proxy.diagnostics())[0]
        self.assertLess(record["closed_at_monotonic"] - gone_at, 1.5,
                        "the upstream connection closed long after the client left")
        line = h.wait_for_access_line(proxy, 'error="client went away before the answer"')
        self.assertIn("status=499", line)

    def test_waiting_for_the_answer_head(self):
        proxy = self.start_proxy(self.KEYS, {"proxy.workers": 1})
        self.fake.script([{"path": h.CHAT_PATH, "delay_ms": 5000, "times": 1}])
        self.assertUpstreamClosedSoonAfter(proxy, self.give_up_after(proxy, 1))

    def test_waiting_longer_than_the_client_connections_own_deadline(self):
        # The session's deadline for reading the request (proxy.header_timeout) expired while the
        # answer was awaited, cancelling the watch's wait: hang-ups were no longer seen.
        proxy = self.start_proxy(self.KEYS, {"proxy.workers": 1, "proxy.header_timeout": 1})
        self.fake.script([{"path": h.CHAT_PATH, "delay_ms": 6000, "times": 1}])
        self.assertUpstreamClosedSoonAfter(proxy, self.give_up_after(proxy, 2.5))

    def test_looking_ahead_for_the_first_event(self):
        proxy = self.start_proxy(self.KEYS, {"proxy.workers": 1})
        self.fake.script([{"path": h.CHAT_PATH, "times": 1, "processing_comments": 6,
                           "processing_interval_ms": 1000}])
        self.assertUpstreamClosedSoonAfter(proxy, self.give_up_after(proxy, 1.5, stream=True))

    def test_waiting_for_a_cool_down(self):
        proxy = self.start_proxy(self.KEYS, {"proxy.workers": 1})
        self.fake.script([{"path": h.CHAT_PATH, "status": 429, "times": 1, "headers": {"Retry-After": "3"},
                           "body": {"error": {"code": 429, "message": "Rate limit exceeded"}}}])
        self.give_up_after(proxy, 1)
        # The request is over once its line is written (at once: the wait is cancelled), so no
        # later attempt can follow it.
        line = h.wait_for_access_line(proxy, 'error="client went away before the answer"')
        self.assertIn("attempts=1", line)
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 1, "the request was sent again after the client left")
        status, body = proxy.admin_get("/keys")
        key = json.loads(body)["keys"][0]
        self.assertEqual((key["in_flight"], key["requests"]), (0, 1), key)


if __name__ == "__main__":
    unittest.main()
