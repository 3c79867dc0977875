#!/usr/bin/python3
"""Hosts not in intercept_hosts are tunnelled blindly: the client sees the host's own
certificate and its own Authorization, and the proxy never sees inside."""

import os
import socket
import sys
import threading
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

    def test_server_first_protocol_to_an_ip_is_tunnelled_at_once(self):
        # SMTP, FTP, databases: the server speaks first. CONNECT to an IP address on a port other
        # than 443 is tunnelled at once; it used to wait for a TLS ClientHello (for its name) until
        # proxy.header_timeout (30 s here) before the greeting could pass.
        server = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(server.close)
        port = server.getsockname()[1]

        def serve():
            server.settimeout(20)
            try:
                conn, _ = server.accept()
                with conn:
                    conn.settimeout(20)
                    conn.sendall(b"220 server-first ready\r\n")
                    conn.sendall(b"250 " + conn.recv(100))
            except OSError:
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 25)
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10) as s:
            s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (port, port))
            got = b""
            while b"220 server-first ready\r\n" not in got:  # bounded: each recv waits 10 s at most
                chunk = s.recv(4096)
                self.assertTrue(chunk, "the proxy closed the tunnel: %r" % got)
                got += chunk
            self.assertTrue(got.startswith(b"HTTP/1.1 200"), got)
            s.sendall(b"HELO client\r\n")
            got = b""
            while b"\r\n" not in got:
                chunk = s.recv(4096)
                self.assertTrue(chunk, "the proxy closed the tunnel")
                got += chunk
            self.assertEqual(got, b"250 HELO client\r\n")

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
