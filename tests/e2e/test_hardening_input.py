"""Bad input on the proxy port: each gets a clear answer (or a closed connection), and a good
request on another connection still succeeds afterwards."""
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402
from harness import FakeOpenRouter, Proxy, chat_args, curl, via_proxy  # noqa: E402

CHAT_URL = "https://openrouter.ai/api/v1/chat/completions"


def exchange(port, data, timeout=10.0, shut=False):
    """Sends raw bytes, returns everything the proxy answers until it closes (bounded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        return harness.recv_until(s, timeout=timeout)  # until the proxy closes


def status_of(answer):
    if not answer.startswith(b"HTTP/1.1 "):
        return None
    return int(answer[9:12])


class HardeningTest(harness.ProxyTestCase):
    OVERRIDES = {"proxy.header_timeout": 2, "proxy.tunnel": "localhost", "proxy.max_request_body": "1MiB"}

    def tearDown(self):
        # After every bad input: the proxy is alive and serves a good request on a new connection.
        self.assertTrue(self.proxy.alive(), self.proxy.diagnostics())
        res = curl(via_proxy(self.proxy, *chat_args(), CHAT_URL), metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr + self.proxy.diagnostics())

    def base_url_request(self, head, body=b""):
        return head.replace(b"\n", b"\r\n") + body

    def test_malformed_request_line(self):
        answer = exchange(self.proxy.port, b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n")
        self.assertEqual(status_of(answer), 400, answer)
        self.assertIn(b'"error"', answer)

    def test_seventy_kib_of_headers(self):
        head = b"GET /api/v1/models HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-Filler-%05d: %s\r\n" % (i, b"a" * 60) for i in range(1100)) + b"\r\n"
        self.assertGreater(len(head), 70 * 1024)
        answer = exchange(self.proxy.port, head)
        self.assertEqual(status_of(answer), 431, answer[:200])

    def test_endless_trailer_section_gets_431(self):
        # Trailers are fields like the head's and share its limit: a stream of trailer lines is
        # refused at it, not stored without bound (before any proxy authentication).
        head = (b"POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"2\r\n{}\r\n0\r\n")
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10) as s:
            try:
                s.sendall(head + b"a:b\r\n" * (40 * 1024))
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before all of it was sent
            answer = harness.recv_until(s, timeout=10)
        self.assertEqual(status_of(answer), 431, answer[:200])
        self.assertEqual(len(self.fake.requests("/api/v1/chat/completions")), 0)

    def test_bad_request_targets_get_400(self):
        for target in (b"http:///a", b"http://127.0.0.1:70000/", b"http://127.0.0.1:0/", b"ftp://x/"):
            answer = exchange(self.proxy.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(status_of(answer), 400, (target, answer))
            self.assertIn(b"X-Proxy-Attempts: 0", answer)
        self.assertEqual(self.fake.requests(), [])

    def test_host_header_missing_on_http11_or_repeated_gets_400(self):
        body = b'{"model":"x"}'
        post = b"POST /api/v1/chat/completions HTTP/1.%d\r\n%sContent-Length: 13\r\n\r\n" + body
        for version, hosts in ((1, b""), (1, b"Host: x\r\nHost: y\r\n"), (0, b"Host: x\r\nHost: y\r\n")):
            answer = exchange(self.proxy.port, post % (version, hosts))
            self.assertEqual(status_of(answer), 400, (version, hosts, answer))
        self.assertEqual(self.fake.requests(), [])
        # HTTP/1.0 may leave Host out.
        answer = exchange(self.proxy.port, post % (0, b"Authorization: Bearer x\r\n"))
        self.assertEqual(status_of(answer), 200, answer[:300])

    def test_content_length_with_transfer_encoding(self):
        answer = exchange(self.proxy.port, self.base_url_request(
            b"POST /api/v1/chat/completions HTTP/1.1\nHost: x\nContent-Length: 5\n"
            b"Transfer-Encoding: chunked\n\n", b"0\r\n\r\n"))
        self.assertEqual(status_of(answer), 400, answer)
        self.assertEqual(len(self.fake.requests("/api/v1/chat/completions")), 0)

    def test_chunked_body_with_bad_size(self):
        answer = exchange(self.proxy.port, self.base_url_request(
            b"POST /api/v1/chat/completions HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n", b"zz\r\nhello\r\n0\r\n\r\n"))
        self.assertEqual(status_of(answer), 400, answer)
        self.assertEqual(len(self.fake.requests("/api/v1/chat/completions")), 0)

    def test_body_longer_than_content_length(self):
        # The extra bytes are read as the start of a next request, which is malformed: the first
        # request is answered, the rest refused, and nothing smuggled reaches the upstream.
        body = b'{"model":"x"}' + b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
        answer = exchange(self.proxy.port, self.base_url_request(
            b"POST /api/v1/chat/completions HTTP/1.1\nHost: x\nContent-Length: 13\n\n", body + b"garbage\r\n\r\n"))
        self.assertEqual(status_of(answer), 200, answer[:300])
        paths = [r["path"] for r in self.fake.requests()]
        self.assertNotIn("/smuggled", paths)
        self.assertEqual(paths.count("/api/v1/chat/completions"), 1)

    def test_body_over_max_request_body(self):
        answer = exchange(self.proxy.port, self.base_url_request(
            b"POST /api/v1/chat/completions HTTP/1.1\nHost: x\nContent-Length: 2000000\n\n", b"x" * 1000))
        self.assertEqual(status_of(answer), 413, answer)
        self.assertIn(b"\r\nX-Proxy-Key: none\r\nX-Proxy-Attempts: 0\r\n", answer)
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(body["error"]["message"], "request body over 1MiB (proxy.max_request_body)")

    def test_garbage_on_the_port(self):
        answer = exchange(self.proxy.port, os.urandom(4096), shut=True)
        self.assertIn(status_of(answer), (400, None), answer[:100])

    def test_tls_client_hello_garbage_after_connect(self):
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10) as s:
            s.sendall(b"CONNECT openrouter.ai:443 HTTP/1.1\r\nHost: openrouter.ai:443\r\n\r\n")
            reply = harness.recv_until(s, stop=b"\r\n\r\n")
            self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply)
            s.sendall(b"\x16\x03\x01\x02\x00" + os.urandom(512))
            s.settimeout(10)
            try:
                rest = s.recv(4096)
            except ConnectionResetError:
                rest = b""
            # A TLS alert (0x15) or a plain close: never an HTTP answer, never a hang.
            self.assertTrue(rest == b"" or rest[:1] == b"\x15", rest[:20])

    def test_a_trickled_body_gets_408_however_often_a_byte_comes(self):
        # Each byte comes within proxy.header_timeout (2 s) of the last, but the body as a whole
        # falls behind the minimum rate (16 KiB/s after 2 s), so its share of max_body_memory goes.
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10) as s:
            s.sendall(self.base_url_request(
                b"POST /api/v1/chat/completions HTTP/1.1\nHost: x\nContent-Length: 500000\n\n", b"x" * 1000))
            start = time.monotonic()
            s.settimeout(0.5)
            answer = b""
            while not answer and time.monotonic() - start < 12:
                try:
                    answer = s.recv(4096)
                except socket.timeout:
                    s.sendall(b"x")
            elapsed = time.monotonic() - start
            answer += harness.recv_until(s, timeout=5)  # the rest of the refusal, up to the close
            self.assertEqual(status_of(answer), 408, answer)
            self.assertIn(b"too slow", answer)
            self.assertLess(elapsed, 6)

    def test_slow_header_gets_408(self):
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10) as s:
            s.sendall(b"GET /api/v1/models HTTP/1.1\r\nHost: x\r\n")  # never finished
            start = time.monotonic()
            answer = harness.recv_until(s, stop=b"\r\n\r\n")
            self.assertEqual(status_of(answer), 408, answer)
            self.assertLess(time.monotonic() - start, 8)

    def test_five_hundred_silent_connections(self):
        socks = []
        try:
            for _ in range(500):
                socks.append(socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10))
            # While they sit there, others are served.
            res = curl(via_proxy(self.proxy, *chat_args(), CHAT_URL), metrics=True)
            self.assertEqual(res.status, 200, res.stderr)
            # And the proxy closes them once proxy.header_timeout (2 s) passes.
            socks[0].settimeout(10)
            self.assertEqual(socks[0].recv(10), b"")
        finally:
            for s in socks:
                s.close()

    def test_client_hello_in_pieces_is_still_read_for_its_name(self):
        ctx = ssl.create_default_context(cafile=self.proxy.ca_path)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname="openrouter.ai")
        with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10) as s:
            s.sendall(b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n")
            self.assertTrue(harness.recv_until(s, stop=b"\r\n\r\n").startswith(b"HTTP/1.1 200"))
            with self.assertRaises(ssl.SSLWantReadError):
                tls.do_handshake()
            hello = outgoing.read()
            # Three pieces a moment apart: each wakes the peek only once it brings new bytes.
            for piece in (hello[:3], hello[3:40], hello[40:]):
                s.sendall(piece)
                time.sleep(0.2)
            # A handshake is a few round trips; each recv waits at most the socket's 10 s.
            deadline = time.monotonic() + 20
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    self.assertLess(time.monotonic(), deadline, "the TLS handshake did not finish in 20 s")
                    s.sendall(outgoing.read())
                    data = s.recv(65536)
                    self.assertTrue(data, "the proxy closed during the handshake")
                    incoming.write(data)
            s.sendall(outgoing.read())
            # The name was read: the proxy's own leaf for openrouter.ai answered (verified above).
            self.assertEqual(tls.getpeercert()["subject"][-1][0][1], "openrouter.ai")

    def test_an_allowed_name_in_the_client_hello_opens_only_its_own_addresses(self):
        # CONNECT to an IP on 443: an SNI naming an allowed host (proxy.tunnel = localhost) lets the
        # tunnel through only to an address that name resolves to; any IP with a claimed name was
        # a way around the allow-list.
        ctx = ssl.create_default_context()
        for ip, verdict in (("127.0.0.2", "tunnel to 127.0.0.2 (localhost) refused by proxy.tunnel"),
                            ("127.0.0.1", "tunnel to 127.0.0.1:443 failed")):  # allowed; nothing listens on 443
            outgoing = ssl.MemoryBIO()
            tls = ctx.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname="localhost")
            with self.assertRaises(ssl.SSLWantReadError):
                tls.do_handshake()
            before = self.proxy.log_text().count(verdict)
            with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10) as s:
                s.sendall(b"CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n" % (ip.encode(), ip.encode()))
                self.assertTrue(harness.recv_until(s, b"\r\n\r\n").startswith(b"HTTP/1.1 200"))
                s.sendall(outgoing.read())  # the ClientHello, naming localhost
                harness.wait_until(lambda: self.proxy.log_text().count(verdict) > before, 10, message=verdict)

    def test_tunnel_to_forbidden_host(self):
        answer = exchange(self.proxy.port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        self.assertEqual(status_of(answer), 403, answer)
        self.assertIn(b"proxy.tunnel", answer)

    def test_connect_without_port(self):
        answer = exchange(self.proxy.port, b"CONNECT openrouter.ai HTTP/1.1\r\nHost: openrouter.ai\r\n\r\n")
        self.assertEqual(status_of(answer), 400, answer)


def fill_to_the_cap(test, proxy, cap, refused=1):
    """Holds `cap` connections open, checks that `refused` more get 503 and that a held one is still
    served; closes them all."""
    held = []
    try:
        for _ in range(cap):
            held.append(socket.create_connection(("127.0.0.1", proxy.port), timeout=10))
        # The held connections are counted once the proxy has accepted them.
        harness.wait_until(lambda: '"open_connections":%d' % cap in proxy.admin_get("/stats")[1].decode(), 10,
                           message="%d connections open" % cap)
        for _ in range(refused):
            answer = exchange(proxy.port, b"GET /api/v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            test.assertEqual(status_of(answer), 503, answer)
        # A held connection still gets its request through.
        held[0].sendall(b"POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"model\":\"x\"}")
        test.assertEqual(status_of(harness.recv_until(held[0], stop=b"\r\n\r\n")), 200)
    finally:
        for s in held:
            s.close()


class BodyMemoryTest(unittest.TestCase):
    """proxy.max_body_memory: request bodies held at once, all clients together."""

    def test_bodies_beyond_the_common_cap_get_503_and_later_ones_are_served(self):
        with FakeOpenRouter() as fake:
            proxy = Proxy(fake, overrides={"proxy.max_request_body": "600KiB", "proxy.max_body_memory": "1MiB",
                                           "proxy.workers": 2})
            proxy.start()
            try:
                head = (b"POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 600000\r\n\r\n")
                held = []
                try:
                    # Two bodies of 450 KB each, still arriving: 900 KB of the 1 MiB held.
                    for _ in range(2):
                        s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
                        held.append(s)
                        s.sendall(head + b" " * 450000)
                    harness.wait_until(
                        lambda: json.loads(proxy.admin_get("/stats")[1])["request_body_bytes"] >= 900000, 10,
                        message="900 KB of bodies held")
                    # A third that would take the total past 1 MiB is refused; nothing else is.
                    answer = exchange(proxy.port, head + b" " * 300000)
                    self.assertEqual(status_of(answer), 503, answer[:300])
                    self.assertIn(b"Retry-After: 1", answer)
                    self.assertIn(b"too many request bodies", answer)
                    stats = json.loads(proxy.admin_get("/stats")[1])
                    self.assertEqual(stats["request_body_refusals"], 1, stats)
                    self.assertIn("proxy.max_body_memory", proxy.log_text())
                finally:
                    for s in held:
                        s.close()
                # Their shares come back when they go: a body of the full size is served again.
                harness.wait_until(lambda: json.loads(proxy.admin_get("/stats")[1])["request_body_bytes"] == 0, 10,
                                   message="no body held")
                body = b'{"model":"x","pad":"' + b"p" * 590000 + b'"}'
                answer = exchange(proxy.port, head.replace(b"600000", b"%d" % len(body)) + body)
                self.assertEqual(status_of(answer), 200, answer[:300])
                self.assertEqual(fake.requests("/api/v1/chat/completions")[-1]["body_len"], len(body))
            finally:
                proxy.stop()

    def test_a_cap_below_the_largest_body_is_refused_at_start(self):
        proxy = Proxy(None, overrides={"proxy.max_request_body": "32MiB", "proxy.max_body_memory": "16MiB"})
        with self.assertRaises(harness.ProxyStartError) as caught:
            proxy.start()
        self.assertEqual(proxy.returncode, 2)
        self.assertIn("proxy.max_body_memory = 16MiB is smaller than proxy.max_request_body = 32MiB", str(caught.exception))
        proxy.cleanup()


class MaxConnectionsTest(unittest.TestCase):
    def test_connections_beyond_the_limit_get_503_and_the_rest_are_unaffected(self):
        with FakeOpenRouter() as fake:
            proxy = Proxy(fake, overrides={"proxy.max_connections": 5, "proxy.workers": 1})
            proxy.start()
            self.addCleanup(proxy.cleanup)
            fill_to_the_cap(self, proxy, 5)
            # Below the limit again: served.
            harness.wait_until(lambda: status_of(exchange(proxy.port, b"GET /api/v1/models HTTP/1.1\r\n"
                                                                      b"Host: x\r\nConnection: close\r\n\r\n"))
                               != 503, 10, interval=0.1, message="served again below the limit")


class ClientHelloEofTest(harness.ProxyTestCase):
    """CONNECT to an IP address: the proxy peeks at the ClientHello for the name. A client that sends
    part of one and hangs up must not leave its connection behind (the peeked bytes hid the EOF:
    connections stayed open for good, polled every 5 ms, until max_connections answered 503)."""

    # Far beyond the wait below: a close at the header timeout cannot pass for one at EOF.
    OVERRIDES = {"proxy.header_timeout": 30}

    def test_clients_gone_mid_client_hello_are_closed_at_once(self):
        partial = bytes.fromhex("160301020001000001fc0303")
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10) as s:
                s.sendall(b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n")
                self.assertTrue(harness.recv_until(s, stop=b"\r\n\r\n").startswith(b"HTTP/1.1 200"))
                s.sendall(partial)
        # Closed on their EOF, not at proxy.header_timeout (30 s).
        harness.wait_until(lambda: json.loads(self.proxy.admin_get("/stats")[1])["open_connections"] == 0, 10,
                           message="the 20 connections closed\n" + self.proxy.diagnostics())
        harness.wait_until(lambda: self.proxy.log_text().count("closed before its TLS ClientHello was complete") == 20,
                           10, message="20 log lines")


class LimitedProxy(Proxy):
    """The proxy started under an open-file limit of its own (prlimit --nofile=SOFT:HARD)."""

    def __init__(self, fake, nofile, **kw):
        super().__init__(fake, **kw)
        self.nofile = nofile

    def command(self):
        return ["prlimit", "--nofile=%s" % self.nofile, "--", *super().command()]


def open_files_limits(pid):
    """(soft, hard) of the process's open-file limit, from /proc/PID/limits."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no open-file limit for pid %d" % pid)


