"""Configuration errors, --set, the access log (text and JSON), and keys never reaching any output."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402
from harness import CLIENT_KEY, POOL_KEY_A, POOL_KEY_B, FakeOpenRouter, Proxy, chat_args, curl, via_proxy  # noqa: E402


CHAT_URL = "https://openrouter.ai/api/v1/chat/completions"


def run_binary(args, cwd, timeout=20):
    return subprocess.run([harness.binary_path(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class ConfigErrorTest(unittest.TestCase):
    """Bad input at start: one line naming file, line and setting; exit code 2."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="orp-config-")
        with open(os.path.join(self.dir, "keys.csv"), "w") as f:
            f.write("key,label\nsk-or-v1-test-one,one\n")

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.dir])

    def start_with(self, config_text, keys_text=None, admin_off=True):
        with open(os.path.join(self.dir, "config.ini"), "w") as f:
            f.write(config_text)
        if keys_text is not None:
            with open(os.path.join(self.dir, "keys.csv"), "w") as f:
                f.write(keys_text)
        # A start that wrongly succeeded would stay on loopback: the upstream is a closed local port.
        args = ["run", "--config", "config.ini", "--set", "proxy.listen=127.0.0.1:0",
                "--set", "upstream.resolve=openrouter.ai:443=127.0.0.1:1"]
        if admin_off:
            args += ["--set", "admin.listen="]
        return run_binary(args, self.dir)

    def assertRefused(self, result, *needles):
        self.assertEqual(result.returncode, 2, result.stderr)
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, result.stderr)
        for needle in needles:
            self.assertIn(needle, lines[0])

    def test_unknown_key(self):
        r = self.start_with("[proxy]\nworkers = 1\nlisten_port = 8080\n")
        self.assertRefused(r, "config.ini:3", "proxy.listen_port", "unknown setting")

    def test_unknown_section(self):
        r = self.start_with("[proxy]\nworkers = 1\n[upstreams]\n")
        self.assertRefused(r, "config.ini:3", "unknown section [upstreams]")

    def test_bad_value(self):
        r = self.start_with("[retry]\nmax_retries = three\n")
        self.assertRefused(r, "config.ini:2", "retry.max_retries", "whole number")

    def test_out_of_range(self):
        r = self.start_with("[upstream]\nrequest_timeout = -5\n")
        self.assertRefused(r, "config.ini:2", "upstream.request_timeout")

    def test_missing_config_file(self):
        r = run_binary(["run", "--config", "nope.ini"], self.dir)
        self.assertRefused(r, "nope.ini: no such configuration file")
        os.mkdir(os.path.join(self.dir, "plain"))
        with open(os.path.join(self.dir, "plain", "file"), "w") as f:
            f.write("")
        r = run_binary(["run", "--config", "plain/file/config.ini"], self.dir)
        self.assertRefused(r, "plain/file/config.ini: cannot read the configuration file: Not a directory")

    def test_bad_keys_line(self):
        r = self.start_with("[proxy]\nworkers = 1\n", "key,label,weight\nsk-or-v1-test-one,one,1\nsk-or-v1-test-two,two,heavy\n")
        harness.assert_no_key_in(self, r.stdout + r.stderr, ("sk-or-v1-test-two",), "the output")
        self.assertRefused(r, "keys.csv:3")

    def test_duplicate_key(self):
        r = self.start_with("[proxy]\nworkers = 1\n",
                            "sk-or-v1-test-dup-key,a\n# comment\nsk-or-v1-test-dup-key,b\n")
        harness.assert_no_key_in(self, r.stdout + r.stderr, ("sk-or-v1-test-dup-key",), "the output")
        self.assertRefused(r, "keys.csv:3", "1")

    def test_a_label_not_fit_for_headers_json_or_metrics_is_refused(self):
        # A label goes into X-Proxy-Key, /keys (JSON), /metrics (UTF-8) and the log.
        for label, reason in ((b"caf\xe9", "keys.csv:2: the label is not valid UTF-8"),
                              (b"team\x1b[31mred", "keys.csv:2: the label holds a control character"),
                              (b"x" * 200_000, "keys.csv:2: the label is 200000 characters long; at most 128")):
            with open(os.path.join(self.dir, "keys.csv"), "wb") as f:
                f.write(b"key,label\nsk-or-v1-test-one," + label + b"\n")
            r = self.start_with("[proxy]\nworkers = 1\n")
            self.assertRefused(r, reason)

    def test_key_in_the_label_column_is_refused_without_showing_it(self):
        real_key = "sk-or-v1-" + "7c" * 30 + "d41e"
        r = self.start_with("[proxy]\nworkers = 1\n", "team-a,%s\n" % real_key)
        harness.assert_no_key_in(self, r.stdout + r.stderr, (real_key, "7c7c"), "the output")
        self.assertRefused(r, "keys.csv:1", "label column", "key,label,weight", "sk-or-v1-\u2026d41e")
        for name in os.listdir(self.dir):
            if name != "keys.csv" and os.path.isfile(os.path.join(self.dir, name)):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    harness.assert_no_key_in(self, f.read(), (real_key,), name)

    def test_setting_twice_names_both_lines(self):
        r = self.start_with("[proxy]\nworkers = 1\n\nworkers = 2\n")
        self.assertRefused(r, "config.ini:4", "proxy.workers is set twice (first on line 2)")

    def test_retry_delay_above_its_cap(self):
        r = self.start_with("[retry]\nretry_delay = 3\nmax_retry_delay = 0.5\n")
        self.assertRefused(r, "retry.retry_delay = 3", "retry.max_retry_delay = 0.5")

    def test_missing_upstream_ca_file_names_the_setting(self):
        r = self.start_with("[upstream]\nca_file = /nonexistent.pem\n")
        self.assertRefused(r, "upstream.ca_file = /nonexistent.pem: file not found")

    def test_size_bounds_read_as_sizes(self):
        r = self.start_with("[log]\nmax_size = 0\n")
        self.assertRefused(r, "config.ini:2", "log.max_size", "must be between 1KiB and 4GiB")

    def test_directory_as_config_file(self):
        os.mkdir(os.path.join(self.dir, "conf.d"))
        r = run_binary(["run", "--config", "conf.d", "--set", "proxy.listen=127.0.0.1:0", "--set", "admin.listen="],
                       self.dir)
        self.assertRefused(r, "conf.d: is a directory")

    def test_directory_as_keys_file(self):
        os.mkdir(os.path.join(self.dir, "keys.d"))
        self.assertRefused(self.start_with("[keys]\nfile = keys.d\n"), "keys.file = keys.d: is a directory")
        r = run_binary(["run", "--keys", "keys.d", "--set", "proxy.listen=127.0.0.1:0", "--set", "admin.listen="],
                       self.dir)
        self.assertRefused(r, "keys.file = keys.d: is a directory")

    def test_directory_as_state_file(self):
        os.mkdir(os.path.join(self.dir, "state.d"))
        r = self.start_with("[keys]\nstate_file = state.d\n")
        self.assertRefused(r, "keys.state_file = state.d: is a directory")

    def test_state_file_where_it_cannot_be_saved(self):
        # Refused at start, not found out at the first save or at shutdown with the state lost.
        for place, reason in (("keys.csv/state.json", "Not a directory"),
                              ("/proc/orp-test/state.json", "cannot create directory")):
            r = self.start_with("[keys]\nstate_file = %s\n" % place)
            self.assertRefused(r, "keys.state_file = %s: key state could not be saved" % place, reason)

    def test_log_file_that_cannot_be_opened_names_the_setting(self):
        os.mkdir(os.path.join(self.dir, "logs.d"))
        r = self.start_with("[log]\nfile = logs.d\n")
        self.assertRefused(r, "log.file = logs.d:", "Is a directory")

    def test_unreadable_ca_names_the_settings(self):
        for name in ("bad.pem", "bad.key"):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write("not a certificate\n")
        # Distinct files: one file for both is refused before it is read (they would overwrite each other).
        r = self.start_with("[tls]\nca_cert = bad.pem\nca_key = bad.key\n")
        self.assertRefused(r, "the local CA (tls.ca_cert, tls.ca_key): ", "bad.pem")

    def test_port_in_use_is_one_clean_line(self):
        for setting in ("proxy.listen", "admin.listen"):
            with socket.socket() as held:
                held.bind(("127.0.0.1", 0))
                held.listen()
                address = "127.0.0.1:%d" % held.getsockname()[1]
                ports = {"proxy.listen": "127.0.0.1:0", "admin.listen": "127.0.0.1:0", setting: address}
                r = run_binary(["run", "--set", "log.file=", *[a for k, v in ports.items() for a in ("--set", k + "=" + v)]],
                               self.dir)
            self.assertEqual(r.returncode, 2, r.stderr)
            # Warnings about the environment (the open-file limit) may come first; the refusal is the last line.
            self.assertEqual(r.stderr.strip().splitlines()[-1],
                             "openrouter-proxy: cannot listen on %s = %s: Address already in use" % (setting, address))
            self.assertNotIn("boost", r.stderr)
            self.assertNotIn("[system:", r.stderr)

    def test_bad_set_override(self):
        r = run_binary(["run", "--set", "proxy.listen=127.0.0.1:0", "--set", "admin.listen=",
                        "--set", "upstream.resolve=openrouter.ai:443=127.0.0.1:1", "--set", "proxy.workers=many"],
                       self.dir)
        self.assertRefused(r, "--set: proxy.workers = 'many'", "proxy.workers")

    def test_admin_off_loopback_needs_token(self):
        # The port is held on 127.0.0.1, so a proxy that wrongly took the setting could not listen
        # on every interface with it (it would fail to bind instead, and this test with it).
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            held.listen()
            port = held.getsockname()[1]
            r = self.start_with("[admin]\nlisten = 0.0.0.0:%d\n" % port, admin_off=False)
        self.assertRefused(r, "admin.listen = 0.0.0.0:%d" % port, "admin.token")

    def test_help_lists_every_setting_and_version(self):
        r = run_binary(["--help"], self.dir)
        self.assertEqual(r.returncode, 0)
        for name in ("proxy.listen", "upstream.api_url", "retry.max_retries", "keys.strategy", "log.format",
                     "admin.token", "state.redis_url"):
            self.assertIn(name, r.stdout)
        v = run_binary(["--version"], self.dir)
        self.assertEqual(v.returncode, 0)
        self.assertRegex(v.stdout, r"openrouter-proxy \d+\.\d+\.\d+")
        # The build says which malloc it linked (ORP_ALLOCATOR, from CMake); the binary checks at
        # start that malloc really is that one (mimalloc must come before the C library).
        expected = os.environ.get("ORP_ALLOCATOR", "glibc malloc")
        self.assertRegex(v.stdout, r"\(allocator: " + re.escape(expected) + r"( \d+\.\d+\.\d+)?\)")


