#!/usr/bin/python3
"""The upstream keep-alive pool when the upstream closes idle connections: a pooled connection
the server has closed is replaced without the client ever seeing it, whether the proxy notices
before sending (a connection idle for over a second is checked) or only after (a connection back
in the pool for under a second is reused as is, and a failure before any response byte is
retried on a fresh connection)."""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API = "https://openrouter.ai/api/v1/chat/completions"


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

    def test_connection_closed_moments_ago_is_retried_invisibly(self):
        before = self.proxy_stats()
        for _ in range(3):
            self.request()
            returned = time.monotonic()
            self.wait_upstream_closed()
            if time.monotonic() - returned >= 0.9:
                self.skipTest("machine too slow to reuse the connection within its first second")
            # Back in the pool well under a second ago and closed by the server since: the proxy
            # sends on it, finds it closed before any answer, and sends again on a fresh one.
            self.request()
            self.wait_upstream_closed()
        after = self.proxy_stats()
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 6)
        # At least the three second requests (the others may meet a closed one as well).
        self.assertGreaterEqual(after["upstream_stale_retried"] - before["upstream_stale_retried"], 3, after)
        self.assertEqual(after["upstream_stale_discarded"], before["upstream_stale_discarded"], after)

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
