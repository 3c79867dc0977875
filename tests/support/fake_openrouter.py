#!/usr/bin/python3
"""A fake OpenRouter API over TLS, for the end-to-end tests.

Run as a script:
    fake_openrouter.py --cert C --key K [--port 0] [--events 5] [--interval-ms 0]
prints one JSON line {"port": N} to stdout, then serves until SIGTERM/SIGINT.

Or import it: FakeOpenRouterServer(cert, key).start() serves on a background thread.

API surface (all on the same TLS port):
  POST /api/v1/chat/completions   completion JSON, or an SSE stream when the body has "stream": true.
                                  Request headers X-Fake-Events / X-Fake-Interval-Ms /
                                  X-Fake-Processing-Comments override the stream shape.
  GET  /api/v1/key                key info for the bearer key (see /_fake/config "key_info").
  POST /_fake/script              {"rules": [...]} replaces the rule list (see Rule below).
  POST /_fake/script?append=1     appends instead.
  POST /_fake/config              {"events": N, "interval_ms": N, "processing_comments": N,
                                   "key_info": {"<key>": {"limit_remaining": 0, ...}}}
  POST /_fake/reset               clears rules, records, counters and config overrides.
  GET  /_fake/requests            the record of every API request received.
  GET  /_fake/stats               connection counters (keep-alive reuse, closes).
  GET  /_fake/rules               the current rules with their remaining "times".

Everything is bounded: socket timeouts on every read, hold_open streams end after 60 s at most.
Only the standard library is used.
"""

import argparse
import hashlib
import itertools
import json
import os
import select
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

API_PREFIX = "/api/v1"
HOLD_OPEN_MAX_SECONDS = 60.0
MAX_BODY = 256 * 1024 * 1024
KEEP_BODY_BELOW = 64 * 1024  # request bodies smaller than this are kept verbatim in the record
STREAM_RULE_KEYS = ("stream_error_first", "stream_error_after", "hold_open")


def canonical_header_name(name):
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def openrouter_error(code, message, metadata=None):
    err = {"code": code, "message": message}
    if metadata is not None:
        err["metadata"] = metadata
    return {"error": err}


def mask_key(key):
    if not key:
        return ""
    return key[:9] + "…" + key[-4:] if len(key) > 13 else "…" + key[-4:]


