#!/usr/bin/python3
"""Key state over the proxy's life: the state file across a restart, keys.csv reloads (SIGHUP
and a changed file, a malformed new file keeping the old pool), graceful SIGTERM, and no pool
key in full in the log or the state file."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API = "https://openrouter.ai/api/v1/chat/completions"

KEY_A = "sk-or-v1-test-persist-a-4d9b2e7f1c3a5068"
KEY_B = "sk-or-v1-test-persist-b-7e1a3c5b9d2f4086"
KEY_C = "sk-or-v1-test-persist-c-0f6d8b2a4c1e3597"
KEY_D = "sk-or-v1-test-persist-d-5a2c7e9b1d3f4608"
PLAIN_KEY = "plainkey0123456789abcdefXYZ"  # a pool key not in sk-or-v1 form
ALL_KEYS = (KEY_A, KEY_B, KEY_C, KEY_D, PLAIN_KEY)
LABEL = {KEY_A: "per-a", KEY_B: "per-b", KEY_C: "per-c", KEY_D: "per-d", PLAIN_KEY: "plain"}
OVERRIDES = {"proxy.workers": 2, "keys.key_recovery_interval": 3600, "retry.retry_delay": 0.05,
             "keys.strategy": "round_robin"}
STATE_FILE = os.path.join("data", "key_state.json")

ERR_401 = {"error": {"code": 401, "message": "User not found."}}


def key_name(key):
    """A pool key by its label, any other key by its last four characters: safe to print."""
    return LABEL.get(key) or h.redact(key, ALL_KEYS)


class PersistenceTest(h.FreshProxyTestCase):
    def post(self, proxy, body=None, status=200):
        res, headers = h.curl_with_headers(h.via_proxy(proxy, *h.chat_args(body), API))
        self.assertEqual(res.returncode, 0, "curl failed: %s\n%s" % (res.stderr, proxy.diagnostics()))
        if status is not None:
            self.assertEqual(res.status, status, "%r\n%s" % (h.redact(res.stdout[:500], ALL_KEYS), proxy.diagnostics()))
        return res, headers

    def chat_keys(self):
        """The keys of the completions the fake saw, by label (safe to print; see key_name)."""
        return [key_name(r["key"]) for r in self.fake.requests(h.CHAT_PATH)]

    def state_of(self, proxy, label):
        """The state the state file gives the key labelled `label` (None while there is none)."""
        try:
            doc = json.loads(self.read_state(proxy) or "")
        except ValueError:  # not written yet (it is replaced atomically, never half-written)
            return None
        return next((k.get("state") for k in doc.get("keys", []) if k.get("label") == label), None)

    def state_path(self, proxy):
        return os.path.join(proxy.dir, STATE_FILE)

    def read_state(self, proxy):
        try:
            with open(self.state_path(proxy), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def wait_for_label(self, proxy, label, timeout=15):
        """Send requests until one is served by `label` (round robin reaches every key)."""
        seen = []

        def served():
            _, headers = self.post(proxy)
            seen.append(headers.get("x-proxy-key"))
            return seen[-1] == label
        try:
            h.wait_until(served, timeout, interval=0.1, message="key %s serving" % label)
        except AssertionError as exc:
            raise AssertionError("%s; labels seen: %s\n%s" % (exc, seen[-10:], proxy.diagnostics())) from None
        return seen

    def assertNoPoolKeyIn(self, text, where):
        h.assert_no_key_in(self, text, ALL_KEYS, where)

    def wait_for_access_lines(self, proxy, count):
        """Each request's access line is flushed after its answer: all `count` in before a look at
        what the log does not hold."""
        h.wait_for_access_lines(proxy, count)

    # -------------------------------------------------------------------------------------------
    def test_disabled_key_stays_disabled_across_restart(self):
        proxy = self.start_proxy(((KEY_A, "per-a"), (KEY_B, "per-b")), OVERRIDES)
        self.fake.script([{"key": KEY_A, "path": h.CHAT_PATH, "status": 401, "body": ERR_401}])
        for _ in range(3):
            _, headers = self.post(proxy)
            self.assertEqual(headers.get("x-proxy-key"), "per-b")
        self.assertEqual(self.chat_keys().count("per-a"), 1)
        # Written soon after the change, not only at shutdown.
        h.wait_until(lambda: self.state_of(proxy, "per-a") == "disabled_invalid", 10, interval=0.1,
                     message="the state file giving per-a as disabled_invalid (it gives %r)\n%s"
                     % (self.state_of(proxy, "per-a"), proxy.diagnostics()))

        proxy.restart()
        # A would answer 200 now (chat and /key): only the persisted state keeps it out.
        self.fake.reset()
        # Requests over a window long enough for the proxy's background work to run several
        # times: with key_recovery_interval = 3600 not even a probe of A is due.
        window_end = time.monotonic() + 2.0
        served = 0
        while time.monotonic() < window_end or served < 6:
            _, headers = self.post(proxy)
            self.assertEqual(headers.get("x-proxy-key"), "per-b",
                             "%s\n%s" % (h.redact(headers, ALL_KEYS), proxy.diagnostics()))
            served += 1
            time.sleep(0.05)
        seen = [(r["method"], r["path"], key_name(r["key"])) for r in self.fake.requests()]
        self.assertEqual([s for s in seen if s[2] == "per-a"], [],
                         "the key disabled before the restart reached the upstream")
        self.assertEqual([s[2] for s in seen].count("per-b"), served)
        self.assertNoPoolKeyIn(self.read_state(proxy), "the state file")

    def test_disabled_key_not_used_after_restart_while_key_endpoint_refuses_it(self):
        # Persistence alone, whatever the probing policy at start: /key still refuses A, so
        # only the restored state can explain A not being chosen for completions.
        proxy = self.start_proxy(((KEY_A, "per-a"), (KEY_B, "per-b")), OVERRIDES)
        self.fake.script([{"key": KEY_A, "path": h.CHAT_PATH, "status": 401, "body": ERR_401}])
        for _ in range(3):
            self.post(proxy)
        self.assertEqual(self.chat_keys().count("per-a"), 1)
        proxy.restart()
        self.fake.reset()
        self.fake.script([{"key": KEY_A, "path": "/api/v1/key", "status": 401, "body": ERR_401}])
        window_end = time.monotonic() + 1.5
        served = 0
        while time.monotonic() < window_end or served < 6:
            _, headers = self.post(proxy)
            self.assertEqual(headers.get("x-proxy-key"), "per-b", h.redact(headers, ALL_KEYS))
            served += 1
            time.sleep(0.05)
        self.assertNotIn("per-a", self.chat_keys(), "the key disabled before the restart was used")

    def test_a_key_disabled_long_ago_is_probed_soon_after_a_restart(self):
        # The probe schedule survives a restart: a proxy restarted more often than
        # key_recovery_interval (3600 s here) used to put each probe a whole interval after its
        # start, and so never probed. The state file says when the key was disabled; moved two
        # hours back, the probe is due at once.
        proxy = self.start_proxy(((KEY_A, "per-a"), (KEY_B, "per-b")), OVERRIDES)
        self.fake.script([{"key": KEY_A, "path": h.CHAT_PATH, "status": 401, "body": ERR_401}])
        for _ in range(3):
            self.post(proxy)
        h.wait_until(lambda: self.state_of(proxy, "per-a") == "disabled_invalid", 10, interval=0.1,
                     message="per-a disabled in the state file\n" + proxy.diagnostics())
        proxy.stop()
        doc = json.loads(self.read_state(proxy))
        entry = next(k for k in doc["keys"] if k["label"] == "per-a")
        self.assertAlmostEqual(entry["last_probe_ms"] / 1000, time.time(), delta=60)
        entry["last_probe_ms"] -= 2 * 3600 * 1000
        with open(self.state_path(proxy), "w", encoding="utf-8") as f:
            json.dump(doc, f)
        self.fake.reset()  # /key answers 200 with credit: the probe brings per-a back
        proxy.start()
        h.wait_until(lambda: "per-a" in [key_name(r["key"]) for r in self.fake.requests("/api/v1/key")], 5,
                     interval=0.1, message="a probe of per-a soon after the start\n" + proxy.diagnostics())
        h.wait_until(lambda: "per-a disabled_invalid -> active" in proxy.log_text(), 5,
                     message="per-a back after its probe\n" + proxy.diagnostics())

    def test_a_corrupt_state_file_is_set_aside_not_overwritten(self):
        proxy = self.start_proxy(((KEY_A, "per-a"),), OVERRIDES)
        proxy.stop()
        with open(self.state_path(proxy), "w", encoding="utf-8") as f:
            f.write('{"version": 1, "keys": [')
        proxy.start()
        aside = [n for n in os.listdir(os.path.dirname(self.state_path(proxy))) if ".corrupt-" in n]
        self.assertEqual(len(aside), 1, os.listdir(os.path.dirname(self.state_path(proxy))))
        self.assertRegex(aside[0], r"^key_state\.json\.corrupt-\d{8}T\d{6}Z$")
        with open(os.path.join(proxy.dir, "data", aside[0]), encoding="utf-8") as f:
            self.assertEqual(f.read(), '{"version": 1, "keys": [')
        self.assertIn("corrupt state file", proxy.log_text())
        self.assertIn("set aside as " + os.path.join(proxy.dir, "data", aside[0]), proxy.log_text())
        self.assertEqual(proxy.stop(), 0)
        json.loads(self.read_state(proxy))  # a fresh one in its place

    def test_sighup_adds_a_key_that_then_serves(self):
        proxy = self.start_proxy(((KEY_A, "per-a"),), OVERRIDES)
        _, headers = self.post(proxy)
        self.assertEqual(headers.get("x-proxy-key"), "per-a")
        proxy.write_keys([(KEY_A, "per-a"), (KEY_C, "per-c")])
        proxy.send_signal(signal.SIGHUP)
        self.wait_for_label(proxy, "per-c")
        self.assertTrue(proxy.alive(), "SIGHUP killed the proxy\n" + proxy.diagnostics())
        self.assertIn("per-c", self.chat_keys())
        # Both keys now share the work.
        labels = [self.post(proxy)[1].get("x-proxy-key") for _ in range(4)]
        self.assertEqual(sorted(set(labels)), ["per-a", "per-c"], labels)

    def test_sighup_removed_key_is_no_longer_chosen(self):
        proxy = self.start_proxy(((KEY_A, "per-a"), (KEY_B, "per-b")), OVERRIDES)
        self.post(proxy)
        proxy.write_keys([(KEY_B, "per-b"), (KEY_C, "per-c")])
        proxy.send_signal(signal.SIGHUP)
        self.wait_for_label(proxy, "per-c")  # the new file is in force
        self.fake.reset()
        labels = [self.post(proxy)[1].get("x-proxy-key") for _ in range(6)]
        self.assertNotIn("per-a", labels)
        self.assertNotIn("per-a", self.chat_keys(), "a removed key was still used")

    def test_changed_keys_csv_reloads_without_signal(self):
        proxy = self.start_proxy(((KEY_A, "per-a"),), OVERRIDES)
        self.post(proxy)
        proxy.write_keys([(KEY_A, "per-a"), (KEY_D, "per-d")])
        self.wait_for_label(proxy, "per-d", timeout=20)
        self.assertIn("per-d", self.chat_keys())

    def test_malformed_keys_csv_on_sighup_keeps_old_pool(self):
        proxy = self.start_proxy(((KEY_A, "per-a"), (KEY_B, "per-b")), OVERRIDES)
        self.post(proxy)
        # Line 4 repeats the key of line 3.
        proxy.write_keys("key,label,weight\n%s,per-c,\n%s,per-d,\n%s,per-d2,\n" % (KEY_C, KEY_D, KEY_D))
        proxy.send_signal(signal.SIGHUP)
        pattern = re.compile(r"keys\.csv(:| line |, line |.{0,40}line )4\b", re.I)
        h.wait_until(lambda: pattern.search(proxy.log_text()), 10, interval=0.1,
                     message="a logged error naming keys.csv line 4\n" + proxy.diagnostics())
        self.assertTrue(proxy.alive(), "a bad keys.csv killed the proxy\n" + proxy.diagnostics())
        self.fake.reset()
        labels = [self.post(proxy)[1].get("x-proxy-key") for _ in range(6)]
        self.assertEqual(sorted(set(labels)), ["per-a", "per-b"], labels)
        self.assertTrue(set(self.chat_keys()) <= {"per-a", "per-b"}, self.chat_keys())
        self.wait_for_access_lines(proxy, 7)
        self.assertNoPoolKeyIn(proxy.all_output(), "the proxy's output")

    def test_malformed_line_on_sighup_is_named(self):
        proxy = self.start_proxy(((KEY_A, "per-a"),), OVERRIDES)
        self.post(proxy)
        proxy.write_keys("# pool\nkey,label,weight\n%s,per-c,heavy\n" % KEY_C)
        proxy.send_signal(signal.SIGHUP)
        pattern = re.compile(r"keys\.csv(:| line |, line |.{0,40}line )3\b", re.I)
        h.wait_until(lambda: pattern.search(proxy.log_text()), 10, interval=0.1,
                     message="a logged error naming keys.csv line 3\n" + proxy.diagnostics())
        for _ in range(3):
            self.assertEqual(self.post(proxy)[1].get("x-proxy-key"), "per-a")
        self.assertNotIn("per-c", self.chat_keys())

    def test_key_in_the_label_column_on_sighup_keeps_old_pool_and_is_not_logged(self):
        proxy = self.start_proxy(((KEY_A, "per-a"),), OVERRIDES)
        self.post(proxy)
        proxy.write_keys("%s,per-a\nteam-c,%s\n" % (KEY_A, KEY_C))
        proxy.send_signal(signal.SIGHUP)
        h.wait_until(lambda: "keys.csv:2: the label column holds" in proxy.log_text(), 10, interval=0.1,
                     message="a logged refusal naming keys.csv line 2\n" + proxy.diagnostics())
        for _ in range(3):
            self.assertEqual(self.post(proxy)[1].get("x-proxy-key"), "per-a")
        self.assertNotIn("per-c", self.chat_keys())
        status, body = proxy.admin_get("/keys")
        self.assertEqual(status, 200)
        self.assertNotIn(b"team-c", body)
        self.wait_for_access_lines(proxy, 4)
        self.assertNoPoolKeyIn(proxy.all_output(), "the proxy's output")

    def streaming(self):
        return any((r.get("events_sent") or 0) >= 2 for r in self.fake.requests(h.CHAT_PATH))

    def sigterm_when(self, proxy, condition):
        """SIGTERMs the proxy from a thread once `condition` holds (within 10 s): ([when], thread)."""
        signalled = []

        def terminate():
            try:
                h.wait_until(condition, 10)
                signalled.append(time.monotonic())
                proxy.send_signal(signal.SIGTERM)
            except AssertionError:
                pass

        thread = threading.Thread(target=terminate, daemon=True)
        thread.start()
        return signalled, thread

    def test_a_second_proxy_on_the_same_state_file_is_refused(self):
        # Two instances in one directory would overwrite each other's key state.
        first = self.start_proxy(((KEY_A, "per-a"),), OVERRIDES)
        second = subprocess.run([h.binary_path(), "run", "--config", first.config_path, "--listen", "127.0.0.1:0",
                                 "--set", "admin.listen="], cwd=first.dir, capture_output=True, text=True,
                                timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual(second.returncode, 2, second.stderr)
        self.assertIn("another openrouter-proxy (pid %d) is running with this state file" % first.proc.pid,
                      second.stderr)
        self.assertIn("keys.state_file", second.stderr)
        self.assertEqual(self.post(first)[0].status, 200)  # the first one goes on
        # Once the first has stopped, the lock is free (the kernel drops it with the process).
        first.send_signal(signal.SIGTERM)
        self.assertEqual(first.stop(), 0)
        first.start()
        self.assertEqual(self.post(first)[0].status, 200)

    def test_sigterm_exits_0_and_saves_state(self):
        proxy = self.start_proxy(((KEY_A, "per-a"), (KEY_B, "per-b")), OVERRIDES)
        for _ in range(4):
            self.post(proxy)
        proxy.send_signal(signal.SIGTERM)
        proxy.stop(expect_code=0)
        text = self.read_state(proxy)
        self.assertIsNotNone(text, "no state file at %s after SIGTERM" % STATE_FILE)
        json.loads(text)
        self.assertIn("per-a", text)
        self.assertIn("per-b", text)
        self.assertNoPoolKeyIn(text, "the state file")
        leftovers = [n for n in os.listdir(os.path.dirname(self.state_path(proxy)))
                     if n not in ("key_state.json", "key_state.json.lock")]
        self.assertEqual(leftovers, [], "temporary files left next to the state file")

    def test_sigterm_lets_an_inflight_stream_finish(self):
        proxy = self.start_proxy(((KEY_A, "per-a"),), OVERRIDES)
        signalled, thread = self.sigterm_when(proxy, self.streaming)
        res = h.curl_stream(h.via_proxy(proxy, *h.chat_args(
            h.chat_body(stream=True), extra_headers=["X-Fake-Events: 10", "X-Fake-Interval-Ms: 100"]),
            API), timeout=30)
        thread.join(timeout=15)
        self.assertTrue(signalled, "the stream never got going")
        self.assertEqual(res.returncode, 0, res.stderr + "\n" + proxy.diagnostics())
        payloads = res.data_payloads()
        self.assertEqual(payloads[-1:], [b"[DONE]"], "the stream was cut by SIGTERM")
        self.assertEqual(len(payloads), 12)
        # It exits by itself once the stream is done.
        h.wait_until(lambda: not proxy.alive(), 10, message="the proxy to exit after SIGTERM")
        self.assertEqual(proxy.stop(), 0)
        self.assertIsNotNone(self.read_state(proxy), "no state file after SIGTERM")

    def test_sigterm_cuts_what_outlives_the_drain_and_logs_each_request(self):
        # A long stream and a request still waiting for its answer's head at proxy.drain_timeout:
        # both are cut short, the waiting one is answered 503, and each gets its access line.
        proxy = self.start_proxy(((KEY_A, "per-a"),), dict(OVERRIDES, **{"proxy.drain_timeout": 0.5}))
        self.fake.script([{"path": h.CHAT_PATH, "model": "slow/model", "delay_ms": 6000}])
        signalled, thread = self.sigterm_when(
            proxy, lambda: self.streaming() and len(self.fake.requests(h.CHAT_PATH)) == 2)
        streamed = []

        def stream():
            streamed.append(h.curl_stream(h.via_proxy(proxy, *h.chat_args(
                h.chat_body(stream=True), extra_headers=["X-Fake-Events: 200", "X-Fake-Interval-Ms: 100"]),
                API), timeout=30))
        out, err = h.curl_during(["-i", *h.via_proxy(proxy, *h.chat_args(h.chat_body(model="slow/model")), API)],
                                 stream)
        res = streamed[0]
        thread.join(timeout=15)
        self.assertTrue(signalled, "the stream never got going:\n" + proxy.diagnostics())
        payloads = res.data_payloads()
        self.assertGreaterEqual(len(payloads), 2)
        self.assertNotIn(b"[DONE]", payloads, "the stream was not cut")
        self.assertIn(b"\r\n\r\nHTTP/1.1 503 ", out, out[:300] + err)  # after CONNECT's 200
        self.assertIn(b"is stopping", out)
        # The drain limit, then the cut: well before the stream's 20 s or the slow head's 6 s.
        h.wait_until(lambda: not proxy.alive(), 5, message="the proxy to exit after the drain")
        self.assertLess(time.monotonic() - signalled[0], 5)
        self.assertEqual(proxy.stop(), 0)
        log = proxy.log_text()
        cut = [line for line in log.splitlines() if 'error="proxy stopping: cut short' in line]
        self.assertEqual(len(cut), 2, "\n".join(cut) or log[-3000:])
        self.assertEqual(sorted(re.search(r"status=(\d+)", line).group(1) for line in cut), ["200", "503"], cut)
        self.assertIn("are cut short", log)
        self.assertNotIn("get no access line", log)
        self.assertIsNotNone(self.read_state(proxy), "no state file after SIGTERM")

    def test_a_second_sigterm_cuts_the_drain_at_once(self):
        # The first SIGTERM drains (up to proxy.drain_timeout, 30 s here); a second one means
        # "now": the stream is cut at once, as at the end of the drain.
        proxy = self.start_proxy(((KEY_A, "per-a"),), dict(OVERRIDES, **{"proxy.drain_timeout": 30}))
        signalled, thread = self.sigterm_when(proxy, self.streaming)
        streamed = []
        client = threading.Thread(target=lambda: streamed.append(h.curl_stream(h.via_proxy(proxy, *h.chat_args(
            h.chat_body(stream=True), extra_headers=["X-Fake-Events: 300", "X-Fake-Interval-Ms: 100"]),
            API), timeout=40)), daemon=True)
        client.start()
        thread.join(timeout=15)
        self.assertTrue(signalled, "the stream never got going:\n" + proxy.diagnostics())
        h.wait_until(lambda: "received signal" in proxy.log_text(), 5, message="the first signal to be handled")
        self.assertTrue(proxy.alive(), "the first SIGTERM should drain, not exit")
        proxy.send_signal(signal.SIGTERM)
        second = time.monotonic()
        h.wait_until(lambda: not proxy.alive(), 5, message="the proxy to exit after a second SIGTERM")
        self.assertLess(time.monotonic() - second, 5)
        client.join(timeout=15)
        self.assertEqual(proxy.stop(), 0)
        self.assertNotIn(b"[DONE]", streamed[0].data_payloads(), "the stream was not cut")
        log = proxy.log_text()
        self.assertIn("again: cutting the drain short now", log)
        self.assertIn("cut short now (a second signal)", log)
        self.assertEqual(len([line for line in log.splitlines() if 'error="proxy stopping: cut short' in line]), 1,
                         log[-3000:])

    def test_sigterm_waits_for_a_request_whose_body_is_still_coming(self):
        # A request counts from its head on: SIGTERM mid-upload lets it finish and be answered
        # (the drain used to see nothing in flight and stop at once, closing the upload).
        proxy = self.start_proxy(((KEY_A, "per-a"),), OVERRIDES)
        body = h.chat_body().encode()
        head = ("POST /api/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Authorization: Bearer anything\r\nContent-Length: %d\r\n\r\n" % len(body)).encode()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            s.sendall(head + body[:10])
            h.wait_until(lambda: json.loads(proxy.admin_get("/stats")[1])["requests_in_flight"] == 1, 10,
                         message="the request in flight")
            proxy.send_signal(signal.SIGTERM)
            h.wait_until(lambda: "received signal" in proxy.log_text(), 10, message="the signal taken")
            self.assertTrue(proxy.alive(), "the proxy stopped while a body was still coming")
            s.sendall(body[10:])
            answer = h.recv_until(s, b"\r\n\r\n", timeout=10)
            self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:300])
            self.assertIn(b"Connection: close", answer)
        h.wait_until(lambda: not proxy.alive(), 10, message="the proxy to exit once answered")
        self.assertEqual(proxy.stop(), 0)

    def test_a_cut_request_on_a_reused_connection_is_not_sent_again(self):
        # The cut cancels the wait for the head of a request on a pooled upstream connection. That
        # cancel once looked like "the upstream closed the idle connection": the request went out a
        # second time on a new connection, was never cut, and ended without an answer or a line.
        proxy = self.start_proxy(((KEY_A, "per-a"),), dict(OVERRIDES, **{"proxy.workers": 1,
                                                                          "proxy.drain_timeout": 0.5}))
        self.post(proxy)  # leaves one upstream connection in the pool
        self.fake.script([{"path": h.CHAT_PATH, "model": "slow/model", "delay_ms": 6000}])
        recs = []

        def upstream_then_sigterm():
            h.wait_until(lambda: len(self.fake.requests(h.CHAT_PATH)) == 2, 10, message="the slow request upstream")
            recs.extend(self.fake.requests(h.CHAT_PATH))
            proxy.send_signal(signal.SIGTERM)
        out, err = h.curl_during(["-i", *h.via_proxy(proxy, *h.chat_args(h.chat_body(model="slow/model")), API)],
                                 upstream_then_sigterm)
        self.assertEqual(recs[0]["connection_id"], recs[1]["connection_id"], "the pooled connection was not used")
        self.assertIn(b"\r\n\r\nHTTP/1.1 503 ", out, out[:300] + err)
        self.assertIn(b"Connection: close", out)
        h.wait_until(lambda: not proxy.alive(), 5, message="the proxy to exit after the drain")
        self.assertEqual(proxy.stop(), 0)
        self.assertEqual(len(self.fake.requests(h.CHAT_PATH)), 2, "the cut request was sent again")
        log = proxy.log_text()
        self.assertEqual(len([l for l in log.splitlines() if 'error="proxy stopping: cut short' in l]), 1, log[-2000:])
        self.assertNotIn("get no access line", log)

    def test_no_full_key_in_log_or_state_after_many_errors(self):
        keys = ((KEY_A, "per-a"), (KEY_B, ""), (KEY_C, "per-c"), (KEY_D, ""))
        proxy = self.start_proxy(keys, dict(OVERRIDES, **{"log.level": "debug",
                                                          "retry.max_retries": 1}))
        self.fake.script([
            {"key": KEY_A, "path": h.CHAT_PATH, "status": 429, "times": 2,
             "headers": {"Retry-After": "1"},
             "body": {"error": {"code": 429, "message": "Rate limit exceeded for key " + KEY_A}}},
            {"key": KEY_B, "path": h.CHAT_PATH, "status": 401,
             "body": {"error": {"code": 401, "message": "Invalid API key: " + KEY_B}}},
            {"key": KEY_B, "path": "/api/v1/key", "status": 401,
             "body": {"error": {"code": 401, "message": "Invalid API key: " + KEY_B}}},
            {"key": KEY_C, "path": h.CHAT_PATH, "status": 502, "times": 3,
             "body": {"error": {"code": 502, "message": "Provider error (key %s)" % KEY_C,
                                "metadata": {"error_type": "provider_error"}}}},
            {"key": KEY_D, "path": h.CHAT_PATH, "times": 1,
             "stream_error_first": {"code": 402, "message": "Key %s has no credits" % KEY_D,
                                    "metadata": {"limit_source": "openrouter_key_limit"}}},
            {"path": h.CHAT_PATH, "status": 403, "times": 1,
             "body": {"error": {"code": 403, "message": "flagged"}}},
        ])
        for i in range(10):
            res, headers = self.post(proxy, h.chat_body(stream=(i % 2 == 0)), status=None)
            self.assertIn(res.status, (200, 403, 429, 502, 503), h.redact(res.stdout[:300], ALL_KEYS))
            for value in headers.values():
                self.assertNoPoolKeyIn(value, "a response header")
        self.fake.script([{"path": h.CHAT_PATH, "stream_error_after": 1,
                           "stream_error": {"error": {"code": 502, "message": "lost " + KEY_A}}}])
        self.post(proxy, h.chat_body(stream=True), status=None)
        proxy.send_signal(signal.SIGTERM)
        proxy.stop()
        self.assertIn("per-a", proxy.log_text(), "no access lines in the log?")
        self.assertNoPoolKeyIn(proxy.all_output(), "the proxy's log/stderr/stdout")
        state = self.read_state(proxy)
        self.assertIsNotNone(state, "no state file")
        self.assertNoPoolKeyIn(state, "the state file")

    def test_plain_pool_key_quoted_by_upstream_is_masked_everywhere(self):
        proxy = self.start_proxy(((PLAIN_KEY, ""), (KEY_A, "per-a")), OVERRIDES)
        self.fake.script([{"key": PLAIN_KEY, "path": h.CHAT_PATH, "status": 401,
                           "body": {"error": {"code": 401, "message": "key %s not found" % PLAIN_KEY}}}])
        for _ in range(3):
            _, headers = self.post(proxy)
            for value in headers.values():
                self.assertNoPoolKeyIn(value, "a response header")
        self.assertIn("plain", self.chat_keys(), "the plain key was never tried")
        status, body = proxy.admin_get("/keys")
        self.assertEqual(status, 200)
        self.assertNoPoolKeyIn(body.decode(), "GET /keys")  # first: the messages below print it
        plain = [k for k in json.loads(body)["keys"] if k["label"] == "\u2026fXYZ"]  # no label: its mask
        self.assertEqual(len(plain), 1, body)
        self.assertEqual(plain[0]["state"], "disabled_invalid", body)
        # The upstream's message did arrive, with the key masked in it.
        self.assertIn("key \u2026fXYZ not found", plain[0]["reason"])
        proxy.stop()
        self.assertIn("\u2026fXYZ not found", proxy.log_text())
        self.assertNoPoolKeyIn(proxy.all_output(), "the proxy's log/stderr/stdout")
        state = self.read_state(proxy)
        self.assertIn("disabled_invalid", state or "")
        self.assertNoPoolKeyIn(state, "the state file")


if __name__ == "__main__":
    unittest.main()
