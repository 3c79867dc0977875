#!/usr/bin/python3
"""Upstream answers whose framing the proxy must apply itself: a 204 or 304 ends at its head,
whatever its Content-Length says (RFC 9112 6.3), and the client is never handed bytes that
follow it."""

import json
import os
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402


class NoBodyStatuses(h.ProxyTestCase):
    OVERRIDES = {"proxy.workers": 1, "upstream.request_timeout": 10}

    def connection(self):
        return h.InterceptedConnection(self.proxy, ssl.create_default_context(cafile=self.proxy.ca_path))

    def test_not_modified_with_a_length_is_answered_at_its_head(self):
        # A valid 304: its Content-Length is the 200's it stands for, and no body follows.
        self.fake.script([{"path": h.CHAT_PATH, "status": 304, "raw_body": "", "declared_length": 1234,
                           "headers": {"ETag": '"x"'}, "times": 1}])
        conn = self.connection()
        try:
            started = time.monotonic()
            status, body = conn.chat()
            self.assertEqual(status, 304, body[:300])
            self.assertLess(time.monotonic() - started, 5, "the proxy waited for a 304's body")
            self.assertEqual(body, b"")
            status, body = conn.chat()  # the client connection is still in step
            self.assertEqual(status, 200, body[:300])
            self.assertEqual(json.loads(body)["object"], "chat.completion")
        finally:
            conn.close()

    def test_bytes_after_a_no_content_answer_are_never_relayed(self):
        self.fake.script([{"path": h.CHAT_PATH, "status": 204, "raw_body": "hello", "times": 1}])
        conn = self.connection()
        try:
            status, body = conn.chat()
            self.assertEqual(status, 204, body[:300])
            self.assertEqual(body, b"")
            status, body = conn.chat()
            self.assertEqual(status, 200, body[:300])
            self.assertEqual(json.loads(body)["object"], "chat.completion")
        finally:
            conn.close()
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), 2)
        # The upstream connection that sent the stray bytes is out of step: not used again.
        self.assertNotEqual(recs[0]["connection_id"], recs[1]["connection_id"])

    def test_an_absolute_form_target_inside_the_tunnel_is_served(self):
        # RFC 9112 3.2.2: a server must accept the absolute form; inside the TLS tunnel it is an
        # https URL (it used to get 400).
        conn = self.connection()
        try:
            status, body = conn.chat(b"https://openrouter.ai/api/v1/chat/completions")
            self.assertEqual(status, 200, body[:300])
            status, body = conn.chat(b"https://OPENROUTER.ai:443/api/v1/chat/completions?x=1")
            self.assertEqual(status, 200, body[:300])
        finally:
            conn.close()
        self.assertEqual([r["path"] for r in self.fake.requests(h.CHAT_PATH)],
                         ["/api/v1/chat/completions", "/api/v1/chat/completions?x=1"])

    def http10_stream(self, events, interval_ms):
        """An HTTP/1.0 streaming request inside the tunnel; the raw answer, read until the close."""
        conn = self.connection()
        try:
            body = h.chat_body(stream=True).encode()
            conn.tls.sendall(b"POST /api/v1/chat/completions HTTP/1.0\r\nHost: openrouter.ai\r\n"
                             b"Authorization: Bearer x\r\nContent-Type: application/json\r\n"
                             b"X-Fake-Events: %d\r\nX-Fake-Interval-Ms: %d\r\n"
                             b"Content-Length: %d\r\n\r\n" % (events, interval_ms, len(body)) + body)
            answer = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                chunk = conn.tls.recv(65536)
                if not chunk:
                    break
                answer += chunk
            return answer
        finally:
            conn.close()

    def test_an_http10_client_never_gets_chunked_framing(self):
        # RFC 9112 6.1: chunked framing must not go to an HTTP/1.0 client. The stream comes
        # chunked from upstream: a body still coming goes out de-chunked until the close.
        head, _, body = self.http10_stream(4, 100).partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head[:200])
        self.assertNotIn(b"transfer-encoding", head.lower())
        self.assertNotIn(b"content-length", head.lower())
        self.assertIn(b"connection: close", head.lower())
        lines = [l for l in body.split(b"\n") if l]
        self.assertTrue(all(l.startswith(b"data: ") for l in lines), body[:500])
        self.assertEqual(lines[-1], b"data: [DONE]")
        self.assertEqual(len(lines), 4 + 2)
        # A stream whose first event is a 400, passed on: de-chunked as well (with a Content-Length
        # when it was whole by then).
        self.fake.script([{"path": h.CHAT_PATH, "times": 1,
                           "stream_error_first": {"code": 400, "message": "bad request"}}])
        head, _, body = self.http10_stream(4, 0).partition(b"\r\n\r\n")
        self.assertNotIn(b"transfer-encoding", head.lower())
        length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
        if length:
            self.assertEqual(int(length[0].split(b":")[1]), len(body))
        self.assertTrue(body.startswith(b"data: "), body[:300])
        self.assertIn(b"bad request", body)

    def test_a_malformed_answer_is_named_as_such(self):
        # Both Content-Length and Transfer-Encoding: the client used to read "network error:
        # Invalid argument"; the parser's own reason says what was wrong.
        self.fake.script([{"path": h.CHAT_PATH, "status": 400, "body": {"error": {"code": 400, "message": "x"}},
                           "headers": {"Transfer-Encoding": "chunked"}}])
        res = h.curl(h.via_proxy(self.proxy, *h.chat_args(), "https://openrouter.ai/api/v1/chat/completions"),
                     metrics=True)
        self.assertEqual(res.status, 502, res.stdout[:300])
        message = json.loads(res.stdout)["error"]["message"]
        self.assertIn("upstream sent a malformed response: Content-Length can't be present with Transfer-Encoding",
                      message)
        h.wait_for_access_line(self.proxy, "malformed response")


if __name__ == "__main__":
    unittest.main()
