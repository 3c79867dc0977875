#!/usr/bin/python3
"""keys.csv as a user writes it: what is refused (and how it is named), what is only warned about,
at start and on reloads."""

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

KEY_A = "sk-or-v1-test-file-a-5c1e3a7d9b2f4068"
KEY_B = "sk-or-v1-test-file-b-8d2f4b6a0c1e3597"
OTHER_KEY = "plainkey-not-openrouter-0123456789"
ALL_KEYS = (KEY_A, KEY_B, OTHER_KEY)


class KeysTestBase(unittest.TestCase):
    def assertNoKeyIn(self, text, where="the proxy's output"):
        h.assert_no_key_in(self, text, ALL_KEYS, where)


class KeysFileTest(KeysTestBase):
    def start_refused(self, keys_csv):
        """Starts a proxy on `keys_csv` that must refuse to start; returns its diagnostics."""
        proxy = h.Proxy(None, keys_csv=keys_csv)
        self.addCleanup(proxy.cleanup)
        with self.assertRaises(h.ProxyStartError) as ctx:
            proxy.start()
        self.assertEqual(proxy.returncode, 2)
        return str(ctx.exception)

    def test_a_semicolon_separated_file_is_refused_naming_the_line_and_commas(self):
        text = self.start_refused("key;label;weight\n%s;team-a;1\n" % KEY_A)
        self.assertIn("keys.csv:1: the key contains ';': separate the fields with commas (key,label,weight)", text)
        self.assertNoKeyIn(text)

    def test_a_tab_separated_file_is_refused(self):
        text = self.start_refused("# pool\n%s\tteam-a\t1\n" % KEY_A)
        self.assertIn("keys.csv:2: the key contains a tab: separate the fields with commas", text)
        self.assertNoKeyIn(text)

    def test_a_second_header_is_named_as_one(self):
        text = self.start_refused("key,label,weight\n%s,a,1\nkey,label,weight\n%s,b,1\n" % (KEY_A, KEY_B))
        self.assertIn("keys.csv:3: this line looks like a header; only the first line (after comments) may be one",
                      text)

    def test_keys_not_like_openrouters_are_warned_about_by_line(self):
        with h.Proxy(None, keys=[(KEY_A, "a"), (OTHER_KEY, "other")]) as proxy:
            # harness keys.csv: a comment, the header, then the keys on lines 3 and 4
            h.wait_until(lambda: "the key on line 4 does not look like an OpenRouter key" in proxy.log_text(), 10,
                         message="the warning\n" + proxy.diagnostics())
            self.assertNotIn("line 3", proxy.log_text())
            self.assertNoKeyIn(proxy.all_output())

    def test_a_keys_file_open_to_others_is_warned_about_not_changed(self):
        proxy = h.Proxy(None, keys=[(KEY_A, "a")], write_config=False)
        self.addCleanup(proxy.cleanup)
        proxy.write_files()
        keys_csv = os.path.join(proxy.dir, "keys.csv")
        os.chmod(keys_csv, 0o644)
        proxy.start()
        warning = re.compile(r"(?m)warning\s+\S*keys\.csv holds API keys and is open to group or others "
                             r"\(mode 0644\): run chmod 600 \S*keys\.csv$")
        h.wait_until(lambda: warning.search(proxy.log_text()), 10, message="the warning\n" + proxy.diagnostics())
        self.assertEqual(os.stat(keys_csv).st_mode & 0o777, 0o644, "the user's file was changed")
        # Once at start, and again with each reload while the mode stays.
        proxy.send_signal(signal.SIGHUP)
        h.wait_until(lambda: len(warning.findall(proxy.log_text())) == 2, 10,
                     message="the warning again on reload\n" + proxy.diagnostics())
        os.chmod(keys_csv, 0o600)
        proxy.send_signal(signal.SIGHUP)
        h.wait_until(lambda: proxy.log_text().count("reloaded") == 2, 10, message="the second reload")
        self.assertEqual(len(warning.findall(proxy.log_text())), 2)


