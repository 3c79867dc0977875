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
    """Sends each message in turn and collects what comes back after each (bounded)."""
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        for m in messages:
            s.sendall(m)
            try:
                answers.append(s.recv(1024))
            except (ConnectionResetError, socket.timeout):
                answers.append(b"")
    return answers


def pool_key_seen(fake):
    return [r["headers"].get("Authorization") for r in fake.requests("/api/v1/chat/completions")]


class SocksTest(harness.ProxyTestCase):
    OVERRIDES = {"proxy.tunnel": "localhost,127.0.0.1"}

    def test_curl_socks5_hostname_is_intercepted(self):
        res = curl(["--socks5-hostname", "127.0.0.1:%d" % self.proxy.port, "--cacert", self.proxy.ca_path,
                    *chat_args(), CHAT_URL], metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr + self.proxy.diagnostics())
        self.assertEqual(pool_key_seen(self.fake), ["Bearer " + POOL_KEY_A])
        # The access line is written after the response went out and flushed on the worker's next
        # turn: curl can be done before that.
        harness.wait_until(lambda: "mode=socks" in self.proxy.log_text(), 5, message="access line with mode=socks")

    def test_curl_socks5_to_tunnelled_host(self):
        # curl resolves localhost itself (socks5, not socks5h): an IPv4 target, tunnelled untouched.
        res = curl(["--socks5", "127.0.0.1:%d" % self.proxy.port, "--cacert", self.fake.pki.ca_cert,
                    "https://localhost:%d/api/v1/key" % self.fake.port, "-H", "Authorization: Bearer mine"],
                   metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr)
        self.assertEqual([r["headers"].get("Authorization") for r in self.fake.requests("/api/v1/key")],
                         ["Bearer mine"])

    def test_ip_target_with_intercepted_sni_is_intercepted(self):
        # CONNECT to an IP, but the ClientHello names openrouter.ai: the SNI decides.
        res = curl(["-x", self.proxy.url, "--cacert", self.proxy.ca_path, "--connect-to",
                    "openrouter.ai:443:127.0.0.1:443", *chat_args(), CHAT_URL], metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr + self.proxy.diagnostics())
        self.assertEqual(pool_key_seen(self.fake), ["Bearer " + POOL_KEY_A])

    def test_wrong_version_is_closed(self):
        answers = socks_exchange(self.proxy.port, [b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00"])
        # A SOCKS4 greeting starts with 0x04: read as HTTP, refused as malformed, never tunnelled.
        self.assertTrue(answers[0] == b"" or answers[0].startswith(b"HTTP/1.1 400"), answers)

    def test_bind_command_gets_0x07(self):
        answers = socks_exchange(self.proxy.port, [b"\x05\x01\x00", b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50"])
        self.assertEqual(answers[0], b"\x05\x00")
        self.assertEqual(answers[1][:2], b"\x05\x07")

    def test_unknown_address_type_gets_0x08(self):
        answers = socks_exchange(self.proxy.port, [b"\x05\x01\x00", b"\x05\x01\x00\x09\x00\x50"])
        self.assertEqual(answers[1][:2], b"\x05\x08")

    def test_forbidden_host_gets_0x02(self):
        host = b"example.com"
        answers = socks_exchange(self.proxy.port, [b"\x05\x01\x00",
                                                   b"\x05\x01\x00\x03" + bytes([len(host)]) + host + struct.pack(">H", 443)])
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
        url = "http://runner1:wrong@127.0.0.1:%d" % self.proxy.port
        res = curl(["-x", url, "--cacert", self.proxy.ca_path, *chat_args(), CHAT_URL], metrics=True)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("407", res.stderr)
        self.assertNotIn("wrong", self.proxy.log_text())

    def test_socks5_with_password(self):
        res = curl(["--socks5-hostname", "127.0.0.1:%d" % self.proxy.port, "--proxy-user", "runner2:s3cret-two",
                    "--cacert", self.proxy.ca_path, *chat_args(), CHAT_URL], metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr + self.proxy.diagnostics())

    def test_socks5_with_wrong_password(self):
        answers = socks_exchange(self.proxy.port, [b"\x05\x01\x02", b"\x01\x07runner2\x05wrong"])
        self.assertEqual(answers[0], b"\x05\x02")
        self.assertEqual(answers[1], b"\x01\x01")

    def test_socks5_without_auth_is_refused(self):
        answers = socks_exchange(self.proxy.port, [b"\x05\x01\x00"])
        self.assertEqual(answers[0], b"\x05\xff")

    def test_base_url_needs_bearer_secret(self):
        base = "http://127.0.0.1:%d/api/v1/chat/completions" % self.proxy.port
        res = curl([*chat_args(client_key="s3cret-one"), base], metrics=True)
        self.assertEqual(res.status, 200, res.stderr)
        self.assertEqual(pool_key_seen(self.fake), ["Bearer " + POOL_KEY_A])  # the secret never goes upstream
        for wrong in ("nope", "runner1:s3cret-one"):  # name:secret is the proxy URL's form, not the bearer's
            bad = curl([*chat_args(client_key=wrong), base], metrics=True)
            self.assertEqual(bad.status, 401, wrong)
            self.assertIn(b"alone (not name:secret)", bad.stdout)
        self.assertEqual(len(pool_key_seen(self.fake)), 1)

    def test_secrets_never_logged(self):
        curl(["-x", "http://runner1:s3cret-one@127.0.0.1:%d" % self.proxy.port, "--cacert", self.proxy.ca_path,
              *chat_args(), CHAT_URL])
        self.assertNotIn("s3cret", self.proxy.all_output())


class ExposureTest(unittest.TestCase):
    def test_non_loopback_listen_without_clients_refuses_to_start(self):
        proxy = Proxy(None, overrides={"proxy.listen": "0.0.0.0:0"})
        with self.assertRaises(harness.ProxyStartError) as ctx:
            proxy.start()
        proxy.cleanup()
        self.assertEqual(proxy.returncode, 2)
        self.assertIn("proxy.clients", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