class SetOverrideTest(unittest.TestCase):
    def test_set_overrides_config_file(self):
        with FakeOpenRouter() as fake:
            # config.ini says 3 retries; --set makes it 0, so one 502 reaches the client at once.
            with Proxy(fake, overrides={"retry.max_retries": 3},
                       extra_args=["--set", "retry.max_retries=0"]) as proxy:
                fake.script([{"key": "*", "status": 502, "body": {"error": {"code": 502, "message": "down"}}}])
                res = curl(via_proxy(proxy, *chat_args(), CHAT_URL), metrics=True)
                self.assertEqual(res.returncode, 0, res.stderr)
                self.assertEqual(res.status, 502)
                self.assertEqual(len(fake.requests("/api/v1/chat/completions")), 1)


class SighupConfigTest(unittest.TestCase):
    def test_sighup_says_a_changed_config_ini_needs_a_restart(self):
        with Proxy(None) as proxy:
            warning = "config.ini changed since the start: restart to apply it (SIGHUP reloads only keys.csv)"
            proxy.send_signal(signal.SIGHUP)
            harness.wait_until(lambda: "(SIGHUP)" in proxy.log_text(), 10, message="the first reload")
            self.assertNotIn(warning, proxy.log_text())
            with open(proxy.config_path, "a") as f:
                f.write("[retry]\nmax_retries = 5\n")
            proxy.send_signal(signal.SIGHUP)
            harness.wait_until(lambda: proxy.log_text().count("(SIGHUP)") == 2, 10, message="the second reload")
            self.assertRegex(proxy.log_text(), r"(?m)warning\s+\S*" + re.escape(warning))


