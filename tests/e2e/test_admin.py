"""The admin endpoint: each route's content, the token, and the status page rendered in Chromium."""
from http.client import HTTPConnection
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402
from harness import POOL_KEY_A, POOL_KEY_B, FakeOpenRouter, Proxy, chat_args, curl, via_proxy  # noqa: E402

CHAT_URL = "https://openrouter.ai/api/v1/chat/completions"
ARTIFACTS = os.environ.get("ORP_ARTIFACTS", os.path.join(tempfile.gettempdir(), "orp-artifacts"))


def http(method, url, token=None, timeout=5):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def chromium_flags(profile):
    return ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--user-data-dir=" + profile, "--virtual-time-budget=5000"]


def chromium_dom(url):
    """The DOM of `url` after its scripts ran, from headless Chromium."""
    profile = tempfile.mkdtemp(prefix="orp-chromium-")
    try:
        dom = subprocess.run(chromium_flags(profile) + ["--dump-dom", url], capture_output=True, text=True, timeout=90)
        assert dom.returncode == 0, dom.stderr[-2000:]
        return dom.stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class AdminTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Class cleanups run even when setUpClass fails half-way (tearDownClass would not).
        cls.fake = FakeOpenRouter()
        cls.addClassCleanup(cls.fake.__exit__, None, None, None)
        cls.fake.start()
        cls.proxy = Proxy(cls.fake, keys=[(POOL_KEY_A, "alpha"), (POOL_KEY_B, "beta")])
        cls.addClassCleanup(cls.proxy.cleanup)
        cls.started_at = time.time()
        cls.proxy.start()
        cls.base = "http://" + cls.proxy.ready["admin"]
        cls.fake.script([{"key": POOL_KEY_A, "status": 429, "times": 1, "headers": {"Retry-After": "60"},
                          "body": {"error": {"code": 429, "message": "Rate limit exceeded"}}}])
        for i in range(3):
            res = curl(via_proxy(cls.proxy, *chat_args(), CHAT_URL), metrics=True)
            if (res.returncode, res.status) != (0, 200):
                raise AssertionError("setup request %d: curl %d, status %s: %s\n%s"
                                     % (i, res.returncode, res.status, res.stderr, cls.proxy.diagnostics()))

    def test_healthz(self):
        self.assertEqual(http("GET", self.base + "/healthz")[::2], (200, "ok\n"))

    def test_keys_json_is_masked_with_state_and_counters(self):
        status, headers, body = http("GET", self.base + "/keys")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        keys = {k["label"]: k for k in json.loads(body)["keys"]}
        self.assertEqual(keys["alpha"]["state"], "cooling")
        self.assertGreater(keys["alpha"]["cooling_left_s"], 50)
        self.assertEqual(keys["beta"]["state"], "active")
        self.assertEqual(keys["beta"]["successes"], 3)
        for field in ("reason", "requests", "client_errors", "failures", "cancelled", "in_flight", "credit_left", "id"):
            self.assertIn(field, keys["alpha"])
        harness.assert_no_key_in(self, body, (POOL_KEY_A, POOL_KEY_B), "GET /keys")
        # Numbers as people write them: a whole weight as an integer, no exponent form (1E0).
        self.assertIn('"weight":1,', body)
        self.assertRegex(body, r'"cooling_left_s":\d+(\.\d{1,3})?,')
        self.assertNotRegex(body, r":-?\d+(\.\d+)?[eE][-+]?\d")

    def test_stats_numbers_are_plain(self):
        status, _, body = http("GET", self.base + "/stats")
        self.assertEqual(status, 200, body)
        self.assertRegex(body, r'"uptime_s":\d+(\.\d{1,3})?[,}]')
        self.assertNotRegex(body, r":-?\d+(\.\d+)?[eE][-+]?\d")
        self.assertIsInstance(json.loads(body)["requests_total"], int)

    def test_metrics_are_prometheus_text(self):
        status, headers, body = http("GET", self.base + "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        self.assertIn('orp_requests_total{mode="connect",status="200"} 3', body)
        self.assertIn("orp_request_attempts_bucket", body)
        self.assertIn("orp_upstream_headers_seconds_count", body)
        self.assertIn("orp_request_duration_seconds_sum", body)
        ids = {k["label"]: k["id"] for k in json.loads(http("GET", self.base + "/keys")[2])["keys"]}
        self.assertIn('orp_key_state{key="alpha",id="%s",state="cooling"} 1' % ids["alpha"], body)
        self.assertIn('orp_tokens_total{key="beta",id="%s",kind="prompt"}' % ids["beta"], body)
        self.assertIn("orp_cost_total", body)
        self.assertIn("orp_client_connections", body)
        self.assertIn("orp_upstream_reuses_total", body)
        self.assertIn("orp_upstream_stale_total 0", body)
        self.assertIn("orp_heap_trims_total 0", body)
        for line in body.splitlines():  # every sample line: name{labels} value
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                float(value)

    def test_metrics_carry_the_process_figures_under_the_usual_names(self):
        _, _, body = http("GET", self.base + "/metrics")
        samples = {}
        for line in body.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
            elif line.startswith("# TYPE process_"):
                self.assertIn(line.split()[3], ("counter", "gauge"), line)
        pid = self.proxy.proc.pid
        with open("/proc/%d/status" % pid) as f:
            rss = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
        # The same process, read a moment apart: within a few MiB.
        self.assertLess(abs(samples["process_resident_memory_bytes"] - rss), 8 << 20, (samples, rss))
        self.assertGreater(samples["process_virtual_memory_bytes"], samples["process_resident_memory_bytes"])
        open_now = len(os.listdir("/proc/%d/fd" % pid))
        self.assertLess(abs(samples["process_open_fds"] - open_now), 8, (samples, open_now))
        with open("/proc/%d/limits" % pid) as f:
            soft = next(int(l.split()[3]) for l in f if l.startswith("Max open files"))
        self.assertEqual(samples["process_max_fds"], soft)
        # Started by this class, moments ago (the clock's tick and boot-time rounding: a second).
        self.assertLessEqual(samples["process_start_time_seconds"], time.time() + 1)
        self.assertGreater(samples["process_start_time_seconds"], self.started_at - 1)
        self.assertGreaterEqual(samples["process_cpu_seconds_total"], 0)  # 10 ms ticks: may still be 0

    def test_reload_and_wrong_method(self):
        status, _, body = http("POST", self.base + "/keys/reload")
        self.assertEqual(status, 200, body)
        self.assertIn("reloaded", self.proxy.log_text())
        self.assertEqual(http("GET", self.base + "/keys/reload")[0], 405)
        self.assertEqual(http("GET", self.base + "/nope")[0], 404)

    def exchange(self, request):
        """`request` sent as it is; the whole answer, as bytes, up to the server's close."""
        host, port = self.proxy.ready["admin"].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            try:
                sock.sendall(request)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before it read everything
            return harness.recv_until(sock)

    def test_head_allow_and_reason_phrases(self):
        host = self.proxy.ready["admin"].encode()
        # HEAD: the headers GET would get, Content-Length included, and no body (RFC 9110 9.3.2).
        for path in (b"/healthz", b"/keys"):
            get = self.exchange(b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
            head = self.exchange(b"HEAD " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
            self.assertTrue(get.startswith(b"HTTP/1.1 200 OK\r\n"), get[:200])
            get_head, _, get_body = get.partition(b"\r\n\r\n")
            self.assertTrue(get_body)
            if path == b"/healthz":
                self.assertEqual(head, get_head + b"\r\n\r\n")
            else:  # counters may move between the two: the same header names, no body
                self.assertTrue(head.endswith(b"\r\n\r\n") and head.count(b"\r\n\r\n") == 1, head)
                self.assertIn(b"Content-Type: application/json\r\n", head)
        # 405 says which methods the path takes (RFC 9110 15.5.6).
        for method, path, allowed in ((b"DELETE", b"/keys", b"GET, HEAD"), (b"GET", b"/keys/reload", b"POST"),
                                      (b"PUT", b"/metrics", b"GET, HEAD")):
            answer = self.exchange(method + b" " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
            self.assertTrue(answer.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n"), answer[:200])
            self.assertIn(b"\r\nAllow: " + allowed + b"\r\n", answer.partition(b"\r\n\r\n")[0])
        # Over the limits: each status with its own reason phrase, not "Bad Request".
        answer = self.exchange(b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200])
        answer = self.exchange(b"POST /keys/reload HTTP/1.1\r\nHost: " + host +
                               b"\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 Content Too Large\r\n"), answer[:200])

    def test_expect_100_continue_is_answered(self):
        # curl sends a body over 1 KiB with Expect: 100-continue and waits a second for the 100.
        host, port = self.proxy.ready["admin"].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"POST /keys/reload HTTP/1.1\r\nHost: " + self.proxy.ready["admin"].encode() +
                      b"\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            interim = harness.recv_until(s, stop=b"\r\n\r\n", timeout=5)
            self.assertEqual(interim, b"HTTP/1.1 100 Continue\r\n\r\n")
            s.sendall(b"{}")
            answer = harness.recv_until(s, stop=b"\r\n\r\n", timeout=5)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200])

    def raw(self, method, path, headers):
        """One request with exactly these headers (urllib would set Host itself)."""
        host, port = self.proxy.ready["admin"].rsplit(":", 1)
        conn = HTTPConnection(host, int(port), timeout=5)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(b"" if method == "POST" else None)
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    # Without a token, a web page must not reach the endpoint through the user's browser: not by
    # pointing its own name at 127.0.0.1 (DNS rebinding: the Host is that name), not by a form
    # posted from its site (the Origin is that site).
    def test_requests_from_other_sites_are_refused(self):
        loopback = self.proxy.ready["admin"]
        self.assertEqual(self.raw("GET", "/keys", {"Host": loopback})[0], 200)
        self.assertEqual(self.raw("GET", "/keys", {"Host": "localhost:1"})[0], 200)
        status, body = self.raw("GET", "/keys", {"Host": "rebind.evil.example:" + loopback.rsplit(":", 1)[1]})
        self.assertEqual(status, 403, body)
        self.assertEqual(json.loads(body)["error"]["code"], 403)
        self.assertNotIn("alpha", body)
        status, body = self.raw("POST", "/keys/reload", {"Host": loopback, "Origin": "http://evil.example",
                                                         "Content-Type": "text/plain", "Content-Length": "0"})
        self.assertEqual(status, 403, body)
        self.assertIn("other sites", body)
        self.assertEqual(self.raw("POST", "/keys/reload", {"Host": loopback, "Origin": "http://" + loopback,
                                                           "Content-Length": "0"})[0], 200)
        self.assertIn("admin: refused POST /keys/reload", self.proxy.log_text())

    @unittest.skipUnless(shutil.which("chromium"), "chromium is installed by scripts/setup.sh")
    def test_status_page_renders_the_key_table_in_chromium(self):
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "status-page.png")
        dom = chromium_dom(self.base + "/")
        # The table rows were built by the page's script from /keys.
        self.assertRegex(dom, r"<tr><td>alpha</td><td class=\"cooling\">cooling</td>")
        self.assertRegex(dom, r"<tr><td>beta</td><td class=\"active\">active</td>")
        self.assertIn('id="usable">1 / 2<', dom)
        profile = tempfile.mkdtemp(prefix="orp-chromium-")
        try:
            pic = subprocess.run(chromium_flags(profile) + ["--window-size=1100,500", "--screenshot=" + shot, self.base + "/"],
                                 capture_output=True, text=True, timeout=90)
            self.assertEqual(pic.returncode, 0, pic.stderr[-2000:])
            with open(shot, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        finally:
            shutil.rmtree(profile, ignore_errors=True)


class StatusPageStatesTest(unittest.TestCase):
    @unittest.skipUnless(shutil.which("chromium"), "chromium is installed by scripts/setup.sh")
    def test_states_read_as_words_and_the_counts_add_up(self):
        with FakeOpenRouter() as fake, Proxy(fake, keys=[(POOL_KEY_A, "alpha"), (POOL_KEY_B, "beta")]) as proxy:
            fake.script([{"key": POOL_KEY_A, "status": 402,
                          "body": {"error": {"code": 402, "message": "Insufficient credits"}}}])
            res = curl(via_proxy(proxy, *chat_args(), CHAT_URL), metrics=True)
            self.assertEqual(res.status, 200, res.stderr)
            fake.script([{"key": POOL_KEY_B, "status": 400, "times": 1,
                          "body": {"error": {"code": 400, "message": "bad model"}}}])
            res = curl(via_proxy(proxy, *chat_args(), CHAT_URL), metrics=True)
            self.assertEqual(res.status, 400, res.stderr)
            dom = chromium_dom("http://" + proxy.ready["admin"] + "/")
            self.assertIn('<td class="disabled_no_credit">disabled no credit</td>', dom)
            # Every count of /keys has its column, so a row adds up: requests = ok + client errors +
            # failed + cancelled + in flight.
            self.assertIn("<th>requests</th><th>ok</th><th>client errors</th><th>failed</th><th>cancelled</th>"
                          "<th>in flight</th>", dom)
            self.assertRegex(dom, r'<tr><td>beta</td><td class="active">active</td><td>[^<]*</td><td class="n"></td>'
                                  r'<td class="n">2</td><td class="n">1</td><td class="n">1</td><td class="n">0</td>'
                                  r'<td class="n">0</td><td class="n">0</td>')
            self.assertIn('<div class="sub warn" id="file-error" hidden=""></div>', dom)
            # A keys.csv the last reload refused is said on the page, with its line and reason.
            proxy.write_keys("key,label,weight\n%s,alpha,heavy\n" % POOL_KEY_A)
            self.assertEqual(proxy.admin_post("/keys/reload")[0], 422)
            dom = chromium_dom("http://" + proxy.ready["admin"] + "/")
            self.assertRegex(dom, r'<div class="sub warn" id="file-error">keys file refused, the table is the pool '
                                  r"loaded before it: \S*keys\.csv:2: weight 'heavy' is not a positive number</div>")
            harness.assert_no_key_in(self, dom, (POOL_KEY_A, POOL_KEY_B), "the status page")


class RepeatedLabelsTest(unittest.TestCase):
    """Two keys with one label: every per-key series stays unique (the id tells them apart)."""

    def test_per_key_series_are_unique_and_the_repeat_is_warned_about(self):
        with FakeOpenRouter() as fake, Proxy(fake, keys=[(POOL_KEY_A, "team"), (POOL_KEY_B, "team")]) as proxy:
            for _ in range(4):
                res = curl(via_proxy(proxy, *chat_args(), CHAT_URL), metrics=True)
                self.assertEqual(res.status, 200, res.stderr)
            base = "http://" + proxy.ready["admin"]
            ids = sorted(k["id"] for k in json.loads(http("GET", base + "/keys")[2])["keys"])
            self.assertEqual(len(set(ids)), 2, ids)
            body = http("GET", base + "/metrics")[2]
            series = [line.rsplit(" ", 1)[0] for line in body.splitlines() if line and not line.startswith("#")]
            repeated = sorted({s for s in series if series.count(s) > 1})
            self.assertEqual(repeated, [], "series emitted more than once")
            for metric in ("orp_key_state", "orp_tokens_total", "orp_cost_total"):
                team = [s for s in series if s.startswith(metric + '{key="team"')]
                self.assertEqual(sorted({s.split('id="')[1].split('"')[0] for s in team}), ids, metric)
            # harness keys.csv: a comment, the header, then the keys on lines 3 and 4
            self.assertIn("lines 3, 4 share the label 'team'", proxy.log_text())
            # The last access line may be flushed just after its answer: all four in before looking.
            harness.wait_for_access_lines(proxy, 4)
            harness.assert_no_key_in(self, body + proxy.log_text(), (POOL_KEY_A, POOL_KEY_B),
                                     "/metrics or the log")


class AdminTokenTest(unittest.TestCase):
    @unittest.skipUnless(shutil.which("chromium"), "chromium is installed by scripts/setup.sh")
    def test_status_page_with_the_token_in_its_address_shows_the_keys(self):
        with Proxy(None, overrides={"admin.token": "adm-tok-123"}) as proxy:
            base = "http://" + proxy.ready["admin"]
            self.assertRegex(chromium_dom(base + "/#token=adm-tok-123"), r"<tr><td>pool-a</td><td class=\"active\">")
            # With a wrong token the page has run its script, which says in its status line that it
            # cannot read /keys (the script's own text holds the words too: the element is matched),
            # and shows no key: an unrendered page would still say "loading".
            dom = chromium_dom(base + "/#token=wrong")
            self.assertRegex(dom, r'<div class="sub" id="updated">cannot reach the admin endpoint: ')
            self.assertNotIn("<tr><td>pool-a</td>", dom)
            self.assertIn('<tbody id="keys"></tbody>', dom)

    def test_token_required_except_healthz(self):
        with Proxy(None, overrides={"admin.token": "adm-tok-123"}) as proxy:
            base = "http://" + proxy.ready["admin"]
            self.assertEqual(http("GET", base + "/healthz")[0], 200)
            # Readiness for a load balancer without the token: the verdict, not the pool's counts.
            self.assertEqual(http("GET", base + "/readyz")[:3:2], (200, "ready: see /keys\n"))
            self.assertEqual(http("GET", base + "/readyz", token="adm-tok-123")[:3:2],
                             (200, "ready: 1 active, 0 cooling, 0 disabled of 1 keys\n"))
            self.assertEqual(http("GET", base + "/keys")[0], 401)
            self.assertEqual(http("GET", base + "/keys", token="wrong")[0], 401)
            self.assertEqual(http("GET", base + "/keys", token="adm-tok-123")[0], 200)
            self.assertEqual(http("GET", base + "/metrics", token="adm-tok-123")[0], 200)
            # The status page itself holds no data and is served without the token (a browser
            # never sends the #token=... it reads it from); what it fetches needs the token.
            status, headers, body = http("GET", base + "/")
            self.assertEqual(status, 200, body)
            self.assertTrue(headers["Content-Type"].startswith("text/html"), headers)
            self.assertIn("location.hash", body)
            self.assertEqual(http("GET", base + "/stats")[0], 401)
            # With a token the endpoint may be reached by any name (the token guards it).
            req = urllib.request.Request(base + "/keys", headers={"Host": "proxy.internal:9090",
                                                                   "Authorization": "Bearer adm-tok-123"})
            with urllib.request.urlopen(req, timeout=5) as r:
                self.assertEqual(r.status, 200)


if __name__ == "__main__":
    unittest.main()
