#!/usr/bin/python3
"""Base-URL mode: plain HTTP in origin form to the proxy port goes through the same pipeline,
so clients that can set a base URL need no CA at all."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402


class BaseUrlTest(h.ProxyTestCase):
    KEYS = ((h.POOL_KEY_A, "pool-a"),)

    def url(self, path=h.CHAT_PATH):
        return self.proxy.url + path

    def test_origin_form_completion_uses_pool_key(self):
        with tempfile.NamedTemporaryFile(suffix=".headers", delete=False) as f:
            head_path = f.name
        try:
            res = h.curl(["-D", head_path, *h.chat_args(h.chat_body(model="openai/gpt-4o")),
                          self.url()], metrics=True)
            with open(head_path) as f:
                headers = h.parse_header_block(f.read())
        finally:
            os.unlink(head_path)
        self.assertEqual(res.returncode, 0, res.stderr + "\n" + self.proxy.diagnostics())
        self.assertEqual(res.status, 200, res.stdout[:500])
        self.assertEqual(res.json()["model"], "openai/gpt-4o")
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 1)
        h.assert_equal_redacted(self, h.header(recs[0], "Authorization"), "Bearer " + h.POOL_KEY_A)
        # Upstream is addressed as the api_url host, not as the proxy's own address.
        self.assertEqual(h.header(recs[0], "Host"), "openrouter.ai")
        # First: the message of the next assertion prints the headers.
        h.assert_no_key_in(self, str(headers), ("sk-or-v1-test-pool",), "the response headers")
        self.assertEqual(headers.get("x-proxy-key"), "pool-a", headers)

    def test_origin_form_without_client_key(self):
        res = h.curl([*h.chat_args(client_key=None), self.url()], metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr)
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 1)
        h.assert_equal_redacted(self, h.header(recs[0], "Authorization"), "Bearer " + h.POOL_KEY_A)

    def test_origin_form_stream_is_not_buffered(self):
        res = h.curl_stream([*h.chat_args(h.chat_body(stream=True),
                                          extra_headers=["X-Fake-Events: 6", "X-Fake-Interval-Ms: 150"]),
                             self.url()], timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        payloads = res.data_payloads()
        self.assertEqual(len(payloads), 8, res.output[-1000:])
        self.assertEqual(payloads[-1], b"[DONE]")
        arrivals = [t for t, _ in res.events]
        # 6 events 150 ms apart take 0.75 s to send; the first must not wait for the last.
        self.assertGreaterEqual(arrivals[5] - arrivals[0], 0.6, arrivals)

    def test_keep_alive_client_connection(self):
        res = h.curl([*h.chat_args(), *([self.url()] * 5)], metrics=True)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual([m.get("http_code") for m in res.all_metrics], [200] * 5)
        # curl reuses its connection to the proxy: only the first transfer connects.
        self.assertEqual([m.get("num_connects") for m in res.all_metrics], [1, 0, 0, 0, 0])
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 5)


if __name__ == "__main__":
    unittest.main()
