#!/usr/bin/python3
"""TLS session resumption on the client leg (issue 7: a reconnecting client should not pay for a
full handshake). Real clients go through CONNECT, keep the session the proxy gave them, and offer
it on their next connection: curl, whose OpenSSL session cache uses a TLS 1.3 ticket only once
(so the proxy must hand out a new ticket on every connection, resumed ones included), and Python's
ssl module, which says per connection whether its session was resumed. The proxy's own count of
full and resumed handshakes (/stats, /metrics) must agree with what the clients saw."""

import json
import os
import re
import ssl
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

HOST = "openrouter.ai"
KEYS = ((h.POOL_KEY_A, "pool-a"),)
API = "https://openrouter.ai" + h.CHAT_PATH


Connection = h.InterceptedConnection


class ResumptionTest(h.FreshProxyTestCase):
    def handshakes(self, proxy):
        """(full, resumed) as the proxy counted them, from /stats; /metrics must say the same."""
        status, body = proxy.admin_get("/stats")
        self.assertEqual(status, 200, body)
        stats = json.loads(body)
        counted = (stats["tls_full_handshakes"], stats["tls_resumed_handshakes"])
        status, body = proxy.admin_get("/metrics")
        metrics = dict(re.findall(r'^orp_client_tls_handshakes_total\{session="(\w+)"\} (\d+)$', body.decode(), re.M))
        self.assertEqual((int(metrics["full"]), int(metrics["resumed"])), counted, body.decode())
        return counted

    def curl_reconnecting(self, proxy, count, *extra):
        """One curl run, `count` requests, each on a new connection (Connection: close)."""
        args = []
        for i in range(count):
            if i:
                args.append("--next")
            args += h.via_proxy(proxy, "-sS", "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n",
                                "-H", "Connection: close", *extra, *h.chat_args(), API)
        res = h.curl(args, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.decode().split(), ["200", "1"] * count, proxy.diagnostics())

    def context(self, proxy, tls12=False):
        ctx = ssl.create_default_context(cafile=proxy.ca_path)
        if tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def connect_and_chat(self, proxy, ctx, session=None):
        conn = Connection(proxy, ctx, session)
        try:
            status, body = conn.chat()
            self.assertEqual(status, 200, body[:300])
            self.assertEqual(json.loads(body)["choices"][0]["message"]["role"], "assistant")
            return conn.reused, conn.session, conn.tls.version()
        finally:
            conn.close()

    def chain(self, proxy, ctx, count):
        """`count` connections in a row, each offering the session of the one before."""
        results, session = [], None
        for _ in range(count):
            reused, session, version = self.connect_and_chat(proxy, ctx, session)
            results.append((reused, version))
        return results

    def assertResumedAfterFirst(self, results, version):
        self.assertEqual([v for _, v in results], [version] * len(results))
        self.assertEqual([r for r, _ in results], [False] + [True] * (len(results) - 1),
                         "each connection after the first should resume the previous session")

    # -------------------------------------------------------------------------------------------
    def test_curl_resumes_every_reconnection(self):
        # curl keeps one session per host and its OpenSSL cache spends a TLS 1.3 ticket on use:
        # every connection after the first resumes only if each one brought a new ticket.
        proxy = self.start_proxy(KEYS, overrides={"proxy.workers": 1})
        self.curl_reconnecting(proxy, 6)
        self.assertEqual(self.handshakes(proxy), (1, 5))
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 6)

    def test_curl_resumes_across_workers_and_over_tls12(self):
        proxy = self.start_proxy(KEYS, overrides={"proxy.workers": 2})
        self.curl_reconnecting(proxy, 4)
        self.assertEqual(self.handshakes(proxy), (1, 3))
        self.curl_reconnecting(proxy, 4, "--tls-max", "1.2")
        self.assertEqual(self.handshakes(proxy), (2, 6))

    def test_tls13_client_resumes_every_reconnection(self):
        proxy = self.start_proxy(KEYS, overrides={"proxy.workers": 1})
        self.assertResumedAfterFirst(self.chain(proxy, self.context(proxy), 6), "TLSv1.3")
        self.assertEqual(self.handshakes(proxy), (1, 5))
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 6)

    def test_tls12_client_resumes_too(self):
        proxy = self.start_proxy(KEYS, overrides={"proxy.workers": 1})
        self.assertResumedAfterFirst(self.chain(proxy, self.context(proxy, tls12=True), 4), "TLSv1.2")

    def test_session_from_one_worker_resumes_on_another(self):
        # Accepted connections go to the workers in turn: consecutive connections land on
        # different threads, which must share what a session needs.
        proxy = self.start_proxy(KEYS, overrides={"proxy.workers": 2})
        self.assertResumedAfterFirst(self.chain(proxy, self.context(proxy), 5), "TLSv1.3")
        self.assertResumedAfterFirst(self.chain(proxy, self.context(proxy, tls12=True), 5), "TLSv1.2")
        self.assertEqual(self.handshakes(proxy), (2, 8))

    def test_session_from_before_a_restart_falls_back_to_a_full_handshake(self):
        proxy = self.start_proxy(KEYS, overrides={"proxy.workers": 1})
        ctx = self.context(proxy)
        _, session, _ = self.connect_and_chat(proxy, ctx)
        proxy.restart()
        # The new process cannot read the old ticket: a full handshake, and the request is served.
        reused, session, _ = self.connect_and_chat(proxy, ctx, session)
        self.assertFalse(reused)
        reused, _, _ = self.connect_and_chat(proxy, ctx, session)
        self.assertTrue(reused, "the session issued after the restart should resume")
        self.assertEqual(self.handshakes(proxy), (1, 1))  # counted since the restart

    def test_session_for_another_proxy_is_not_accepted(self):
        # Two proxies with CAs of their own: a session from one is no use on the other (and the
        # client's certificate check still runs on the full handshake that follows).
        first = self.start_proxy(KEYS, overrides={"proxy.workers": 1})
        second = self.start_proxy(KEYS, overrides={"proxy.workers": 1})
        ctx = self.context(first)
        ctx.load_verify_locations(cafile=second.ca_path)  # one client context: Python ties a session to it
        _, session, _ = self.connect_and_chat(first, ctx)
        reused, _, _ = self.connect_and_chat(second, ctx, session)
        self.assertFalse(reused)
        reused, _, _ = self.connect_and_chat(first, ctx, session)
        self.assertTrue(reused, "the session still resumes on the proxy that issued it")


if __name__ == "__main__":
    unittest.main(verbosity=2)
