#!/usr/bin/python3
"""Key state survives a key leaving keys.csv and coming back: a file rewritten in place (truncated,
then written again later, as `cat > keys.csv` or a slow editor does) is loaded empty in between,
and the keys that return keep being disabled or cooling, within the process and across a restart."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API = "https://openrouter.ai/api/v1/chat/completions"

KEY_A = "sk-or-v1-test-reload-a-3e8c1f5a7b9d2064"
KEY_B = "sk-or-v1-test-reload-b-6b2d4f8a1c3e5097"
KEY_C = "sk-or-v1-test-reload-c-9a1c3e5b7d2f4608"
KEYS = ((KEY_A, "rel-a"), (KEY_B, "rel-b"), (KEY_C, "rel-c"))
OVERRIDES = {"keys.key_recovery_interval": 3600, "retry.retry_delay": 0.05, "keys.strategy": "round_robin"}


class ReloadStateTest(h.FreshProxyTestCase):
    def post(self, proxy):
        res, headers = h.curl_with_headers(h.via_proxy(proxy, *h.chat_args(None), API))
        self.assertEqual((res.returncode, res.status), (0, 200), "%s %r\n%s"
                         % (res.stderr, res.stdout[:300], proxy.diagnostics()))
        return headers.get("x-proxy-key")

    def key_states(self, proxy):
        status, body = proxy.admin_get("/keys")
        self.assertEqual(status, 200, body)
        return {k["label"]: k["state"] for k in json.loads(body)["keys"]}

    def wait_for_states(self, proxy, predicate, what):
        seen = []

        def check():
            seen.append(self.key_states(proxy))
            return predicate(seen[-1])
        try:
            h.wait_until(check, 10, interval=0.05, message=what)
        except AssertionError as exc:
            raise AssertionError("%s; last /keys states: %s\n%s" % (exc, seen[-1:], proxy.diagnostics())) from None

    def rewrite_in_place(self, proxy, content):
        """Truncate keys.csv in place, let the watcher load the empty file, then write it back."""
        path = os.path.join(proxy.dir, "keys.csv")
        open(path, "w").close()
        self.wait_for_states(proxy, lambda states: states == {}, "the watcher to load the empty keys.csv")
        with open(path, "w") as f:
            f.write(content)

    def bench_a_and_b(self, proxy):
        self.fake.script([
            {"key": KEY_A, "path": h.CHAT_PATH, "status": 401,
             "body": {"error": {"code": 401, "message": "User not found."}}},
            {"key": KEY_B, "path": h.CHAT_PATH, "status": 429, "headers": {"Retry-After": "600"},
             "body": {"error": {"code": 429, "message": "Rate limit exceeded"}}},
        ])
        for _ in range(3):
            self.assertEqual(self.post(proxy), "rel-c")
        benched = {"rel-a": "disabled_invalid", "rel-b": "cooling", "rel-c": "active"}
        self.assertEqual(self.key_states(proxy), benched)
        return benched

    def assertOnlyCServes(self, proxy):
        before = len(self.fake.requests(h.CHAT_PATH))
        for _ in range(4):
            self.assertEqual(self.post(proxy), "rel-c")
        label = dict(KEYS)
        used = [label.get(r["key"]) or h.redact(r["key"]) for r in self.fake.requests(h.CHAT_PATH)[before:]]
        self.assertEqual(used, ["rel-c"] * 4, "a disabled or cooling key was used again")

    def test_truncate_then_rewrite_keeps_disabled_and_cooling_keys(self):
        proxy = self.start_proxy(KEYS, OVERRIDES)
        benched = self.bench_a_and_b(proxy)
        with open(os.path.join(proxy.dir, "keys.csv")) as f:
            content = f.read()

        self.rewrite_in_place(proxy, content)
        self.wait_for_states(proxy, lambda states: len(states) == 3, "the keys to come back")
        self.assertEqual(self.key_states(proxy), benched)
        self.assertOnlyCServes(proxy)
        log = proxy.log_text()
        self.assertIn("key rel-a is back in", log)
        self.assertIn("state restored: disabled_invalid", log)

    def test_state_of_removed_keys_survives_a_restart(self):
        proxy = self.start_proxy(KEYS, OVERRIDES)
        benched = self.bench_a_and_b(proxy)
        path = os.path.join(proxy.dir, "keys.csv")
        with open(path) as f:
            content = f.read()
        open(path, "w").close()
        self.wait_for_states(proxy, lambda states: states == {}, "the watcher to load the empty keys.csv")
        proxy.restart()  # SIGTERM saves the state file, with the keys no longer in keys.csv
        self.assertEqual(self.key_states(proxy), {})
        with open(path, "w") as f:
            f.write(content)
        self.wait_for_states(proxy, lambda states: len(states) == 3, "the keys to come back")
        self.assertEqual(self.key_states(proxy), benched)
        self.assertOnlyCServes(proxy)


if __name__ == "__main__":
    unittest.main()
