#!/usr/bin/python3
"""Interception of openrouter.ai through HTTPS_PROXY (CONNECT): key swap, keep-alive pool,
round robin, large bodies, the local CA and its leaf certificate."""

import hashlib
import json
import os
import re
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API = "https://openrouter.ai/api/v1/chat/completions"
LABELS = {"pool-a", "pool-b"}


class InterceptTest(h.ProxyTestCase):
    KEYS = ((h.POOL_KEY_A, "pool-a"), (h.POOL_KEY_B, "pool-b"))
    # The upstream pool may be per worker thread; two workers bound how many connections
    # sequential requests may legitimately open, whatever the machine's core count.
    OVERRIDES = {"proxy.workers": 2}

    def post(self, *extra, body=None, timeout=30):
        with tempfile.NamedTemporaryFile(suffix=".headers", delete=False) as f:
            head_path = f.name
        try:
            res = h.curl(h.via_proxy(self.proxy, "-D", head_path, *h.chat_args(body), *extra, API),
                         timeout=timeout, metrics=True)
            with open(head_path) as f:
                headers = h.parse_header_block(f.read())
        finally:
            os.unlink(head_path)
        return res, headers

    def assertOk(self, res):
        self.assertEqual(res.returncode, 0, "curl failed: %s\n%s" % (res.stderr, self.proxy.diagnostics()))
        self.assertEqual(res.status, 200, "body: %r\n%s" % (res.stdout[:500], self.proxy.diagnostics()))

    def assertNoClientKeyUpstream(self):
        for rec in self.fake.requests():
            for name, value in rec["headers"].items():
                h.assert_no_key_in(self, value, (h.CLIENT_KEY,), "the upstream request's %s" % name)

    # -------------------------------------------------------------------------------------------
    def test_completion_arrives_with_pool_key(self):
        res, headers = self.post(body=h.chat_body(model="anthropic/claude-3.5-sonnet"))
        self.assertOk(res)
        doc = res.json()
        self.assertEqual(doc["model"], "anthropic/claude-3.5-sonnet")
        self.assertEqual(doc["choices"][0]["message"]["role"], "assistant")
        self.assertIn("usage", doc)
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 1, h.redact(recs))
        used = h.header(recs[0], "Authorization")
        self.assertTrue(used in ("Bearer " + h.POOL_KEY_A, "Bearer " + h.POOL_KEY_B),
                        "upstream Authorization: %r" % h.redact(used))
        self.assertEqual(recs[0]["model"], "anthropic/claude-3.5-sonnet")
        self.assertEqual(h.header(recs[0], "Host"), "openrouter.ai")
        self.assertNoClientKeyUpstream()

    def test_response_names_key_by_label_only(self):
        res, headers = self.post()
        self.assertOk(res)
        # Before any assertion whose message prints the headers or the body.
        h.assert_no_key_in(self, json.dumps(headers), ("sk-or-v1-test-pool",), "the response headers")
        h.assert_no_key_in(self, res.stdout, ("sk-or-v1-test-pool",), "the response body")
        self.assertIn(headers.get("x-proxy-key"), LABELS, headers)
        if "x-proxy-attempts" in headers:
            self.assertEqual(headers["x-proxy-attempts"], "1")

    def test_round_robin_alternates_two_keys(self):
        seen_upstream, seen_labels = [], []
        for _ in range(6):
            res, headers = self.post()
            self.assertOk(res)
            seen_labels.append(headers.get("x-proxy-key"))
        # The keys the upstream saw, by label (a key that is neither by its last four characters).
        label_of = {"Bearer " + h.POOL_KEY_A: "pool-a", "Bearer " + h.POOL_KEY_B: "pool-b"}
        seen_upstream = [label_of.get(k) or h.redact(k) for k in
                         (h.header(r, "Authorization") for r in self.fake.requests(h.CHAT_PATH))]
        self.assertEqual(len(seen_upstream), 6)
        self.assertEqual(set(seen_upstream), {"pool-a", "pool-b"})
        for a, b in zip(seen_upstream, seen_upstream[1:]):
            self.assertNotEqual(a, b, "keys do not alternate: %s" % seen_upstream)
        for a, b in zip(seen_labels, seen_labels[1:]):
            self.assertNotEqual(a, b, "labels do not alternate: %s" % seen_labels)
        # The label names the key that was really used.
        self.assertEqual(seen_upstream, seen_labels)

    def test_fifty_requests_in_one_curl_reuse_upstream_connections(self):
        res = h.curl(h.via_proxy(self.proxy, *h.chat_args(), *([API] * 50)), timeout=120, metrics=True)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual([m.get("http_code") for m in res.all_metrics], [200] * 50)
        stats = self.fake.stats()
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 50)
        self.assertLessEqual(stats["connections_accepted"], 5, stats)
        self.assertNoClientKeyUpstream()

    def test_fifty_separate_curls_reuse_upstream_connections(self):
        for i in range(50):
            res = h.curl(h.via_proxy(self.proxy, *h.chat_args(), API), timeout=30, metrics=True)
            self.assertEqual((res.returncode, res.status), (0, 200), "run %d: %s" % (i, res.stderr))
        stats = self.fake.stats()
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 50)
        self.assertLessEqual(stats["connections_accepted"], 5, stats)

    def test_ten_mib_body_arrives_intact(self):
        content = os.urandom(10 * 1024 * 1024 // 4 * 3).hex()[: 10 * 1024 * 1024 - 100]
        body = json.dumps({"model": "openai/gpt-4o-mini",
                           "messages": [{"role": "user", "content": content}]}).encode()
        self.assertGreaterEqual(len(body), 10 * 1024 * 1024 - 100)
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            f.write(body)
            path = f.name
        try:
            # --data-binary @file makes curl send "Expect: 100-continue" for a body this size.
            res = h.curl(h.via_proxy(self.proxy, "-H", "Content-Type: application/json",
                                     "-H", "Authorization: Bearer " + h.CLIENT_KEY,
                                     "--data-binary", "@" + path, API),
                         timeout=60, metrics=True)
        finally:
            os.unlink(path)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.status, 200, res.stdout[:500])
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 1)
        self.assertEqual(recs[0]["body_len"], len(body))
        self.assertEqual(recs[0]["body_sha256"], hashlib.sha256(body).hexdigest())
        self.assertIsNone(h.header(recs[0], "Expect"), "Expect must be answered by the proxy, not forwarded")

    # Answers without a body (Content-Length: 0) end with their head: the proxy must not wait for
    # more (it did: a 404 became a 504 at upstream.request_timeout, a 200 hung until
    # stream_idle_timeout, a 401 never rotated the key).
    def test_answers_without_a_body_arrive_at_once_and_keep_the_connection(self):
        self.fake.script([{"key": "*", "path": h.CHAT_PATH, "status": 404, "raw_body": "", "times": 1},
                          {"key": "*", "path": h.CHAT_PATH, "status": 200, "raw_body": "", "times": 1}])
        one = h.via_proxy(self.proxy, *h.chat_args(), "--max-time", "10", "-o", "/dev/null",
                          "-w", "%{http_code} %{num_connects} %{size_download}\n", API)
        res = h.curl(one + ["--next"] + one, timeout=20)
        self.assertEqual(res.returncode, 0, res.stderr + self.proxy.diagnostics())
        # 404 then 200, both empty, the second over the first one's tunnel and TLS connection.
        self.assertEqual(res.stdout.decode().split(), ["404", "1", "0", "200", "0", "0"], res.stdout)

    def test_http_1_0_client_is_served(self):
        # curl --http1.0 offers ALPN http/1.0 only; it was refused with "no application protocol".
        res, headers = self.post("--http1.0")
        self.assertOk(res)
        self.assertEqual(res.json()["choices"][0]["message"]["role"], "assistant")
        self.assertIn(headers.get("x-proxy-key"), LABELS, headers)

    def test_hop_by_hop_headers_dropped_others_kept(self):
        res, _ = self.post("-H", "Keep-Alive: timeout=5", "-H", "TE: trailers",
                           "-H", "Upgrade: h2c", "-H", "X-Custom-Test: kept")
        self.assertOk(res)
        rec = self.fake.requests(h.CHAT_PATH)[0]
        self.assertEqual(h.header(rec, "X-Custom-Test"), "kept")
        for name in ("Keep-Alive", "TE", "Upgrade", "Proxy-Connection", "Proxy-Authorization"):
            self.assertIsNone(h.header(rec, name), "hop-by-hop header %s was forwarded" % name)

    def test_leaf_certificate_minted_by_proxy_ca(self):
        res = h.curl(h.via_proxy(self.proxy, "-v", "-o", os.devnull, *h.chat_args(), API), metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr)
        ca_subject = h.openssl_text(self.proxy.ca_path, "-subject", "-nameopt", "RFC2253")
        ca_cn = re.search(r"CN=([^,\n]+)", ca_subject).group(1).strip()
        issuer_lines = [l for l in res.stderr.splitlines() if "issuer:" in l]
        self.assertTrue(issuer_lines, res.stderr)
        self.assertIn(ca_cn, issuer_lines[0])
        # Independently of curl: the leaf seen through CONNECT chains to the proxy CA for
        # openrouter.ai, not to the test CA that signed the (fake) upstream certificate.
        leaf = h.openssl_leaf_via_proxy(self.proxy, "openrouter.ai")
        ok, out = h.openssl_verify(leaf, self.proxy.ca_path, "openrouter.ai")
        self.assertTrue(ok, out)
        ok, out = h.openssl_verify(leaf, self.proxy.ca_path, "example.com")
        self.assertFalse(ok, "leaf must not be valid for another name: " + out)
        ok, out = h.openssl_verify(leaf, self.pki.ca_cert)
        self.assertFalse(ok, "the client saw the upstream's certificate, not a minted leaf")
        text = h.openssl_text(leaf, "-text")
        self.assertIn("DNS:openrouter.ai", text)
        self.assertIn("TLS Web Server Authentication", text)
        self.assertIn("prime256v1", text)

    def test_local_ca_created_with_name_constraints(self):
        key_path = os.path.join(self.proxy.dir, "certs", "ca.key")
        self.assertTrue(os.path.exists(self.proxy.ca_path))
        self.assertEqual(stat.S_IMODE(os.stat(key_path).st_mode), 0o600)
        text = h.openssl_text(self.proxy.ca_path, "-text")
        self.assertIn("prime256v1", text)
        self.assertRegex(text, r"Basic Constraints: critical\s+CA:TRUE, pathlen:0")
        self.assertRegex(text, r"Key Usage: critical\s+Certificate Sign, CRL Sign")
        self.assertIn("Subject Key Identifier", text)
        self.assertRegex(text, r"Name Constraints: critical\s+Permitted:\s+DNS:openrouter.ai")

    def test_no_full_key_in_logs(self):
        model = "orp-test/no-key-in-logs-%s" % os.urandom(4).hex()
        res, _ = self.post(body=h.chat_body(model=model))
        self.assertOk(res)
        # This request's access line is flushed on the worker's next turn, maybe after curl is done.
        h.wait_for_access_line(self.proxy, "model=" + model)
        self.assertNoFullKeyIn(self.proxy.all_output(), where="the proxy's log/stderr/stdout")
        self.assertNoFullKeyIn(self.proxy.all_output(), keys=[h.CLIENT_KEY],
                               where="the proxy's log/stderr/stdout")


if __name__ == "__main__":
    unittest.main()