class DescriptorLimitTest(unittest.TestCase):
    def test_the_soft_limit_is_raised_to_the_hard_one(self):
        with FakeOpenRouter() as fake:
            proxy = LimitedProxy(fake, "256:4096")
            proxy.start()
            self.addCleanup(proxy.cleanup)
            self.assertEqual(open_files_limits(proxy.proc.pid), (4096, 4096))
            self.assertIn("open-file limit raised from 256 to 4096", proxy.log_text())
            # 4,096 descriptors hold (4096 - 64) / 2 connections: fewer than the default 10,000.
            self.assertIn("the open-file limit (4096) holds about 2016 connections", proxy.all_output())

    def test_short_of_the_default_it_is_a_note_short_of_a_choice_a_warning(self):
        # Many hosts' hard limit cannot hold the default 10,000: no warning at every start for that.
        for overrides, level in (({}, "info"), ({"proxy.max_connections": 5000}, "warning")):
            with LimitedProxy(None, "4096:4096", overrides=overrides) as proxy:
                line = next((l for l in proxy.log_text().splitlines() if "the open-file limit (4096)" in l), "")
                self.assertRegex(line, r"^\S+ \S+ %s\s+the open-file limit \(4096\) holds about 2016 connections"
                                 % level, proxy.log_text())

    def test_a_limit_short_of_max_connections_serves_the_rest_503(self):
        # (200 - 64) / 2 = 68 connections; the 69th gets the same 503 as beyond max_connections,
        # instead of failing accepts, and the proxy never runs out of descriptors.
        with FakeOpenRouter() as fake:
            proxy = LimitedProxy(fake, "200:200", overrides={"proxy.workers": 1})
            proxy.start()
            self.addCleanup(proxy.cleanup)
            self.assertIn("holds about 68 connections", proxy.all_output())
            fill_to_the_cap(self, proxy, 68, refused=5)
            self.assertNotIn("accept failed", proxy.log_text())
            self.assertTrue(proxy.alive())

    def test_accept_pauses_and_resumes_when_descriptors_run_out(self):
        # Lowered under the running proxy (its connection cap was set for the limit at start), the
        # limit runs out: accepts fail, pause, and resume once descriptors are free again.
        with FakeOpenRouter() as fake:
            proxy = Proxy(fake, overrides={"proxy.workers": 1, "proxy.header_timeout": 30})
            proxy.start()
            self.addCleanup(proxy.cleanup)
            subprocess.run(["prlimit", "--pid", str(proxy.proc.pid), "--nofile=64:64"], check=True)
            socks = []
            try:
                for _ in range(120):  # more than the 64 descriptors the proxy may hold
                    socks.append(socket.create_connection(("127.0.0.1", proxy.port), timeout=10))
                harness.wait_until(lambda: "accept failed" in proxy.log_text(), 10, message="accept pausing")
                # Out of descriptors for a second longer: accepts keep failing every 100 ms while
                # the warning is not repeated (once per 10 s). Nothing in the proxy can be asked
                # meanwhile (the admin endpoint needs a descriptor too, and closes each connection):
                # this is a window of a set length, not a wait for an event. That failures went on
                # within it is checked below (accept_failures >= 2), and a repeated warning would
                # be in the log already (warnings are flushed as they are written).
                time.sleep(1.0)
                self.assertTrue(proxy.alive())
            finally:
                for s in socks:
                    s.close()
            self.assertEqual(proxy.log_text().count("accept failed"), 1, proxy.log_text()[-2000:])
            def stats():
                try:
                    return json.loads(proxy.admin_get("/stats")[1])
                except OSError:  # descriptors still being freed
                    return None
            self.assertGreaterEqual(harness.wait_until(stats, 10, interval=0.1)["accept_failures"], 2)
            # Descriptors free again: the proxy serves as before.
            res = None
            def served():
                nonlocal res
                res = curl(via_proxy(proxy, *chat_args(), CHAT_URL), metrics=True, timeout=10)
                return res.status == 200
            harness.wait_until(served, 20, interval=0.2, message="a request served after exhaustion")
            self.assertTrue(proxy.alive())


if __name__ == "__main__":
    unittest.main()
