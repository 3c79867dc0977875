#!/usr/bin/python3
"""The upstream keep-alive pool when the upstream closes idle connections or speaks unasked: a pooled
connection the server has closed is replaced without the client ever seeing it, whether the proxy
notices before sending (the pool watches its idle connections for readability) or only after (a
failure before any response byte is retried on a fresh connection); one that sent anything while
idle is never reused."""

import json
import os
import ssl
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API = "https://openrouter.ai/api/v1/chat/completions"


class PoolTestCase(h.ProxyTestCase):
    # One worker: one upstream pool, which every request of the test goes through.
    OVERRIDES = {"proxy.workers": 1}

    def proxy_stats(self):
        status, body = self.proxy.admin_get("/stats")
        self.assertEqual(status, 200)
        return json.loads(body)


class UpstreamClosesAfterEachAnswer(PoolTestCase):

    def test_connection_closed_moments_ago_is_retried_invisibly(self):
        # The fake answers in full, keep-alive by the look of it, and closes the connection at
        # once: the proxy pools it. The client's next request on its own keep-alive connection
        # follows within milliseconds, so it meets the connection the fake closed, before or
        # after the pool has seen the close; either way the client sees nothing of it.
        self.fake.script([{"path": h.CHAT_PATH, "close_after_response": True}])
        before = self.proxy_stats()
        rounds = 4
        conn = h.InterceptedConnection(self.proxy, ssl.create_default_context(cafile=self.proxy.ca_path))
        try:
            for i in range(rounds):
                status, body = conn.chat()
                self.assertEqual(status, 200, "request %d: %r\n%s" % (i, body[:300], self.proxy.diagnostics()))
                self.assertEqual(json.loads(body)["object"], "chat.completion")
        finally:
            conn.close()
        recs = self.fake.requests(h.CHAT_PATH)
        # Each request reached the fake once, each on a connection of its own; the ones sent on a
        # closed connection never reached it.
        self.assertEqual(len(recs), rounds, [(r["id"], r["connection_id"], r["status"]) for r in recs])
        self.assertEqual(len({r["connection_id"] for r in recs}), rounds,
                         "a connection the fake closed answered again: %s" % [r["connection_id"] for r in recs])
        def closed_by_rule():
            closed = [c for c in self.fake.stats()["closed"] if c["reason"] == "closed after response by rule"]
            return closed if len(closed) >= rounds else None
        closed = h.wait_until(closed_by_rule, 10, message="the fake to record the %d connections it closed" % rounds)
        self.assertEqual(sorted((c["connection_id"], c["requests"]) for c in closed),
                         sorted((r["connection_id"], 1) for r in recs))
        self.assertEqual(self.fake.stats()["connections_accepted"], rounds)
        # Each connection the fake closed was met once: either the pool saw the close while the
        # connection idled (stale_discarded; the last one's at the latest once it is closed) or,
        # when the next request came first, that was sent on it, failed before any answer and
        # went out again (stale_retried).
        def stale_total():
            now = self.proxy_stats()
            return (now["upstream_stale_retried"] - before["upstream_stale_retried"]
                    + now["upstream_stale_discarded"] - before["upstream_stale_discarded"])
        h.wait_until(lambda: stale_total() >= rounds, 10, message="the pool to see the last close")
        self.assertEqual(stale_total(), rounds, self.proxy_stats())
        self.assertNotIn(" warn ", self.proxy.log_text())


class UpstreamClosesIdleConnections(PoolTestCase):
    # The fake closes a keep-alive connection after 0.3 s without a request.
    FAKE_OPTIONS = {"idle_timeout": 0.3}

    def request(self):
        res = h.curl(h.via_proxy(self.proxy, *h.chat_args(), API), timeout=30, metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200),
                         "%s\n%s" % (res.stderr, self.proxy.diagnostics()))

    def wait_upstream_closed(self):
        h.wait_until(lambda: self.fake.stats()["connections_open"] == 0, 10,
                     message="the fake to close its idle connection")

    def test_connection_closed_while_idle_is_dropped_before_use(self):
        before = self.proxy_stats()
        self.request()
        self.wait_upstream_closed()
        # The pool watches its idle connections: the close is seen when it happens.
        h.wait_until(lambda: self.proxy_stats()["upstream_stale_discarded"] > before["upstream_stale_discarded"], 10,
                     message="the pool to drop the connection the fake closed")
        self.request()
        after = self.proxy_stats()
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 2)
        # Dropped before use: nothing was sent on it.
        self.assertEqual(after["upstream_stale_discarded"] - before["upstream_stale_discarded"], 1, after)
        self.assertEqual(after["upstream_stale_retried"], before["upstream_stale_retried"], after)
        self.assertNotIn(" warn ", self.proxy.log_text())

class UpstreamSendsAnUnrequestedResponse(PoolTestCase):
    def test_a_pooled_connection_that_speaks_unasked_is_never_reused(self):
        # The fake answers, then 200 ms later writes a second response nobody asked for. Reused,
        # that connection would hand it to the next request as its answer, and every later
        # answer would be one behind. The pool drops a connection that signals anything while idle.
        self.fake.script([{"path": h.CHAT_PATH, "unsolicited_after_ms": 200, "times": 1}])
        before = self.proxy_stats()
        ctx = ssl.create_default_context(cafile=self.proxy.ca_path)
        first = h.InterceptedConnection(self.proxy, ctx)
        try:
            status, body = first.chat()
            self.assertEqual(status, 200, body[:300])
        finally:
            first.close()
        h.wait_until(lambda: "unsolicited_sent_at_monotonic" in self.fake.requests(h.CHAT_PATH)[0], 10,
                     message="the fake to send its unrequested response")
        second = h.InterceptedConnection(self.proxy, ctx)
        try:
            for i in range(3):
                status, body = second.chat()
                self.assertEqual(status, 200, body[:300])
                self.assertEqual(json.loads(body).get("object"), "chat.completion",
                                 "request %d got another's answer: %r" % (i, body[:300]))
        finally:
            second.close()
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 4)
        self.assertNotEqual(recs[1]["connection_id"], recs[0]["connection_id"])
        after = self.proxy_stats()
        self.assertEqual(after["upstream_stale_discarded"] - before["upstream_stale_discarded"], 1,
                         "%s\n%s" % (after, self.proxy.diagnostics()))


if __name__ == "__main__":
    unittest.main()