class FakeState:
    """Everything the fake knows: rules, records, counters. Guarded by one lock."""

    def __init__(self, events=5, interval_ms=0, processing_comments=0, idle_timeout=120.0):
        self.lock = threading.Lock()
        self.default_events = events
        self.default_interval_ms = interval_ms
        self.default_processing_comments = processing_comments
        self.idle_timeout = idle_timeout
        self.conn_ids = itertools.count(1)
        self.req_ids = itertools.count(1)
        self.completion_ids = itertools.count(1)
        self._reset_locked()
        self.connections_open = 0
        self.open_connections = {}  # id -> info dict, survives reset

    def _reset_locked(self):
        self.epoch = getattr(self, "epoch", 0) + 1
        self.rules = []
        self.records = []
        self.connections_accepted = 0
        self.handshakes_failed = 0
        self.closed = []
        self.requests_total = 0
        self.events = self.default_events
        self.interval_ms = self.default_interval_ms
        self.processing_comments = self.default_processing_comments
        self.key_info = {}

    def reset(self):
        with self.lock:
            self._reset_locked()

    # ---- connections -------------------------------------------------------------------------
    def connection_opened(self):
        with self.lock:
            cid = next(self.conn_ids)
            self.connections_accepted += 1
            self.connections_open += 1
            self.open_connections[cid] = {"connection_id": cid, "opened_at": time.time(),
                                          "opened_at_monotonic": time.monotonic(), "requests": 0,
                                          "epoch": self.epoch}
            return cid

    def connection_is_control(self, cid):
        """A connection whose first request is a /_fake/ call is the harness, not the proxy:
        it is left out of every counter so that a stats call does not count itself."""
        with self.lock:
            info = self.open_connections.get(cid)
            if info is None or "kind" in info:
                return
            info["kind"] = "control"
            self.connections_open -= 1
            if info["epoch"] == self.epoch:  # counted since the last reset
                self.connections_accepted -= 1

    def connection_is_api(self, cid):
        with self.lock:
            info = self.open_connections.get(cid)
            if info is not None:
                info.setdefault("kind", "api")

    def connection_tls(self, cid, sni, alpn, version):
        with self.lock:
            info = self.open_connections.get(cid)
            if info is not None:
                info.update({"sni": sni, "alpn": alpn, "tls_version": version})

    def connection_closed(self, cid, reason, handshake_ok=True):
        with self.lock:
            info = self.open_connections.pop(cid, None)
            if info is None:
                return
            if info.get("kind") == "control":
                return
            self.connections_open -= 1
            if not handshake_ok:
                self.handshakes_failed += 1
            info = dict(info)
            info.update({"closed_at": time.time(), "closed_at_monotonic": time.monotonic(),
                         "reason": reason, "handshake_ok": handshake_ok})
            self.closed.append(info)

    def stats(self):
        with self.lock:
            return {
                "connections_accepted": self.connections_accepted,
                "connections_open": self.connections_open,
                "open": [dict(v) for v in self.open_connections.values()
                         if v.get("kind") != "control"],
                "closed": [dict(c) for c in self.closed],
                "handshakes_failed": self.handshakes_failed,
                "requests": self.requests_total,
            }

    # ---- requests and rules ------------------------------------------------------------------
    def record(self, rec):
        with self.lock:
            rec["id"] = next(self.req_ids)
            self.requests_total += 1
            info = self.open_connections.get(rec["connection_id"])
            if info is not None:
                info["requests"] += 1
            self.records.append(rec)
            return rec

    def update_record(self, rec, **fields):
        with self.lock:
            rec.update(fields)

    def set_rules(self, rules, append=False):
        for r in rules:
            if not isinstance(r, dict):
                raise ValueError("each rule must be an object")
        with self.lock:
            prepared = [dict(r, _index=i) for i, r in
                        enumerate(rules, start=len(self.rules) if append else 0)]
            self.rules = (self.rules + prepared) if append else prepared

    def take_rule(self, key, method, path, model):
        """The first matching rule with uses left; decrements its count."""
        with self.lock:
            for rule in self.rules:
                rkey = rule.get("key", "*")
                if rkey not in ("*", None) and rkey != key:
                    continue
                if "path" in rule and not path.startswith(rule["path"]):
                    continue
                if "method" in rule and rule["method"].upper() != method:
                    continue
                if "model" in rule and rule["model"] != model:
                    continue
                times = rule.get("times")
                if times is not None:
                    if times <= 0:
                        continue
                    rule["times"] = times - 1
                rule["used"] = rule.get("used", 0) + 1
                return dict(rule)
            return None

    def snapshot(self):
        with self.lock:
            return [dict(r) for r in self.records]

    def rules_snapshot(self):
        with self.lock:
            return [dict(r) for r in self.rules]