class AccessLogTest(unittest.TestCase):
    def run_requests(self, fmt):
        fake = FakeOpenRouter()
        self.addCleanup(fake.__exit__, None, None, None)
        fake.start()
        proxy = Proxy(fake, keys=[(POOL_KEY_A, "pool-a"), (POOL_KEY_B, "pool-b")],
                      overrides={"log.format": fmt, "proxy.workers": 1})
        proxy.start()
        self.addCleanup(proxy.cleanup)
        fake.script([{"key": POOL_KEY_A, "status": 429, "times": 1,
                      "body": {"error": {"code": 429, "message": "Rate limit exceeded for " + POOL_KEY_A}}}])
        res = curl(via_proxy(proxy, *chat_args(body=harness.chat_body("openai/gpt-4o-mini", False, "hi")), CHAT_URL), metrics=True)
        self.assertEqual(res.status, 200, res.stderr)
        proxy.stop()
        return proxy

    def test_text_access_line_has_every_field(self):
        proxy = self.run_requests("text")
        lines = [l for l in proxy.log_text().splitlines() if " access " in l]
        self.assertEqual(len(lines), 1, proxy.log_text())
        line = lines[0]
        for field in ("id=", "client=127.0.0.1:", "mode=connect", "POST /api/v1/chat/completions",
                      "model=openai/gpt-4o-mini", "key=pool-b", "attempts=2", "status=200", "upstream_ms=",
                      "duration_ms=", "bytes_in=", "bytes_out=", "prompt_tokens=", "completion_tokens=", "cost="):
            self.assertIn(field, line)
        # The failed attempt is logged at info with its key label and reason, masked.
        attempt = [l for l in proxy.log_text().splitlines() if "attempt" in l and "pool-a" in l]
        self.assertTrue(attempt, proxy.log_text())
        self.assertIn("429", attempt[0])

    def test_json_lines_parse_with_the_same_fields(self):
        proxy = self.run_requests("json")
        records = []
        for line in proxy.log_text().splitlines():
            if line.strip():
                records.append(json.loads(line))  # every line is one JSON object
        access = [r for r in records if r.get("msg") == "access"]
        self.assertEqual(len(access), 1, records)
        a = access[0]
        self.assertEqual((a["method"], a["path"], a["status"], a["attempts"], a["key"], a["mode"]),
                         ("POST", "/api/v1/chat/completions", 200, 2, "pool-b", "connect"))
        self.assertEqual(a["model"], "openai/gpt-4o-mini")
        for field in ("time", "level", "id", "client", "upstream_ms", "duration_ms", "bytes_in", "bytes_out",
                      "prompt_tokens", "completion_tokens", "cost"):
            self.assertIn(field, a)
        # Numbers in plain notation (Boost.JSON alone writes 1.234E1).
        line = next(l for l in proxy.log_text().splitlines() if '"msg":"access"' in l)
        for field in ("upstream_ms", "duration_ms", "cost"):
            self.assertRegex(line, r'"%s":-?\d+(\.\d+)?[,}]' % field)

    def post_bodies(self, fmt, bodies):
        """Each of `bodies` (bytes) POSTed as it is through a fresh proxy logging in `fmt`; the log, as bytes."""
        with FakeOpenRouter() as fake:
            with Proxy(fake, keys=[(POOL_KEY_A, "pool-a")], overrides={"log.format": fmt, "proxy.workers": 1}) as proxy:
                for n, body in enumerate(bodies):
                    path = os.path.join(proxy.dir, "body%d.json" % n)
                    with open(path, "wb") as f:
                        f.write(body)
                    curl(via_proxy(proxy, "-H", "Content-Type: application/json", "-H",
                                   "Authorization: Bearer " + CLIENT_KEY, "--data-binary", "@" + path, CHAT_URL))
                harness.wait_for_access_lines(proxy, len(bodies))
                with open(proxy.log_path, "rb") as f:
                    return f.read()

    def test_json_lines_stay_valid_utf8(self):
        # One invalid byte in a model name must not make a line that log shippers refuse.
        raw = self.post_bodies("json", [b'{"model":"bad\xff\xfename","messages":[]}'])
        lines = [line.decode("utf-8") for line in raw.splitlines() if line.strip()]  # strict: raises
        models = [json.loads(line)["model"] for line in lines if '"msg":"access"' in line]
        self.assertEqual(models, ["bad\ufffd\ufffdname"])

    def test_models_are_logged_as_decoded_names(self):
        # The name the client meant, not its JSON spelling (which cut "my\"model" to "my\").
        bodies = [(b'{"model":"openai\\/gpt-4o","messages":[]}', "openai/gpt-4o", "model=openai/gpt-4o "),
                  (b'{"model":"caf\\u00e9","messages":[]}', "caf\u00e9", "model=caf\u00e9 "),
                  (b'{"model":"my\\"model","messages":[]}', 'my"model', "model=my\\x22model ")]
        raw = self.post_bodies("json", [body for body, _, _ in bodies])
        lines = [line for line in raw.decode("utf-8").splitlines() if '"msg":"access"' in line]
        self.assertEqual([json.loads(line)["model"] for line in lines], [name for _, name, _ in bodies])
        raw = self.post_bodies("text", [body for body, _, _ in bodies])
        lines = [line for line in raw.decode("utf-8").splitlines() if " access " in line]
        self.assertEqual(len(lines), len(bodies), lines)
        for line, (_, _, fragment) in zip(lines, bodies):
            self.assertIn(fragment, line)

    def test_log_is_appended_not_truncated(self):
        proxy = self.run_requests("text")
        before = proxy.log_text()
        proxy.start()
        proxy.stop()
        self.assertTrue(proxy.log_text().startswith(before))


