"""Plain-HTTP proxy requests (HTTP_PROXY) for hosts the proxy does not intercept."""
import http.server
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402
from harness import POOL_KEY_A, FakeOpenRouter, Proxy, chat_args, curl  # noqa: E402


class Origin(http.server.ThreadingHTTPServer):
    daemon_threads = True


class Handler(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Handler.seen.append((self.command, self.path, dict(self.headers)))
        body = b"plain hello\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Handler.seen.append((self.command, self.path, dict(self.headers)))
        self.send_response(201)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class PlainHttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Class cleanups run even when setUpClass fails half-way (tearDownClass would not), last
        # registered first.
        cls.origin = Origin(("127.0.0.1", 0), Handler)
        cls.addClassCleanup(cls.origin.server_close)
        cls.thread = threading.Thread(target=cls.origin.serve_forever, daemon=True)
        cls.thread.start()
        cls.addClassCleanup(cls.origin.shutdown)
        cls.url = "http://127.0.0.1:%d" % cls.origin.server_address[1]
        cls.proxy = Proxy(None, overrides={"proxy.tunnel": "127.0.0.1"})
        cls.addClassCleanup(cls.proxy.cleanup)
        cls.proxy.start()

    def setUp(self):
        Handler.seen.clear()

    def test_get_is_passed_on_untouched(self):
        res = curl(["-x", self.proxy.url, "-H", "X-Mine: 1", self.url + "/file?q=1"], metrics=True)
        self.assertEqual((res.returncode, res.status, res.stdout), (0, 200, b"plain hello\n"), res.stderr)
        method, path, headers = Handler.seen[0]
        self.assertEqual((method, path), ("GET", "/file?q=1"))
        self.assertEqual(headers.get("X-Mine"), "1")
        self.assertNotIn("Proxy-Connection", headers)

    def test_post_body_arrives(self):
        res = curl(["-x", self.proxy.url, "--data-binary", "payload-123", self.url + "/echo"], metrics=True)
        self.assertEqual((res.status, res.stdout), (201, b"payload-123"), res.stderr)

    def test_forbidden_host_gets_403(self):
        res = curl(["-x", self.proxy.url, "http://localhost:%d/file" % self.origin.server_address[1]], metrics=True)
        self.assertEqual(res.status, 403)
        self.assertEqual(Handler.seen, [])


class InterceptedPlainHttpTest(unittest.TestCase):
    """http://openrouter.ai/... through HTTP_PROXY: intercepted like base-URL mode, logged as its own mode."""

    def test_absolute_form_to_an_intercepted_host_is_mode_http_proxy(self):
        with FakeOpenRouter() as fake, Proxy(fake) as proxy:
            res = curl(["-x", proxy.url, *chat_args(), "http://openrouter.ai/api/v1/chat/completions"], metrics=True)
            self.assertEqual(res.status, 200, res.stderr)
            self.assertEqual([r["key"] for r in fake.requests("/api/v1/chat/completions")], [POOL_KEY_A])
            res = curl([*chat_args(), proxy.url + "/api/v1/chat/completions"], metrics=True)  # base-URL mode
            self.assertEqual(res.status, 200, res.stderr)
            harness.wait_for_access_lines(proxy, 2)  # the last one is flushed just after its answer
            modes = [l.split(" mode=")[1].split()[0] for l in proxy.log_text().splitlines() if " access " in l]
            self.assertEqual(modes, ["http_proxy", "base_url"], proxy.log_text())
            metrics = proxy.admin_get("/metrics")[1].decode()
            self.assertIn('orp_requests_total{mode="http_proxy",status="200"} 1', metrics)
            self.assertIn('orp_requests_total{mode="base_url",status="200"} 1', metrics)


if __name__ == "__main__":
    unittest.main()
