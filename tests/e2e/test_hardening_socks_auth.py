"""SOCKS5 on the proxy port, proxy authentication (Basic, RFC 1929, bearer), and their refusals."""
import os
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402
from harness import POOL_KEY_A, FakeOpenRouter, Proxy, chat_args, curl  # noqa: E402

CHAT_URL = "https://openrouter.ai/api/v1/chat/completions"


def socks_exchange(port, messages, timeout=5.0):
    """Sends each (message, answer size) in turn and collects each answer: that many bytes, or
    what came before the proxy closed (or `timeout` passed; b"" when nothing came)."""
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        for message, size in messages:
            try:
                s.sendall(message)
            except (BrokenPipeError, ConnectionResetError):
                answers.append(b"")
                continue
            answers.append(harness.recv_until(s, size=size, timeout=timeout))
    return answers


def pool_key_seen(fake):
    """The pool keys the fake saw, by label ("pool-a"); anything else by its last four characters."""
    return [{"Bearer " + POOL_KEY_A: "pool-a"}.get(value) or harness.redact(value)
            for value in (r["headers"].get("Authorization") for r in fake.requests("/api/v1/chat/completions"))]


class SocksTest(harness.ProxyTestCase):
    OVERRIDES = {"proxy.tunnel": "localhost,127.0.0.1"}

    def test_curl_socks5_hostname_is_intercepted(self):
        res = curl(["--socks5-hostname", "127.0.0.1:%d" % self.proxy.port, "--cacert", self.proxy.ca_path,
                    *chat_args(), CHAT_URL], metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr + self.proxy.diagnostics())
        self.assertEqual(pool_key_seen(self.fake), ["pool-a"])
        # The access line is written after the response went out and flushed on the worker's next
        # turn: curl can be done before that.
        harness.wait_until(lambda: "mode=socks" in self.proxy.log_text(), 5, message="access line with mode=socks")

    def test_plain_http_to_the_intercepted_host_is_told_to_use_https(self):
        # The tunnel to openrouter.ai expects TLS; plain HTTP used to get an empty reply.
        res = curl(["--socks5-hostname", "127.0.0.1:%d" % self.proxy.port, *chat_args(),
                    "http://openrouter.ai/api/v1/chat/completions"], metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 400), res.stderr + self.proxy.diagnostics())
        self.assertIn(b"use an https:// URL", res.stdout)
        self.assertEqual(pool_key_seen(self.fake), [], "the request went upstream")

    def test_plain_http_with_any_method_is_told_to_use_https(self):
        # OpenSSL itself recognises only GET, POST, HEAD and PUT; the others used to be closed
        # without a word.
        for method in ("DELETE", "OPTIONS", "PATCH", "GET"):
            with self.subTest(method=method):
                res = curl(["--socks5-hostname", "127.0.0.1:%d" % self.proxy.port, "-X", method,
                            "http://openrouter.ai/api/v1/models"], metrics=True)
                self.assertEqual((res.returncode, res.status), (0, 400), res.stderr + self.proxy.diagnostics())
                self.assertIn(b"use an https:// URL", res.stdout)
        self.assertEqual(self.fake.requests(), [], "a request went upstream")

    def test_curl_socks5_to_tunnelled_host(self):
        # curl resolves localhost itself (socks5, not socks5h): an IPv4 target, tunnelled untouched.
        res = curl(["--socks5", "127.0.0.1:%d" % self.proxy.port, "--cacert", self.fake.pki.ca_cert,
                    "https://localhost:%d/api/v1/key" % self.fake.port, "-H", "Authorization: Bearer mine"],
                   metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr)
        self.assertEqual(harness.redact([r["headers"].get("Authorization") for r in self.fake.requests("/api/v1/key")]),
                         ["Bearer mine"])

    def test_ip_target_with_intercepted_sni_is_intercepted(self):
        # CONNECT to an IP, but the ClientHello names openrouter.ai: the SNI decides.
        res = curl(["-x", self.proxy.url, "--cacert", self.proxy.ca_path, "--connect-to",
                    "openrouter.ai:443:127.0.0.1:443", *chat_args(), CHAT_URL], metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr + self.proxy.diagnostics())
        self.assertEqual(pool_key_seen(self.fake), ["pool-a"])

    def test_wrong_version_is_closed(self):
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=5) as s:
            s.sendall(b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00")
            answer = harness.recv_until(s, stop=b"\r\n\r\n", timeout=5)
        # A SOCKS4 greeting starts with 0x04: read as HTTP, refused as malformed, never tunnelled.
        self.assertTrue(answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer)

    def test_bind_command_gets_0x07(self):
        answers = socks_exchange(self.proxy.port, [(b"\x05\x01\x00", 2),
                                                   (b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50", 2)])
        self.assertEqual(answers[0], b"\x05\x00")
        self.assertEqual(answers[1][:2], b"\x05\x07")

    def test_unknown_address_type_gets_0x08(self):
        answers = socks_exchange(self.proxy.port, [(b"\x05\x01\x00", 2), (b"\x05\x01\x00\x09\x00\x50", 2)])
        self.assertEqual(answers[1][:2], b"\x05\x08")

    def test_forbidden_host_gets_0x02(self):
        host = b"example.com"
        answers = socks_exchange(self.proxy.port, [(b"\x05\x01\x00", 2),
                                                   (b"\x05\x01\x00\x03" + bytes([len(host)]) + host + struct.pack(">H", 443), 2)])
        self.assertEqual(answers[1][:2], b"\x05\x02")


class AuthTest(harness.ProxyTestCase):
    OVERRIDES = {"proxy.clients": "runner1:s3cret-one,runner2:s3cret-two"}

    def test_connect_needs_credentials(self):
        res = curl(["-x", self.proxy.url, "--cacert", self.proxy.ca_path, *chat_args(), CHAT_URL], metrics=True)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("407", res.stderr)
        self.assertEqual(pool_key_seen(self.fake), [])

    def test_connect_with_basic_credentials(self):
        url = "http://runner1:s3cret-one@127.0.0.1:%d" % self.proxy.port
        res = curl(["-x", url, "--cacert", self.proxy.ca_path, *chat_args(), CHAT_URL], metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr)
        harness.wait_until(lambda: "client_name=runner1" in self.proxy.log_text(), 5, message="client name logged")

    def test_connect_with_wrong_password(self):
        logged = self.proxy.log_text().count("CONNECT without valid proxy credentials")
        url = "http://runner1:wrong-pass-7d1e@127.0.0.1:%d" % self.proxy.port
        res = curl(["-x", url, "--cacert", self.proxy.ca_path, *chat_args(), CHAT_URL], metrics=True)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("407", res.stderr)
        # The refusal is logged (and flushed) before the 407 goes out: this is that line.
        harness.wait_until(lambda: self.proxy.log_text().count("CONNECT without valid proxy credentials") > logged,
                           10, message="the refusal's log line")
        harness.assert_no_key_in(self, self.proxy.all_output(), ("wrong-pass-7d1e",), "the proxy's output")

    def test_socks5_with_password(self):
        res = curl(["--socks5-hostname", "127.0.0.1:%d" % self.proxy.port, "--proxy-user", "runner2:s3cret-two",
                    "--cacert", self.proxy.ca_path, *chat_args(), CHAT_URL], metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr + self.proxy.diagnostics())

    def test_socks5_with_wrong_password(self):
        answers = socks_exchange(self.proxy.port, [(b"\x05\x01\x02", 2), (b"\x01\x07runner2\x05wrong", 2)])
        self.assertEqual(answers[0], b"\x05\x02")
        self.assertEqual(answers[1], b"\x01\x01")

    def test_socks5_without_auth_is_refused(self):
        answers = socks_exchange(self.proxy.port, [(b"\x05\x01\x00", 2)])
        self.assertEqual(answers[0], b"\x05\xff")

    def test_base_url_needs_bearer_secret(self):
        base = "http://127.0.0.1:%d/api/v1/chat/completions" % self.proxy.port
        res = curl([*chat_args(client_key="s3cret-one"), base], metrics=True)
        self.assertEqual(res.status, 200, res.stderr)
        self.assertEqual(pool_key_seen(self.fake), ["pool-a"])  # the secret never goes upstream
        for wrong in ("nope", "runner1:s3cret-one"):  # name:secret is the proxy URL's form, not the bearer's
            bad = curl([*chat_args(client_key=wrong), base], metrics=True)
            self.assertEqual(bad.status, 401, wrong)
            self.assertIn(b"alone (not name:secret)", bad.stdout)
        self.assertEqual(len(pool_key_seen(self.fake)), 1)

    def test_secrets_never_logged(self):
        model = "orp-test/secrets-%s" % os.urandom(4).hex()
        res = curl(["-x", "http://runner1:s3cret-one@127.0.0.1:%d" % self.proxy.port, "--cacert", self.proxy.ca_path,
                    *chat_args(harness.chat_body(model=model)), CHAT_URL], metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr + self.proxy.diagnostics())
        # Its access line (with the client's name) is flushed after the answer: wait for it.
        harness.wait_for_access_line(self.proxy, "client_name=runner1", "model=" + model)
        harness.assert_no_key_in(self, self.proxy.all_output(), ("s3cret-one", "s3cret-two"), "the proxy's output")


class ExposureTest(unittest.TestCase):
    def test_non_loopback_listen_without_clients_refuses_to_start(self):
        # The port is held on 127.0.0.1, so a proxy that wrongly took the setting could not listen
        # on every interface with it (it would fail to bind, and this test with it); the upstream
        # is a closed loopback port (the harness's default without a fake).
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            held.listen()
            port = held.getsockname()[1]
            proxy = Proxy(None, overrides={"proxy.listen": "0.0.0.0:%d" % port,
                                           "upstream.resolve": "openrouter.ai:443=127.0.0.1:1"})
            self.addCleanup(proxy.cleanup)
            with self.assertRaises(harness.ProxyStartError) as ctx:
                proxy.start()
        self.assertEqual(proxy.returncode, 2)
        self.assertIn("proxy.listen = 0.0.0.0:%d is reachable from other machines but proxy.clients is empty" % port,
                      str(ctx.exception))

    def test_a_listen_address_that_is_no_address_says_so(self):
        # Not "reachable from other machines": no machine has that address.
        for setting, value, said in (("proxy.listen", "256.1.1.1:0", "'256.1.1.1' is not a valid IP address"),
                                     ("proxy.listen", "nosuchhost.invalid:0", "cannot resolve 'nosuchhost.invalid'"),
                                     ("admin.listen", "256.1.1.1:0", "'256.1.1.1' is not a valid IP address")):
            with self.subTest(setting=setting, value=value):
                proxy = Proxy(None, overrides={setting: value})
                self.addCleanup(proxy.cleanup)
                with self.assertRaises(harness.ProxyStartError) as ctx:
                    proxy.start()
                self.assertEqual(proxy.returncode, 2)
                self.assertIn("%s = %s: %s" % (setting, value, said), str(ctx.exception))
                self.assertNotIn("reachable from other machines", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
