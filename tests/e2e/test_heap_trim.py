#!/usr/bin/python3
"""Memory a burst of connections used goes back to the system once the burst is over (issue 7,
memory): a worker whose connection count has halved from a peak of at least 64 trims its heap a
second later (/stats heap_trims), so the proxy's RSS falls back instead of staying at the peak
until the next burst. Steady traffic below that never trims."""

import json
import mmap
import os
import ssl
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

BURST = 300


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def allocator_of(binary):
    """The malloc the proxy was linked with: ORP_ALLOCATOR as CMake passes it, else what
    `--version` says (test_config_logging checks that the two agree)."""
    if os.environ.get("ORP_ALLOCATOR"):
        return os.environ["ORP_ALLOCATOR"]
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    return "mimalloc" if "allocator: mimalloc" in out else "glibc malloc"


def sanitized(binary):
    """Whether the binary was built with AddressSanitizer (ORP_SANITIZE): it calls the ASan runtime."""
    with open(binary, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(b"__asan_init") >= 0


class HeapTrimTest(h.ProxyTestCase):
    OVERRIDES = {"proxy.workers": 1}

    def stats(self):
        status, body = self.proxy.admin_get("/stats")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def open_connections(self, count, ctx):
        conns = []
        try:
            for _ in range(count):
                conn = h.InterceptedConnection(self.proxy, ctx)
                conns.append(conn)
                self.assertEqual(conn.chat()[0], 200)
        except BaseException:
            for conn in conns:
                conn.close()
            raise
        return conns

    def test_a_burst_is_given_back_and_steady_traffic_is_not_trimmed(self):
        ctx = ssl.create_default_context(cafile=self.proxy.ca_path)
        # Below the burst size: connections come and go, nothing is trimmed.
        for _ in range(3):
            for conn in self.open_connections(32, ctx):
                conn.close()
        h.wait_until(lambda: self.stats()["open_connections"] == 0, 10, message="the 32 connections to close")
        before = rss_kib(self.proxy.proc.pid)

        conns = self.open_connections(BURST, ctx)
        h.wait_until(lambda: self.stats()["open_connections"] == BURST, 10, message="the burst to be open")
        peak = rss_kib(self.proxy.proc.pid)
        self.assertEqual(self.stats()["heap_trims"], 0, "trimmed during steady traffic or while the burst grew")
        for conn in conns:
            conn.close()
        # The trim once the last connection has gone (one, or a few if the closes outlast its delay).
        h.wait_until(lambda: "heap trimmed after a burst of connections: 0 left on this worker" in self.proxy.log_text(),
                     10, message="a heap trim with no connection left")
        after = rss_kib(self.proxy.proc.pid)
        allocator = allocator_of(self.proxy.binary)
        print("\n  RSS before %d KiB, %d connections open %d KiB, closed and trimmed %d KiB (%s)"
              % (before, BURST, peak, after, allocator), file=sys.stderr)
        self.assertLessEqual(self.stats()["heap_trims"], 4, "one burst that closed at once, trimmed again and again")
        if sanitized(self.proxy.binary):
            self.skipTest("the trim was checked, not the RSS drop: an ASan build's allocator keeps freed "
                          "memory in its quarantine whatever the proxy's trim does")
        # mimalloc: mi_collect; glibc: malloc_trim(0), which gives back the free pages of every arena
        # (the workers' too), not only the top of the main heap. Both bring RSS down.
        self.assertGreater(peak - before, 3 * 1024, "the burst should cost megabytes; nothing to measure")
        self.assertLess(after - before, (peak - before) / 2,
                        "RSS stayed near the burst's peak after it closed (%d -> %d -> %d KiB, %s)"
                        % (before, peak, after, allocator))


if __name__ == "__main__":
    unittest.main(verbosity=2)
