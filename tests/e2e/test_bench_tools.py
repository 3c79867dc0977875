#!/usr/bin/python3
"""The benchmark's own tools (bench/, issue 7) still build and still work, so that
scripts/bench.sh does not rot between the sessions that run it: the Google Benchmark
micro-benchmarks run every case, and the load generator drives the paced SSE upstream directly
and through the proxy in each of its modes without an error. A smoke test, not a measurement:
no speed is asserted here (the numbers come from scripts/bench.sh, side by side)."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

BENCH_DIR = os.environ.get("ORP_BENCH_DIR", "")
KEYS = (("sk-or-v1-bench-429", "always-429"), ("sk-or-v1-bench-pool-a", "pool-a"))


def tool(name):
    path = os.path.join(BENCH_DIR, name)
    if not os.access(path, os.X_OK):
        raise AssertionError("%s not built (ORP_BENCH_DIR=%r; configure with -DORP_BENCH=ON)" % (name, BENCH_DIR))
    return path


class BenchToolsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = h.make_test_pki()
        # Its stderr goes to a file: a pipe nobody reads could fill and stall it.
        cls.sse_err = tempfile.TemporaryFile()
        cls.addClassCleanup(cls.sse_err.close)
        cls.sse = subprocess.Popen(h.with_parent_death([tool("sse_server"), "--cert", cls.pki.server_cert,
                                                        "--key", cls.pki.server_key, "--time-limit", "240"]),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=cls.sse_err)
        cls.addClassCleanup(cls.sse.stdout.close)
        cls.addClassCleanup(h.stop_process, cls.sse)
        line = h.read_line(cls.sse.stdout, 15)
        try:
            cls.sse_port = json.loads(line)["port"]
        except (ValueError, KeyError, TypeError):
            h.stop_process(cls.sse)
            cls.sse_err.seek(0)
            raise AssertionError("sse_server did not start within 15 s: %r %r"
                                 % (line, cls.sse_err.read()[-2000:])) from None

    def loadgen(self, *args):
        res = subprocess.run([tool("loadgen"), "--label", "smoke", *args], capture_output=True, timeout=120)
        out, err = res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace")
        self.assertEqual(res.returncode, 0, err)
        try:
            report = json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            self.fail("loadgen %s printed no report:\n%s\n%s" % (" ".join(args), out, err))
        self.assertEqual((report["errors"], report["first_error"], report["finished"]), (0, "", True), report)
        return report

    def direct(self):
        return ("--connect", "127.0.0.1:%d" % self.sse_port, "--ca", self.pki.ca_cert)

    def via(self, proxy):
        return ("--connect", proxy.address, "--proxy", "--ca", proxy.ca_path, "--watch-pid", str(proxy.proc.pid))

    def start_proxy(self, keys=KEYS[1:]):
        proxy = h.Proxy(None, keys=keys, overrides={
            "proxy.workers": 1, "keys.key_recovery_interval": 3600,
            "upstream.resolve": "openrouter.ai:443=127.0.0.1:%d" % self.sse_port})
        proxy.start()
        self.addCleanup(proxy.cleanup)
        return proxy

    # -------------------------------------------------------------------------------------------
    def test_micro_benchmarks_run_every_case(self):
        listed = subprocess.run([tool("micro_bench"), "--benchmark_list_tests"], capture_output=True, timeout=60,
                                check=True).stdout.decode().split()
        self.assertGreater(len(listed), 10, listed)
        res = subprocess.run([tool("micro_bench"), "--benchmark_min_time=0.001", "--benchmark_format=json"],
                             capture_output=True, timeout=240)
        self.assertEqual(res.returncode, 0, res.stderr.decode(errors="replace")[-2000:])
        ran = json.loads(res.stdout)["benchmarks"]
        self.assertEqual(sorted({b["run_name"] for b in ran}), sorted(set(listed)))
        self.assertTrue(all(b["iterations"] > 0 for b in ran), ran)

    def test_keep_alive_requests_direct_and_through_the_proxy(self):
        proxy = self.start_proxy()
        common = ("--mode", "rps", "--conns", "2", "--requests", "200", "--warmup", "5", "--time-limit", "60")
        direct = self.loadgen(*common, *self.direct())
        via = self.loadgen(*common, *self.via(proxy))
        for report in (direct, via):
            self.assertEqual(report["lat_samples"], 2 * 200, report)  # --requests is per connection
        self.assertGreater(via["proc_cpu_s"] + via["rss_after_kib"], 0, via)  # --watch-pid read /proc
        self.assertIn("proc_read_calls_per_req", via)

    def test_new_connections_resume_through_the_proxy(self):
        proxy = self.start_proxy()
        full = self.loadgen("--mode", "connect", "--conns", "2", "--requests", "20", "--time-limit", "60",
                            *self.via(proxy))
        resumed = self.loadgen("--mode", "connect", "--conns", "2", "--requests", "20", "--time-limit", "60",
                               "--resume", *self.via(proxy))
        self.assertEqual((full["connections"], full["resumed"]), (20, 0), full)
        # Each of the two connection loops starts with a full handshake, then resumes.
        self.assertEqual((resumed["connections"], resumed["resumed"]), (20, 18), resumed)
        # The proxy counted the same resumptions, and one handshake per connection it served.
        stats = json.loads(proxy.admin_get("/stats")[1])
        self.assertEqual(stats["tls_resumed_handshakes"], 18, stats)
        self.assertEqual(stats["tls_full_handshakes"] + 18, stats["requests_total"], stats)

    def test_sse_streams_idle_and_held_connections(self):
        proxy = self.start_proxy()
        sse = ("--mode", "sse", "--conns", "2", "--requests", "6", "--warmup", "1", "--sse-events", "4",
               "--sse-interval-ms", "5", "--time-limit", "60")
        for report in (self.loadgen(*sse, *self.direct()), self.loadgen(*sse, *self.via(proxy))):
            self.assertIn("first_p99_ms", report)
            self.assertIn("gap_p99_ms", report)
        streams = self.loadgen("--mode", "streams", "--conns", "20", "--sse-interval-ms", "100", "--hold", "0.3",
                               "--time-limit", "60", *self.via(proxy))
        self.assertEqual(streams["streams"], 20, streams)
        idle = self.loadgen("--mode", "idle", "--conns", "20", "--time-limit", "60", *self.via(proxy))
        self.assertIn("rss_kib_per_conn", idle)

    def test_429_key_is_rotated_on_the_pooled_connection(self):
        # The bench's rotation row: one key always gets 429 (Retry-After: 1) from the SSE server.
        proxy = self.start_proxy(KEYS)
        self.loadgen("--mode", "rps", "--conns", "1", "--requests", "1", "--warmup", "0", "--time-limit", "30",
                     *self.via(proxy))
        before = self.upstream_connections()
        self.loadgen("--mode", "rps", "--conns", "1", "--requests", "4", "--warmup", "0", "--time-limit", "30",
                     *self.via(proxy))
        self.assertEqual(self.upstream_connections() - before, 1, "only this query's own connection is new")
        # Access lines are flushed once the request is done, maybe just after the client has its answer.
        h.wait_until(lambda: "attempts=2" in proxy.log_text(), 5, message="an access line with attempts=2")

    def upstream_connections(self):
        res = h.curl(["-sS", "--max-time", "5", "--cacert", self.pki.ca_cert,
                      "https://127.0.0.1:%d/_bench/stats" % self.sse_port])
        self.assertEqual(res.returncode, 0, res.stderr)
        return json.loads(res.stdout)["connections"]


if __name__ == "__main__":
    unittest.main(verbosity=2)
