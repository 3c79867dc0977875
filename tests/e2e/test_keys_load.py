#!/usr/bin/python3
"""200 concurrent requests through the proxy's base-URL mode: all succeed and the four keys of
the pool share the work evenly."""

import collections
import concurrent.futures
import http.client
import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

KEYS = tuple(("sk-or-v1-test-load-%d-%s" % (i, "3c8e1a7f5b9d2046"[i:] + "0123"[:i]), "load-%d" % i)
             for i in range(4))
REQUESTS = 200


class LoadTest(h.FreshProxyTestCase):
    def one_request(self, proxy, barrier, i):
        host, port = proxy.address.rsplit(":", 1)
        body = h.chat_body(content="request %d" % i).encode()
        barrier.wait(timeout=30)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            conn.request("POST", h.CHAT_PATH, body=body,
                         headers={"Content-Type": "application/json",
                                  "Authorization": "Bearer " + h.CLIENT_KEY})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheader("X-Proxy-Key"), data
        finally:
            conn.close()

    def run_concurrently(self, proxy, n):
        barrier = threading.Barrier(n, timeout=30)
        with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
            futures = [pool.submit(self.one_request, proxy, barrier, i) for i in range(n)]
            done, not_done = concurrent.futures.wait(futures, timeout=120)
            self.assertFalse(not_done, "%d requests did not finish within 120 s" % len(not_done))
            return [f.result() for f in futures]

    def check_balanced(self, proxy, results):
        failures = [(s, d[:200]) for s, _, d in results if s != 200]
        self.assertEqual(failures, [], "failed requests (%d)\n%s" % (len(failures), proxy.diagnostics()))
        for _, _, data in results:
            self.assertEqual(json.loads(data)["object"], "chat.completion")
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), REQUESTS, "the upstream saw a different number of requests")
        per_key = collections.Counter(r["key"] for r in recs)
        labels = collections.Counter(label for _, label, _ in results)
        fair = REQUESTS / len(KEYS)
        for key, label in KEYS:
            self.assertTrue(0.8 * fair <= per_key[key] <= 1.2 * fair,
                            "unbalanced keys: %s" % {l: per_key[k] for k, l in KEYS})
            self.assertEqual(labels[label], per_key[key], "X-Proxy-Key disagrees with the upstream")
        self.assertTrue(proxy.alive(), proxy.diagnostics())

    # -------------------------------------------------------------------------------------------
    def test_200_concurrent_requests_round_robin(self):
        proxy = self.start_proxy(KEYS, {"keys.strategy": "round_robin"})
        # Each answer takes a moment, so the requests really overlap upstream.
        self.fake.script([{"path": h.CHAT_PATH, "delay_ms": 100}])
        self.check_balanced(proxy, self.run_concurrently(proxy, REQUESTS))

    def test_200_concurrent_requests_least_used(self):
        proxy = self.start_proxy(KEYS, {"keys.strategy": "least_used"})
        self.fake.script([{"path": h.CHAT_PATH, "delay_ms": 100}])
        self.check_balanced(proxy, self.run_concurrently(proxy, REQUESTS))


if __name__ == "__main__":
    unittest.main()
