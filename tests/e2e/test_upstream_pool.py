#!/usr/bin/python3
"""The upstream keep-alive pool when the upstream closes idle connections: a pooled connection
the server has closed is replaced without the client ever seeing it, whether the proxy notices
before sending (a connection idle for over a second is checked) or only after (a connection back
in the pool for under a second is reused as is, and a failure before any response byte is
retried on a fresh connection)."""

import json
import os
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API = "https://openrouter.ai/api/v1/chat/completions"


class UpstreamClosesAfterEachAnswer(h.ProxyTestCase):
    # One worker: one upstream pool, which every request of the test goes through.
    OVERRIDES = {"proxy.workers": 1}

    def proxy_stats(self):
        status, body = self.proxy.admin_get("/stats")
        self.assertEqual(status, 200)
        return json.loads(body)

    def test_connection_closed_moments_ago_is_retried_invisibly(self):
        # The fake answers in full, keep-alive by the look of it, and closes the connection at
        # once: the proxy pools it and, back in the pool for well under a second, reuses it
        # without a check (src/upstream/connection_pool.cpp, kPeekAfter). The client's next
        # request on its own keep-alive connection follows within milliseconds, so each one
        # after the first is sent on the connection the fake closed, fails before any answer
        # byte, and goes out again on a fresh one. Nothing here depends on how long anything
        # takes, short of the client needing a second to send its next request.
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
        after = self.proxy_stats()
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
        # Every request after the first was sent on the dead pooled connection and retried: the
        # pool did not spot the close beforehand (that would count as stale_discarded).
        retried = after["upstream_stale_retried"] - before["upstream_stale_retried"]
        discarded = after["upstream_stale_discarded"] - before["upstream_stale_discarded"]
        self.assertEqual((retried, discarded), (rounds - 1, 0),
                         "stale retried / discarded; discarded means the pool peeked, i.e. more than a "
                         "second passed between two requests\n%s" % after)
        self.assertNotIn(" warn ", self.proxy.log_text())


class UpstreamClosesIdleConnections(h.ProxyTestCase):
    # The fake closes a keep-alive connection after 0.3 s without a request.
    FAKE_OPTIONS = {"idle_timeout": 0.3}
    OVERRIDES = {"proxy.workers": 1}

    def request(self):
        res = h.curl(h.via_proxy(self.proxy, *h.chat_args(), API), timeout=30, metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200),
                         "%s\n%s" % (res.stderr, self.proxy.diagnostics()))

    def proxy_stats(self):
        status, body = self.proxy.admin_get("/stats")
        self.assertEqual(status, 200)
        return json.loads(body)

    def wait_upstream_closed(self):
        h.wait_until(lambda: self.fake.stats()["connections_open"] == 0, 10,
                     message="the fake to close its idle connection")

    def test_connection_idle_over_a_second_is_checked_before_use(self):
        self.request()
        self.wait_upstream_closed()
        before = self.proxy_stats()
        time.sleep(1.1)  # past the pool's one-second reuse window (a window, not a wait for a condition)
        self.request()
        after = self.proxy_stats()
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 2)
        # Found closed before use (a peek at the socket): nothing was sent on it.
        self.assertEqual(after["upstream_stale_discarded"] - before["upstream_stale_discarded"], 1, after)
        self.assertEqual(after["upstream_stale_retried"], before["upstream_stale_retried"], after)
        self.assertNotIn(" warn ", self.proxy.log_text())

if __name__ == "__main__":
    unittest.main()
