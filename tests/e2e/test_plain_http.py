"""Plain-HTTP proxy requests (HTTP_PROXY) for hosts the proxy does not intercept."""
import http.server
import os
import socket
import sys
import threading
import time
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


class KeepOpenOrigin:
    """A raw origin that answers each connection's first request (a 100 Continue first when it is
    asked for one) and then keeps the connection open, whatever `Connection: close` said."""

    def __init__(self):
        self.requests = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.open.append(conn)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        data = b""
        try:
            conn.settimeout(10)
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.requests.append(data)
            if b"expect: 100-continue" in data.lower():
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        except OSError:
            pass

    def close(self):
        self.listener.close()
        for c in self.open:
            c.close()


class PlainHttpFramingTest(unittest.TestCase):
    """One request per client connection for plain HTTP to other hosts: the answer ends where its
    framing says, with `Connection: close`, however long the origin keeps its connection."""

    @classmethod
    def setUpClass(cls):
        cls.origin = KeepOpenOrigin()
        cls.addClassCleanup(cls.origin.close)
        cls.proxy = Proxy(None, overrides={"proxy.tunnel": "127.0.0.1"})
        cls.addClassCleanup(cls.proxy.cleanup)
        cls.proxy.start()

    def setUp(self):
        self.origin.requests.clear()
        self.target = b"http://127.0.0.1:%d" % self.origin.port

    def exchange(self, first, then=b""):
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10) as s:
            s.sendall(first)
            if then:
                answer = harness.recv_until(s, stop=b"\r\n\r\n", timeout=5)
                s.sendall(then)
            else:
                answer = b""
            started = time.monotonic()
            answer += harness.recv_until(s, timeout=5)  # until the proxy closes
            return answer, time.monotonic() - started

    def test_answer_ends_at_its_length_though_the_origin_stays_open(self):
        answer, took = self.exchange(b"GET " + self.target + b"/a HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer)
        self.assertIn(b"\r\nConnection: close\r\n", answer)
        self.assertTrue(answer.endswith(b"\r\n\r\nhello"), answer)
        self.assertLess(took, 3, "the proxy waited for the origin to close")

    def test_a_pipelined_second_request_gets_connection_close(self):
        get = b"GET " + self.target + b"/%s HTTP/1.1\r\nHost: x\r\n\r\n"
        answer, took = self.exchange(get % b"a" + get % b"b")
        self.assertEqual(answer.count(b"HTTP/1.1 200"), 1, answer)
        self.assertIn(b"\r\nConnection: close\r\n", answer)  # the client knows /b was not answered
        self.assertLess(took, 3)
        self.assertEqual(len(self.origin.requests), 1)

    def test_the_scheme_is_case_insensitive(self):
        target = self.target.replace(b"http://", b"HTTP://")
        answer, _ = self.exchange(b"GET " + target + b"/a HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer)

    def test_expect_continue_gets_one_100(self):
        head = (b"POST " + self.target + b"/p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\n\r\n")
        answer, _ = self.exchange(head, then=b"hello")
        self.assertEqual(answer.count(b"100 Continue"), 1, answer)
        self.assertIn(b"HTTP/1.1 200 OK", answer)
        self.assertNotIn(b"expect:", self.origin.requests[0].lower())


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