class ClientGone(Exception):
    """The peer closed the connection or a write failed."""


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenRouter/1.0"
    sys_version = ""

    def version_string(self):
        return self.server_version

    # ---- connection life ---------------------------------------------------------------------
    def setup(self):
        state = self.server.state
        self.connection_id = state.connection_opened()
        self.handshake_ok = False
        self.close_reason = "eof"
        sock = self.request
        sock.settimeout(10)
        try:
            sock.do_handshake()
        except (OSError, ssl.SSLError) as exc:
            state.connection_closed(self.connection_id, "handshake failed: %s" % exc, False)
            self.connection_id = None
            raise
        self.handshake_ok = True
        state.connection_tls(self.connection_id, getattr(sock, "fake_sni", None),
                             sock.selected_alpn_protocol(), sock.version())
        sock.settimeout(state.idle_timeout)
        super().setup()

    def handle(self):
        try:
            super().handle()
        except ClientGone:
            self.close_reason = "client gone"
            self.close_connection = True
        except (socket.timeout, TimeoutError):
            self.close_reason = "timeout"
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            self.close_reason = "error: %s" % exc.__class__.__name__

    def finish(self):
        try:
            super().finish()
        except (OSError, ssl.SSLError):
            pass
        finally:
            if self.connection_id is not None:
                self.server.state.connection_closed(self.connection_id, self.close_reason)
                self.connection_id = None

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake_openrouter: %s\n" % (fmt % args))

    # ---- low-level I/O -----------------------------------------------------------------------
    def _write(self, data):
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ClientGone(str(exc)) from exc

    def _peer_closed(self):
        """True when the client has closed its side (readable with EOF, or reset)."""
        sock = self.request
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        if not readable:
            return False
        try:
            sock.settimeout(0.05)
            data = sock.recv(1)
        except (ssl.SSLWantReadError, socket.timeout, TimeoutError):
            return False
        except (OSError, ssl.SSLError):
            return True
        finally:
            try:
                sock.settimeout(self.server.state.idle_timeout)
            except OSError:
                pass
        return data == b""

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ClientGone("eof in chunked body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(8192)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        data = self.rfile.read(length) if length else b""
        if len(data) != length:
            raise ClientGone("short body")
        return data

    def _send_json(self, status, obj, headers=None, raw=None, declared_length=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body) if declared_length is None else declared_length))
        self.end_headers()
        self._write(body)

    def _start_sse(self, headers=None):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()

    def _pause(self, seconds):
        """Sleeps like a slow model, but notices a peer that hangs up meanwhile, as a real server
        does: the proxy sends nothing more before its answer, so readable means gone."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            readable, _, _ = select.select([self.request], [], [], left)
            if readable:
                raise ClientGone()

    def _chunk(self, data):
        self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_chunks(self):
        self._write(b"0\r\n\r\n")

    def _event(self, obj):
        payload = obj if isinstance(obj, str) else json.dumps(obj)
        self._chunk(b"data: " + payload.encode() + b"\n\n")

    # ---- dispatch ----------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        url = urlsplit(self.path)
        path = url.path
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._send_json(413 if "large" in str(exc) else 400,
                            openrouter_error(400, "fake: bad body: %s" % exc))
            return
        if path.startswith("/_fake/"):
            self.server.state.connection_is_control(self.connection_id)
            self._control(method, path, parse_qs(url.query), body)
            return
        self.server.state.connection_is_api(self.connection_id)
        self.close_after_response = False
        self.unsolicited = None
        self._api(method, path, body)
        if self.unsolicited is not None:
            self._send_unsolicited(*self.unsolicited)
        if self.close_after_response:
            # The answer is complete and said nothing of closing (no "Connection: close"): the
            # client keeps the connection for its next request, and finds it closed when it
            # sends on it.
            self.close_connection = True
            self.close_reason = "closed after response by rule"

    def _send_unsolicited(self, delay_ms, rec):
        # A misbehaving upstream: a second, unrequested response on the kept-alive connection.
        time.sleep(delay_ms / 1000.0)
        body = b'{"unasked":true}'
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                             % len(body) + body)
            self.wfile.flush()
        except OSError:
            return
        self.server.state.update_record(rec, unsolicited_sent_at_monotonic=time.monotonic())

    def _control(self, method, path, query, body):
        state = self.server.state
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            self._send_json(400, {"error": "bad json"})
            return
        if path == "/_fake/script" and method == "POST":
            try:
                state.set_rules(payload.get("rules", []), append="append" in query)
            except ValueError as exc:
                self._send_json(400, {"error": str(exc)})
                return
            self._send_json(200, {"ok": True, "rules": len(state.rules_snapshot())})
        elif path == "/_fake/reset" and method == "POST":
            state.reset()
            self._send_json(200, {"ok": True})
        elif path == "/_fake/config" and method == "POST":
            with state.lock:
                if "events" in payload:
                    state.events = int(payload["events"])
                if "interval_ms" in payload:
                    state.interval_ms = float(payload["interval_ms"])
                if "processing_comments" in payload:
                    state.processing_comments = int(payload["processing_comments"])
                if "key_info" in payload:
                    state.key_info.update(payload["key_info"])
            self._send_json(200, {"ok": True})
        elif path == "/_fake/requests" and method == "GET":
            self._send_json(200, state.snapshot())
        elif path == "/_fake/stats" and method == "GET":
            self._send_json(200, state.stats())
        elif path == "/_fake/rules" and method == "GET":
            self._send_json(200, state.rules_snapshot())
        else:
            self._send_json(404, {"error": "no such control endpoint"})

    def _api(self, method, path, body):
        state = self.server.state
        auth = self.headers.get("Authorization") or ""
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        parsed = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        model = parsed.get("model") if isinstance(parsed, dict) else None
        stream = bool(parsed.get("stream")) if isinstance(parsed, dict) else False
        headers = {}
        for name, value in self.headers.items():
            cname = canonical_header_name(name)
            headers[cname] = value if cname not in headers else headers[cname] + ", " + value
        rec = {
            "method": method,
            "path": self.path,
            "headers": headers,
            "raw_headers": [[n, v] for n, v in self.headers.items()],
            "key": key,
            "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body": body.decode("utf-8", "replace") if len(body) < KEEP_BODY_BELOW else None,
            "model": model,
            "stream": stream,
            "connection_id": self.connection_id,
            "received_at": time.time(),
            "received_at_monotonic": time.monotonic(),
            "http_version": self.request_version,
        }
        state.record(rec)

        rule = state.take_rule(key, method, urlsplit(self.path).path, model)
        if rule is not None:
            state.update_record(rec, rule=rule.get("_index"))
            self.close_after_response = bool(rule.get("close_after_response"))
            if rule.get("unsolicited_after_ms") is not None:
                self.unsolicited = (float(rule["unsolicited_after_ms"]), rec)
            if rule.get("delay_ms"):
                self._pause(float(rule["delay_ms"]) / 1000.0)
            if rule.get("close_connection"):  # drop the connection without any answer
                state.update_record(rec, status=0)
                self.close_connection = True
                self.close_reason = "rule closed connection"
                try:
                    self.request.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if "status" in rule and rule["status"] != 200 or "body" in rule or "raw_body" in rule:
                status = int(rule.get("status", 200))
                state.update_record(rec, status=status)
                raw = rule["raw_body"].encode() if "raw_body" in rule else None
                obj = rule.get("body")
                if obj is None and raw is None:
                    obj = openrouter_error(status, "fake scripted error %d" % status)
                self._send_json(status, obj, rule.get("headers"), raw, rule.get("declared_length"))
                return

        if path == API_PREFIX + "/chat/completions" and method == "POST":
            if key is None:
                state.update_record(rec, status=401)
                self._send_json(401, openrouter_error(401, "No auth credentials found"))
                return
            if body and parsed is None:
                state.update_record(rec, status=400)
                self._send_json(400, openrouter_error(400, "Invalid JSON in request body"))
                return
            state.update_record(rec, status=200)
            # Stream-shaped rules imply a stream even when the body did not ask for one.
            if stream or any(k in (rule or {}) for k in STREAM_RULE_KEYS):
                self._stream(rec, parsed, model, rule)
            else:
                self._completion(parsed, model, rule)
        elif path == API_PREFIX + "/key" and method == "GET":
            if key is None:
                state.update_record(rec, status=401)
                self._send_json(401, openrouter_error(401, "No auth credentials found"))
                return
            with state.lock:
                info = dict(state.key_info.get(key, {}))
            data = {"label": mask_key(key), "limit": None, "limit_remaining": None,
                    "usage": 0, "is_free_tier": False, "is_provisioning_key": False,
                    "rate_limit": {"requests": -1, "interval": "10s"}}
            data.update(info)
            state.update_record(rec, status=200)
            self._send_json(200, {"data": data}, (rule or {}).get("headers"))
        else:
            state.update_record(rec, status=404)
            self._send_json(404, openrouter_error(404, "Not Found"))

    # ---- completions -------------------------------------------------------------------------
    def _usage(self, completion_tokens):
        return {"prompt_tokens": 12, "completion_tokens": completion_tokens,
                "total_tokens": 12 + completion_tokens, "cost": 0.000042}

    def _completion(self, parsed, model, rule):
        n = next(self.server.state.completion_ids)
        obj = {
            "id": "gen-fake-%d" % n,
            "provider": "FakeProvider",
            "model": model or "openai/gpt-4o-mini",
            "object": "chat.completion",
            "created": int(time.time()),
            "choices": [{"index": 0, "finish_reason": "stop", "native_finish_reason": "stop",
                         "logprobs": None,
                         "message": {"role": "assistant", "content": "Hello from the fake.",
                                     "refusal": None}}],
            "usage": self._usage(5),
        }
        self._send_json(200, obj, (rule or {}).get("headers"))

    def _int_header(self, name, default):
        value = self.headers.get(name)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            return default

    def _stream(self, rec, parsed, model, rule):
        state = self.server.state
        rule = rule or {}
        with state.lock:
            events = state.events
            interval_ms = state.interval_ms
            comments = state.processing_comments
        events = int(rule.get("events", self._int_header("X-Fake-Events", events)))
        interval = float(rule.get("interval_ms",
                                  self._int_header("X-Fake-Interval-Ms", interval_ms))) / 1000.0
        comments = int(rule.get("processing_comments",
                                self._int_header("X-Fake-Processing-Comments", comments)))
        model = model or "openai/gpt-4o-mini"
        gen_id = "gen-fake-%d" % next(state.completion_ids)
        created = int(time.time())

        def chunk(i, content, finish=None, usage=None):
            obj = {"id": gen_id, "provider": "FakeProvider", "model": model,
                   "object": "chat.completion.chunk", "created": created,
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": content},
                                "finish_reason": finish, "native_finish_reason": finish,
                                "logprobs": None}]}
            if usage is not None:
                obj["usage"] = usage
            return obj

        def as_error_event(err):
            err = err if "error" in err else {"error": err}
            return dict({"id": gen_id, "object": "chat.completion.chunk", "created": created,
                         "model": model, "provider": "FakeProvider",
                         "choices": [{"index": 0, "delta": {"content": ""},
                                      "finish_reason": "error"}]}, **err)

        # A model slow to its first token: the comments come this far apart.
        comment_interval = float(rule.get("processing_interval_ms", 0)) / 1000.0
        self._start_sse(rule.get("headers"))
        for i in range(comments):
            if i and comment_interval:
                self._pause(comment_interval)
            self._chunk(b": OPENROUTER PROCESSING\n\n")

        if "stream_error_first" in rule:
            self._event(as_error_event(rule["stream_error_first"]))
            self._end_chunks()
            state.update_record(rec, stream_result="error_first")
            return

        if rule.get("hold_open"):
            deadline = time.monotonic() + min(float(rule.get("max_seconds", HOLD_OPEN_MAX_SECONDS)),
                                              HOLD_OPEN_MAX_SECONDS)
            interval = interval if interval > 0 else 0.1
            i = 0
            while time.monotonic() < deadline:
                self._event(chunk(i, "tok%d " % i))
                i += 1
                state.update_record(rec, events_sent=i)
                end = time.monotonic() + interval
                while time.monotonic() < end:
                    if self._peer_closed():
                        state.update_record(rec, stream_result="client gone")
                        raise ClientGone("peer closed during hold_open")
                    time.sleep(min(0.02, max(0.0, end - time.monotonic())))
            self._event(chunk(i, "", "length", self._usage(i)))
            self._chunk(b"data: [DONE]\n\n")
            self._end_chunks()
            state.update_record(rec, stream_result="hold_open expired")
            return

        error_after = rule.get("stream_error_after")
        if error_after is not None:
            events = max(events, int(error_after) + 1)
        for i in range(events):
            if error_after is not None and i == int(error_after):
                if rule.get("cut_connection"):
                    state.update_record(rec, stream_result="cut", events_sent=i)
                    self.close_connection = True
                    self.close_reason = "cut by rule"
                    try:
                        self.request.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    raise ClientGone("cut by rule")
                err = rule.get("stream_error") or openrouter_error(
                    502, "Provider disconnected", {"error_type": "provider_error"})
                self._event(as_error_event(err))
                self._end_chunks()
                state.update_record(rec, stream_result="error_after", events_sent=i)
                return
            if i > 0 and interval > 0:
                time.sleep(interval)
            self._event(chunk(i, "tok%d " % i))
            state.update_record(rec, events_sent=i + 1)
        self._event(chunk(events, "", "stop", self._usage(events)))
        self._chunk(b"data: [DONE]\n\n")
        self._end_chunks()
        state.update_record(rec, stream_result="complete")


class FakeOpenRouterServer(ThreadingHTTPServer):
    """TLS is set up per connection in the handler thread (do_handshake_on_connect=False)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, cert, key, host="127.0.0.1", port=0, events=5, interval_ms=0,
                 processing_comments=0, idle_timeout=120.0, verbose=False):
        self.state = FakeState(events, interval_ms, processing_comments, idle_timeout)
        self.verbose = verbose
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["http/1.1"])

        def remember_sni(sslsock, name, _ctx):
            try:
                sslsock.fake_sni = name
            except AttributeError:
                pass
            return None

        ctx.sni_callback = remember_sni
        self.ssl_context = ctx
        self._thread = None
        super().__init__((host, port), FakeHandler)

    @property
    def port(self):
        return self.server_address[1]

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.ssl_context.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)

    def start(self):
        """Serve on a daemon thread (for in-process use)."""
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake OpenRouter over TLS (tests only)")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--events", type=int, default=5)
    ap.add_argument("--interval-ms", type=float, default=0)
    ap.add_argument("--processing-comments", type=int, default=0)
    ap.add_argument("--idle-timeout", type=float, default=120.0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    server = FakeOpenRouterServer(args.cert, args.key, args.host, args.port, args.events,
                                  args.interval_ms, args.processing_comments, args.idle_timeout,
                                  args.verbose)

    def on_signal(signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.stdout.write(json.dumps({"port": server.port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.1)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