class NoKeyLeaksTest(unittest.TestCase):
    """After a run full of errors, no pool key appears in the log, stderr, the state file or the admin API."""

    def test_no_key_anywhere(self):
        keys = [(POOL_KEY_A, ""), (POOL_KEY_B, "pool-b"), ("sk-or-v1-test-pool-c", "")]
        with FakeOpenRouter() as fake:
            with Proxy(fake, keys=keys, overrides={"keys.key_recovery_interval": 1}) as proxy:
                quote = lambda k: {"error": {"code": 401, "message": "Invalid key " + k}}
                fake.script([
                    {"key": POOL_KEY_A, "status": 401, "body": quote(POOL_KEY_A)},
                    {"key": POOL_KEY_B, "status": 402, "body": {"error": {"code": 402, "message": "No credit on " + POOL_KEY_B}}},
                    {"key": "sk-or-v1-test-pool-c", "status": 429, "raw_body": "slow down sk-or-v1-test-pool-c", "times": 2},
                    {"key": "*", "path": "/api/v1/key", "status": 401, "body": quote("key")},
                ])
                for _ in range(4):
                    curl(via_proxy(proxy, *chat_args(), CHAT_URL))
                admin = ""
                for path in ("/keys", "/metrics", "/stats", "/"):
                    status, body = proxy.admin_get(path)
                    admin += body if isinstance(body, str) else body.decode()
                status_out = run_binary(["keys", "status", "--set", "admin.listen=" + proxy.ready["admin"]], proxy.dir)
                admin += status_out.stdout + status_out.stderr
                harness.wait_until(lambda: os.path.exists(os.path.join(proxy.dir, "data", "key_state.json")), 10,
                                   message="state file written")
                proxy.stop()
                with open(os.path.join(proxy.dir, "data", "key_state.json")) as f:
                    state = f.read()
                everything = proxy.all_output() + state + admin
                harness.assert_no_key_in(self, everything, [key for key, _ in keys] + [CLIENT_KEY],
                                         "the log, the state file or the admin output")
                self.assertIn("sk-or-v1-…ol-a", everything)  # the mask stands in for the key


    def test_a_pool_keys_secret_part_or_upper_case_form_is_masked_everywhere(self):
        # "sk-or-v1-" + the hex is the key: the hex quoted alone gives it away, and so does the
        # whole key in upper case (hex digits are read either way).
        hex_a, hex_b = "0a1b2c3d4e5f" * 5 + "9e8d", "f0e1d2c3b4a5" * 5 + "7c6b"
        key_a, key_b = "sk-or-v1-" + hex_a, "sk-or-v1-" + hex_b
        forms = [key_a, key_b, hex_a, hex_b, key_a.upper(), key_b.upper(), hex_a.upper(), hex_b.upper()]
        with FakeOpenRouter() as fake:
            with Proxy(fake, keys=[(key_a, "hex-a"), (key_b, "hex-b")],
                       overrides={"keys.key_recovery_interval": 3600, "proxy.workers": 1}) as proxy:
                fake.script([
                    {"key": key_a, "path": "/api/v1/chat", "status": 403,
                     "body": {"error": {"code": 403, "message": "key %s may not use this model" % hex_a}}},
                    {"key": key_b, "path": "/api/v1/chat", "status": 402,
                     "body": {"error": {"code": 402, "message": "NO CREDIT ON %s" % key_b.upper(),
                                        "metadata": {"limit_source": "openrouter_credits"}}}},
                ])
                answers = b""
                for _ in range(2):
                    answers += curl(via_proxy(proxy, *chat_args(), "-i", CHAT_URL)).stdout
                harness.assert_no_key_in(self, answers, forms, "the answers to the client")
                self.assertIn(b"may not use this model", answers)
                status, body = proxy.admin_get("/keys")
                admin = body if isinstance(body, str) else body.decode()
                self.assertIn("NO CREDIT ON", admin)
                status_out = run_binary(["keys", "status", "--set", "admin.listen=" + proxy.ready["admin"]], proxy.dir)
                self.assertEqual(status_out.returncode, 0, harness.redact(status_out.stderr, forms))
                state_path = os.path.join(proxy.dir, "data", "key_state.json")
                proxy.stop()
                with open(state_path) as f:
                    state = f.read()
                everything = proxy.all_output() + state + admin + status_out.stdout + status_out.stderr
                harness.assert_no_key_in(self, everything, forms, "the log, the state file or the admin output")


if __name__ == "__main__":
    unittest.main()