class KeysReloadTest(KeysTestBase):
    def test_a_reload_that_empties_the_pool_is_a_warning(self):
        with h.Proxy(None, keys=[(KEY_A, "a")]) as proxy:
            proxy.write_keys("# no keys for now\n")
            proxy.send_signal(signal.SIGHUP)
            warning = re.compile(r"(?m)warning\s+\S*keys\.csv holds no keys: .*intercepted requests get 503")
            h.wait_until(lambda: warning.search(proxy.log_text()), 10,
                         message="a warning that the pool is empty\n" + proxy.diagnostics())

    def test_a_refused_reload_says_why_in_the_answer_in_keys_and_in_keys_status(self):
        with h.Proxy(None, keys=[(KEY_A, "a")], overrides={"keys.key_recovery_interval": 3600}) as proxy:
            admin = proxy.admin_url
            self.assertIsNone(json.loads(proxy.admin_get("/keys")[1])["keys_file_error"])
            proxy.write_keys("key,label,weight\n%s,a,1\n%s,b,heavy\n" % (KEY_A, KEY_B))
            req = urllib.request.Request(admin + "/keys/reload", method="POST", data=b"")
            with self.assertRaises(urllib.error.HTTPError) as ctx:
                urllib.request.urlopen(req, timeout=5)
            self.assertEqual(ctx.exception.code, 422)
            body = ctx.exception.read().decode()
            self.assertNoKeyIn(body, "the 422 answer")
            why = "keys.csv:3: weight 'heavy' is not a positive number"
            message = json.loads(body)["error"]["message"]
            self.assertTrue(message.startswith("keys.csv was refused; the old pool is kept: "), message)
            self.assertTrue(message.endswith(why), message)
            keys = json.loads(proxy.admin_get("/keys")[1])
            self.assertTrue(keys["keys_file_error"].endswith(why), keys)
            self.assertEqual([k["label"] for k in keys["keys"]], ["a"])
            status = subprocess.run([h.binary_path(), "keys", "status", "--config", proxy.config_path, "--set",
                                     "admin.listen=" + proxy.ready["admin"]], cwd=proxy.dir, capture_output=True,
                                    text=True, timeout=30)
            self.assertEqual(status.returncode, 0, status.stderr)
            self.assertRegex(status.stdout, r"(?m)^keys file refused, the pool above is the one loaded before it: "
                                            r"\S*" + re.escape(why) + "$")
            self.assertNoKeyIn(status.stdout + proxy.all_output())
            # Fixed: the next reload clears it.
            proxy.write_keys([(KEY_A, "a"), (KEY_B, "b")])
            with urllib.request.urlopen(urllib.request.Request(admin + "/keys/reload", method="POST", data=b""),
                                        timeout=5) as r:
                self.assertEqual(r.status, 200)
                self.assertIsNone(json.loads(r.read())["keys_file_error"])
            self.assertIsNone(json.loads(proxy.admin_get("/keys")[1])["keys_file_error"])


    def test_a_directory_or_a_fifo_in_place_of_keys_csv_is_refused_on_reload(self):
        # A directory read as an empty file emptied the pool; a FIFO blocked the main loop in open()
        # (admin endpoint, saves and probes stopped). Both are refused, and the old pool is kept.
        with h.Proxy(None, keys=[(KEY_A, "a")], overrides={"keys.key_recovery_interval": 3600}) as proxy:
            keys_csv = os.path.join(proxy.dir, "keys.csv")
            for make, why in ((os.mkdir, "is a directory"), (os.mkfifo, "is not a regular file")):
                os.unlink(keys_csv) if os.path.isfile(keys_csv) else os.rmdir(keys_csv)
                make(keys_csv)
                status, body = proxy.admin_post("/keys/reload")  # answers: the main loop is not stuck
                self.assertEqual(status, 422, body)
                self.assertIn(why, json.loads(body)["error"]["message"])
                self.assertEqual([k["label"] for k in json.loads(proxy.admin_get("/keys")[1])["keys"]], ["a"])
                self.assertEqual(proxy.admin_get("/readyz")[0], 200)
            os.unlink(keys_csv)
            proxy.write_keys([(KEY_A, "a")])


if __name__ == "__main__":
    unittest.main()
