#!/usr/bin/python3
"""Hosts not in intercept_hosts are tunnelled blindly: the client sees the host's own
certificate and its own Authorization, and the proxy never sees inside."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

CHAT_URL = "https://openrouter.ai" + h.CHAT_PATH


class TunnelTest(h.TunnelTargetMixin, h.ProxyTestCase):
    KEYS = ((h.POOL_KEY_A, "pool-a"),)
    # One worker: the log lines of one request come before those of a later one (see below).
    OVERRIDES = {"proxy.workers": 1}

    def target_url(self, host="localhost", path="/api/v1/key"):
        return "https://%s:%d%s" % (host, self.target.port, path)

    def test_tunnelled_host_keeps_its_own_certificate(self):
        res = h.curl(["-v", "-x", self.proxy.url, "--cacert", self.pki.ca_cert,
                      "-H", "Authorization: Bearer " + h.CLIENT_KEY, "-D", "-",
                      self.target_url()], metrics=True)
        self.assertEqual(res.returncode, 0, res.stderr + "\n" + self.proxy.diagnostics())
        self.assertEqual(res.status, 200)
        self.assertRegex(res.stderr, r"subject: CN ?= ?tunnel-target\.test")
        self.assertIn(b'"data"', res.stdout)
        # Only intercepted responses carry X-Proxy-Key.
        self.assertNotIn(b"x-proxy-key", res.stdout.lower())
        # The target saw the client's own key: nothing was swapped.
        recs = self.target.requests()
        self.assertEqual(len(recs), 1)
        h.assert_equal_redacted(self, h.header(recs[0], "Authorization"), "Bearer " + h.CLIENT_KEY)
        self.assertEqual(recs[0]["path"], "/api/v1/key")
        # The fake OpenRouter behind the intercepted host saw nothing.
        self.assertEqual(len(self.fake.requests()), 0, h.redact(self.fake.requests()))
        # A blind tunnel cannot know the path; an access line with it would mean interception.
        # An access line is flushed after its answer: a later request's line, once in the log,
        # comes after any line the tunnelled request could have had.
        model = "orp-test/after-the-tunnel-%s" % os.urandom(4).hex()
        later = h.curl(h.via_proxy(self.proxy, *h.chat_args(h.chat_body(model=model)), CHAT_URL), metrics=True)
        self.assertEqual((later.returncode, later.status), (0, 200), later.stderr)
        h.wait_for_access_line(self.proxy, "model=" + model)
        self.assertNotIn("/api/v1/key", self.proxy.log_text())

    def test_tunnel_carries_a_large_exchange_both_ways(self):
        body = os.urandom(3 * 1024 * 1024).hex()
        path = os.path.join(self.proxy.dir, "tunnel-body.txt")
        with open(path, "w") as f:
            f.write(body)
        try:
            res = h.curl(["-x", self.proxy.url, "--cacert", self.pki.ca_cert,
                          "-H", "Authorization: Bearer " + h.CLIENT_KEY,
                          "-H", "Content-Type: application/json", "--data-binary", "@" + path,
                          self.target_url(path=h.CHAT_PATH)], metrics=True, timeout=60)
        finally:
            os.unlink(path)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.status, 400)  # the fake refuses a body that is not JSON, end to end
        recs = self.target.requests()
        self.assertEqual(recs[0]["body_len"], len(body))
        h.assert_equal_redacted(self, recs[0]["key"], h.CLIENT_KEY)

    def test_tunnel_keeps_client_connection_alive(self):
        res = h.curl(["-x", self.proxy.url, "--cacert", self.pki.ca_cert,
                      "-H", "Authorization: Bearer " + h.CLIENT_KEY,
                      *([self.target_url()] * 5)], metrics=True)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual([m.get("http_code") for m in res.all_metrics], [200] * 5)
        # One tunnel, one TLS session end to end: the target accepted a single connection.
        self.assertEqual(self.target.stats()["connections_accepted"], 1)


if __name__ == "__main__":
    unittest.main()
