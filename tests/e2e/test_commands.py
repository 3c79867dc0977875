"""The commands besides `run`: ca init/path, keys check, keys status."""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
import harness  # noqa: E402
from harness import POOL_KEY_A, POOL_KEY_B, FakeOpenRouter, Proxy, chat_args, curl, via_proxy  # noqa: E402


def run(args, cwd, timeout=30):
    return subprocess.run([harness.binary_path(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def read(path):
    with open(path) as f:
        return f.read()


class CaCommandTest(unittest.TestCase):
    def test_init_is_idempotent_and_force_makes_a_new_one(self):
        with tempfile.TemporaryDirectory() as d:
            first = run(["ca", "init"], d)
            self.assertEqual(first.returncode, 0, first.stderr)
            self.assertIn("created", first.stdout)
            cert = os.path.join(d, "certs", "ca.pem")
            key = os.path.join(d, "certs", "ca.key")
            self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
            pem = open(cert).read()
            again = run(["ca", "init"], d)
            self.assertEqual(again.returncode, 0)
            self.assertIn("exists", again.stdout)
            self.assertEqual(open(cert).read(), pem)
            self.assertNotIn("restart", again.stderr)
            forced = run(["ca", "init", "--force"], d)
            self.assertEqual(forced.returncode, 0)
            self.assertNotEqual(open(cert).read(), pem)
            self.assertIn("restart a running proxy", forced.stderr)  # it still signs with the old CA
            path = run(["ca", "path"], d)
            self.assertEqual(path.returncode, 0, path.stderr)
            self.assertEqual(path.stdout, os.path.join(os.path.realpath(d), "certs", "ca.pem") + "\n")
            self.assertEqual(path.stderr, "")

    def test_path_before_init_prints_the_path_and_says_how_to_create_it(self):
        with tempfile.TemporaryDirectory() as d:
            r = run(["ca", "path", "--set", "tls.ca_cert=trust/../mine/ca.pem"], d)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stdout, os.path.join(os.path.realpath(d), "mine", "ca.pem") + "\n")
            self.assertEqual(r.stderr.strip().splitlines(), ["openrouter-proxy: not created yet: run openrouter-proxy ca init"])

    def test_init_and_run_refuse_to_replace_half_a_ca(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "keys.csv"), "w") as f:
                f.write("")
            self.assertEqual(run(["ca", "init"], d).returncode, 0)
            cert = os.path.join(".", "certs", "ca.pem")
            key = os.path.join(".", "certs", "ca.key")
            pem, key_pem = read(os.path.join(d, cert)), read(os.path.join(d, key))
            quiet = ["--listen", "127.0.0.1:0", "--set", "admin.listen=", "--set", "log.file="]
            for present, missing, text in ((cert, key, pem), (key, cert, key_pem)):
                os.rename(os.path.join(d, missing), os.path.join(d, "saved"))
                for args in (["ca", "init"], ["run", *quiet]):
                    r = run(args, d)
                    self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                    lines = r.stderr.strip().splitlines()
                    self.assertEqual(len(lines), 1, r.stderr)
                    self.assertIn("%s exists but %s is missing" % (present, missing), lines[0])
                    self.assertIn("ca init --force", lines[0])
                    self.assertEqual(read(os.path.join(d, present)), text, "%s was replaced" % present)
                    self.assertFalse(os.path.exists(os.path.join(d, missing)))
                os.rename(os.path.join(d, "saved"), os.path.join(d, missing))
            os.remove(os.path.join(d, key))
            forced = run(["ca", "init", "--force"], d)
            self.assertEqual(forced.returncode, 0, forced.stderr)
            self.assertNotEqual(read(os.path.join(d, cert)), pem)

    def test_a_key_open_to_others_is_set_to_0600_with_a_warning(self):
        with tempfile.TemporaryDirectory() as d:
            key = os.path.join(d, "certs", "ca.key")
            self.assertEqual(run(["ca", "init"], d).returncode, 0)
            os.chmod(key, 0o644)
            r = run(["ca", "init"], d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("exists", r.stdout)
            self.assertIn("warning: CA key ./certs/ca.key was open to group or others (mode 0644); set it to 0600",
                          r.stderr)
            self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
            quiet = run(["ca", "init"], d)
            self.assertEqual(quiet.stderr, "", "no warning once the mode is right")

        proxy = Proxy(None)
        self.addCleanup(proxy.cleanup)
        proxy.write_files()
        self.assertEqual(run(["ca", "init", "--config", proxy.config_path], proxy.dir).returncode, 0)
        key = os.path.join(proxy.dir, "certs", "ca.key")
        os.chmod(key, 0o640)
        proxy.start()
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assertIn("was open to group or others (mode 0640); set it to 0600", proxy.log_text())
        proxy.stop(expect_code=0)

    def test_an_open_key_whose_mode_cannot_change_is_refused(self):
        # procfs refuses chmod even to root: a stand-in for a key file owned by someone else.
        key = "/proc/self/stat"
        if not os.path.exists(key) or stat.S_IMODE(os.stat(key).st_mode) & 0o077 == 0:
            self.skipTest("no procfs")
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(run(["ca", "init"], d).returncode, 0)
            r = run(["ca", "init", "--set", "tls.ca_key=" + key], d)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("CA key /proc/self/stat is open to group or others", r.stderr)
            self.assertIn("cannot be set to 0600", r.stderr)

    def test_new_intercept_host_needs_force(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(run(["ca", "init"], d).returncode, 0)
            with open(os.path.join(d, "keys.csv"), "w") as f:
                f.write("")
            r = run(["run", "--set", "proxy.intercept_hosts=openrouter.ai,api.example.com", "--set", "admin.listen=",
                     "--set", "proxy.listen=127.0.0.1:0"], d)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("ca init --force", r.stderr)
            line = r.stderr.strip().splitlines()[-1]
            self.assertIn("the local CA (tls.ca_cert, tls.ca_key) ./certs/ca.pem does not permit 'api.example.com'",
                          line)
            self.assertEqual(line.count("the local CA"), 1, line)


KEY_401 = {"path": "/api/v1/key", "status": 401, "body": {"error": {"code": 401, "message": "No auth credentials found"}}}


def openssl_ca(certs, days, ski=True):
    """A CA in certs/ (ca.pem, ca.key) from the openssl CLI: `days` -1 makes one that expired yesterday."""
    os.makedirs(certs, exist_ok=True)
    key, csr, ext = (os.path.join(certs, n) for n in ("ca.key", "ca.csr", "ext.cnf"))
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n")
        f.write("subjectKeyIdentifier=%s\n" % ("hash" if ski else "none"))
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-subj", "/CN=a user's CA", "-out", csr], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-signkey", key, "-days", str(days), "-extfile", ext,
                    "-out", os.path.join(certs, "ca.pem")], check=True, capture_output=True)
    os.chmod(key, 0o600)
    os.remove(csr)
    os.remove(ext)


class ProblemCaTest(unittest.TestCase):
    """A CA clients would refuse is refused at start, with the fix, not met one connection at a time."""

    QUIET = ["--listen", "127.0.0.1:0", "--set", "admin.listen=", "--set", "log.file="]

    def test_an_expired_ca_is_refused_by_run_and_ca_init_until_forced(self):
        with tempfile.TemporaryDirectory() as d:
            open(os.path.join(d, "keys.csv"), "w").close()
            openssl_ca(os.path.join(d, "certs"), -1)
            for command in (["run", *self.QUIET], ["ca", "init"], ["env"]):
                with self.subTest(command=command):
                    r = run(command, d)
                    self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                    lines = r.stderr.strip().splitlines()
                    self.assertEqual(len(lines), 1, r.stderr)
                    self.assertIn("expired on", lines[0])
                    self.assertIn("ca init --force", lines[0])
                    self.assertNotIn("exists", r.stdout)
            forced = run(["ca", "init", "--force"], d)
            self.assertEqual(forced.returncode, 0, forced.stderr)
            self.assertEqual(run(["ca", "init"], d).returncode, 0)

    def test_a_ca_ending_within_30_days_is_warned_of(self):
        with tempfile.TemporaryDirectory() as d:
            openssl_ca(os.path.join(d, "certs"), 10)
            r = run(["ca", "init"], d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("exists", r.stdout)
            self.assertRegex(r.stderr, r"warning: the local CA \S+ca\.pem expires on .* \(in (9|10) days\)")

    def test_a_ca_without_subject_key_identifier_is_refused_with_the_reason(self):
        # It used to start, then fail every intercepted handshake ("unexpected exception").
        with tempfile.TemporaryDirectory() as d:
            open(os.path.join(d, "keys.csv"), "w").close()
            openssl_ca(os.path.join(d, "certs"), 365, ski=False)
            r = run(["run", *self.QUIET], d)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("has no subjectKeyIdentifier", r.stderr)
            self.assertIn("ca init --force", r.stderr)

    def test_ca_init_on_a_corrupt_certificate_suggests_force(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(run(["ca", "init"], d).returncode, 0)
            with open(os.path.join(d, "certs", "ca.pem"), "w") as f:
                f.write("-----BEGIN CERTIFICATE-----\ncut short\n")
            r = run(["ca", "init"], d)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertIn("not a PEM certificate", r.stderr)
            self.assertIn("ca init --force", r.stderr)


class SharedFileTest(unittest.TestCase):
    """Two settings naming one file: refused before either is written, not one destroying the other."""

    QUIET = ["--listen", "127.0.0.1:0", "--set", "admin.listen="]

    def layout(self, d):
        with open(os.path.join(d, "keys.csv"), "w") as f:
            f.write("key,label\nsk-or-v1-%s,a\n" % ("0" * 60))
        with open(os.path.join(d, "config.ini"), "w") as f:
            f.write("[log]\nlevel = info\n")
        self.assertEqual(run(["ca", "init"], d).returncode, 0)
        return {name: read(os.path.join(d, name)) for name in ("keys.csv", "config.ini", "certs/ca.pem", "certs/ca.key")}

    def assertRefused(self, r, *names):
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        for name in names:
            self.assertIn(name, lines[0])
        self.assertIn("name the same file", lines[0])
        self.assertNotIn("created", r.stdout)

    def assertUnchanged(self, d, before):
        for name, text in before.items():
            self.assertEqual(read(os.path.join(d, name)), text, "%s was changed" % name)

    def test_run_refuses_a_file_setting_on_another_settings_file(self):
        with tempfile.TemporaryDirectory() as d:
            before = self.layout(d)
            for setting, other, value in (("keys.state_file", "keys.file", "keys.csv"),
                                          ("keys.state_file", "tls.ca_cert", "certs/ca.pem"),
                                          ("log.file", "the configuration file", "config.ini")):
                with self.subTest(setting=setting, value=value):
                    r = run(["run", "--config", "config.ini", *self.QUIET, "--set", "%s=%s" % (setting, value)], d)
                    self.assertRefused(r, setting, other)
                    self.assertUnchanged(d, before)

    def test_ca_init_env_and_keys_check_refuse_them_too(self):
        with tempfile.TemporaryDirectory() as d:
            before = self.layout(d)
            for command in (["ca", "init"], ["ca", "init", "--force"], ["env"], ["keys", "check"]):
                with self.subTest(command=command):
                    r = run([*command, "--set", "tls.ca_key=certs/ca.pem"], d)
                    self.assertRefused(r, "tls.ca_key", "tls.ca_cert")
                    self.assertUnchanged(d, before)


class ConfigElsewhereTest(unittest.TestCase):
    def test_a_config_file_elsewhere_brings_its_own_files(self):
        # `--config /srv/orp/config.ini` from another directory: the CA, keys and state next to
        # that file, not a new CA minted in the working directory.
        with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as elsewhere:
            config = os.path.join(home, "config.ini")
            with open(config, "w") as f:
                f.write("[proxy]\nlisten = 127.0.0.1:18080\n")
            self.assertEqual(run(["ca", "init", "--config", config], elsewhere).returncode, 0)
            self.assertTrue(os.path.exists(os.path.join(home, "certs", "ca.pem")))
            env = run(["env", "--config", config], elsewhere)
            self.assertEqual(env.returncode, 0, env.stderr)
            self.assertIn("CURL_CA_BUNDLE='%s'" % os.path.join(home, "certs", "bundle.pem"), env.stdout)
            self.assertEqual(os.listdir(elsewhere), [], "files made in the working directory")
            # A path given on the command line is the shell's: relative to the working directory.
            mine = run(["ca", "path", "--config", config, "--set", "tls.ca_cert=mine/ca.pem"], elsewhere)
            self.assertEqual(mine.stdout, os.path.join(os.path.realpath(elsewhere), "mine", "ca.pem") + "\n")

    def test_env_on_a_runner_with_a_copy_of_the_proxys_ca_certificate(self):
        # docs/fleet.md: runners copy certs/ca.pem (not the key) from the shared proxy's host.
        with tempfile.TemporaryDirectory() as proxy_home, tempfile.TemporaryDirectory() as runner:
            self.assertEqual(run(["ca", "init"], proxy_home).returncode, 0)
            os.mkdir(os.path.join(runner, "certs"))
            with open(os.path.join(proxy_home, "certs", "ca.pem")) as src, \
                    open(os.path.join(runner, "certs", "ca.pem"), "w") as dst:
                dst.write(src.read())
            env = run(["env", "--listen", "proxy-host:8080"], runner)
            self.assertEqual(env.returncode, 0, env.stderr)
            self.assertIn("without its key", env.stderr)
            self.assertIn("HTTPS_PROXY='http://proxy-host:8080'", env.stdout)
            bundle = os.path.join(runner, "certs", "bundle.pem")
            self.assertIn("CURL_CA_BUNDLE='%s'" % bundle, env.stdout)
            self.assertIn(read(os.path.join(proxy_home, "certs", "ca.pem")).strip(), read(bundle))
            self.assertFalse(os.path.exists(os.path.join(runner, "certs", "ca.key")), "a CA key was made")

    def test_env_says_when_it_creates_a_ca(self):
        with tempfile.TemporaryDirectory() as d:
            env = run(["env"], d)
            self.assertEqual(env.returncode, 0, env.stderr)
            self.assertIn("created the local CA at", env.stderr)
            again = run(["env"], d)
            self.assertNotIn("created", again.stderr)


class KeysCommandsTest(unittest.TestCase):
    def keys_check(self, fake, keys, *args):
        """`keys check` on a proxy's files (config.ini pointing at `fake`, keys.csv holding `keys`)."""
        proxy = Proxy(fake, keys=keys)
        proxy.write_files()
        self.addCleanup(proxy.cleanup)
        return run(["keys", "check", "--config", proxy.config_path, *args], proxy.dir)

    def test_keys_check_prints_a_masked_table(self):
        with FakeOpenRouter() as fake:
            fake.script([dict(KEY_401, key=POOL_KEY_B)])
            r = self.keys_check(fake, [(POOL_KEY_A, "alpha"), (POOL_KEY_B, "")])
            # First: the messages below print the output.
            harness.assert_no_key_in(self, r.stdout + r.stderr, (POOL_KEY_A, POOL_KEY_B), "keys check's output")
            self.assertEqual(r.returncode, 1, r.stderr)  # one key is unusable
            self.assertIn("probing keys: 2/2", r.stderr)
            lines = r.stdout.splitlines()
            self.assertRegex(lines[1], r"^alpha\s+sk-or-v1-…ol-a\s+ok\s+")
            self.assertRegex(lines[2], r"^-\s+sk-or-v1-…ol-b\s+invalid")
            self.assertIn("1 of 2 keys usable", r.stdout)

    def test_keys_check_exit_code_3_says_the_upstream_was_not_reached(self):
        keys = [(POOL_KEY_A, "alpha"), (POOL_KEY_B, "beta")]
        closed = "openrouter.ai:443=127.0.0.1:%d" % harness.free_port()  # nothing listens there
        r = self.keys_check(None, keys, "--set", "upstream.resolve=" + closed)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("0 of 2 keys usable; 2 not checked (the upstream was not reached or failed)", r.stdout)
        self.assertIn("unreachable", r.stdout)
        with FakeOpenRouter() as fake:
            # An upstream failing for one key, while the other is fine: still not a bad key.
            fake.script([{"key": POOL_KEY_B, "path": "/api/v1/key", "status": 503,
                          "body": {"error": {"code": 503, "message": "overloaded"}}}])
            r = self.keys_check(fake, keys)
            self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
            # A timeout (408) is the upstream's, not the key's (SPEC: transient).
            fake.script([{"key": POOL_KEY_B, "path": "/api/v1/key", "status": 408,
                          "body": {"error": {"code": 408, "message": "timed out"}}}])
            r = self.keys_check(fake, keys)
            self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
            # ... and a bad key with it: 1, the bad key comes first.
            fake.script([dict(KEY_401, key=POOL_KEY_A)], append=True)
            r = self.keys_check(fake, keys)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        with tempfile.TemporaryDirectory() as d:
            help_text = run(["keys", "check", "--help"], d).stdout
        self.assertIn("Exit codes: 0 every key usable; 1 a key is not", help_text)
        self.assertIn("3 no key found unusable, but the upstream was not reached", help_text)

    def test_keys_check_names_a_bad_setting(self):
        # Each bad setting comes with a loopback upstream (a closed port) for the other one: a
        # `keys check` that took the bad setting would probe 127.0.0.1:1, never openrouter.ai.
        pinned = {"upstream.api_url": "https://127.0.0.1:1/api/v1", "upstream.resolve": "openrouter.ai:443=127.0.0.1:1"}
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "keys.csv"), "w") as f:
                f.write(POOL_KEY_A + ",alpha\n")
            for setting, fragment in (("upstream.api_url=http://127.0.0.1:1/api/v1", "upstream.api_url: "),
                                      ("upstream.resolve=nonsense", "upstream.resolve: ")):
                other = next(k for k in pinned if not setting.startswith(k + "="))
                r = run(["keys", "check", "--set", "%s=%s" % (other, pinned[other]), "--set", setting], d)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertTrue(r.stderr.startswith("openrouter-proxy: " + fragment), r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_keys_status_reads_the_running_proxy(self):
        with FakeOpenRouter() as fake:
            with Proxy(fake, keys=[(POOL_KEY_A, "alpha"), (POOL_KEY_B, "beta")]) as proxy:
                fake.script([{"key": POOL_KEY_A, "status": 401,
                              "body": {"error": {"code": 401, "message": "User not found."}}}])
                res = curl(via_proxy(proxy, *chat_args(), "https://openrouter.ai/api/v1/chat/completions"), metrics=True)
                self.assertEqual(res.status, 200)
                fake.script([{"key": POOL_KEY_B, "status": 400, "times": 1,
                              "body": {"error": {"code": 400, "message": "bad model"}}}])
                res = curl(via_proxy(proxy, *chat_args(), "https://openrouter.ai/api/v1/chat/completions"), metrics=True)
                self.assertEqual(res.status, 400)
                r = run(["keys", "status", "--config", proxy.config_path, "--set", "admin.listen=" + proxy.ready["admin"]],
                        proxy.dir)
                self.assertEqual(r.returncode, 0, r.stderr)
                harness.assert_no_key_in(self, r.stdout + r.stderr, (POOL_KEY_A, POOL_KEY_B), "keys status's output")
                header, *lines = r.stdout.splitlines()
                rows = {l.split()[0]: l for l in lines}
                self.assertIn("disabled_invalid", rows["alpha"])
                self.assertIn("active", rows["beta"])
                # Cells start where their heading does: beta's counts add up to its requests.
                cell = lambda row, name: row[header.index(name):].split()[0]  # noqa: E731
                counts = {name: cell(rows["beta"], name) for name in
                          ("requests", "ok", "client errors", "failed", "cancelled", "in flight")}
                self.assertEqual(counts, {"requests": "2", "ok": "1", "client errors": "1", "failed": "0",
                                          "cancelled": "0", "in flight": "0"}, r.stdout)
                self.assertEqual((cell(rows["alpha"], "requests"), cell(rows["alpha"], "failed")), ("1", "1"), r.stdout)

    def test_keys_status_without_a_proxy_says_so(self):
        with tempfile.TemporaryDirectory() as d:
            r = run(["keys", "status", "--set", "admin.listen=127.0.0.1:1"], d)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stderr, "openrouter-proxy: cannot reach the admin endpoint at 127.0.0.1:1: "
                                       "Connection refused (is the proxy running?)\n")


class CommandLineTest(unittest.TestCase):
    def refusal(self, *args):
        with tempfile.TemporaryDirectory() as d:
            r = run(list(args), d)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        return r.stderr.splitlines()[0]

    def test_unknown_words_are_named_with_what_was_expected(self):
        self.assertEqual(self.refusal("keys", "stauts"),
                         "openrouter-proxy: keys: unknown command 'stauts' (expected check or status)")
        self.assertEqual(self.refusal("key", "status"),
                         "openrouter-proxy: unknown command 'key' (expected run, ca, env, keys or config)")
        self.assertEqual(self.refusal("keys"), "openrouter-proxy: keys needs a command: check or status")
        self.assertEqual(self.refusal("ca", "init", "now"), "openrouter-proxy: ca init: unexpected argument 'now'")
        self.assertEqual(self.refusal("run", "--verbose"), "openrouter-proxy: run: unknown option --verbose")

    def test_each_command_lists_its_options_and_only_run_the_settings(self):
        with tempfile.TemporaryDirectory() as d:
            for args, table in ((["run", "--help"], True), (["--help"], True), (["keys", "check", "--help"], False),
                                (["env", "--help"], False), (["ca", "init", "--help"], False)):
                r = run(args, d)
                self.assertEqual(r.returncode, 0, r.stderr)
                for option in ("--config", "--set", "--listen", "--keys"):
                    self.assertIn(option, r.stdout, args)
                self.assertEqual("proxy.listen = 127.0.0.1:8080" in r.stdout, table, args)
                if not table:
                    self.assertIn("openrouter-proxy config reference", r.stdout, args)

    def test_options_before_and_after_the_command_both_count(self):
        with tempfile.TemporaryDirectory() as d:
            r = run(["--set", "tls.ca_cert=mine/ca.pem", "--set", "tls.ca_key=mine/ca.key", "env",
                     "--set", "proxy.listen=127.0.0.1:7071"], d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("export HTTPS_PROXY='http://127.0.0.1:7071'", r.stdout)
            self.assertIn(os.path.join("mine", "ca.pem"), r.stdout)


class RunScriptTest(unittest.TestCase):
    """scripts/run.sh in a copy of the repository's layout (setup.sh stubbed, the real binary)."""

    def layout(self, config_port):
        d = tempfile.mkdtemp(prefix="orp-runsh-")
        self.addCleanup(shutil.rmtree, d, True)
        os.makedirs(os.path.join(d, "scripts"))
        os.makedirs(os.path.join(d, "build"))
        shutil.copy(os.path.join(harness.SOURCE_DIR, "scripts", "run.sh"), os.path.join(d, "scripts", "run.sh"))
        with open(os.path.join(d, "scripts", "setup.sh"), "w") as f:
            f.write("exit 0\n")
        os.symlink(os.path.abspath(harness.binary_path()), os.path.join(d, "build", "openrouter-proxy"))
        with open(os.path.join(d, "config.ini"), "w") as f:
            f.write("[proxy]\nlisten = 127.0.0.1:%d\n[admin]\nlisten =\n" % config_port)
        with open(os.path.join(d, "keys.csv"), "w") as f:
            f.write("")
        return d

    def run_sh(self, d, *args):
        """Starts run.sh with `args` (and a ready file); returns its output once the proxy is up."""
        out_path = os.path.join(d, "run-stdout.txt")
        with open(out_path, "w") as out:
            proc = subprocess.Popen(harness.with_parent_death(
                ["bash", os.path.join(d, "scripts", "run.sh"), *args, "--ready-file", os.path.join(d, "ready.json")]),
                cwd=d, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=harness.clean_env())
        self.addCleanup(harness.stop_process, proc)
        harness.wait_until(lambda: os.path.exists(os.path.join(d, "ready.json")), 30,
                           message="the proxy started by run.sh\n" + read(out_path))
        return read(out_path)

    def assertHintExports(self, text, port):
        # The suggested command, run as printed, exports this run's address.
        eval_line = next(l.strip() for l in text.splitlines() if l.strip().startswith("eval "))
        env = subprocess.run(["bash", "-c", eval_line + '\nprintf %s "$HTTPS_PROXY"'], capture_output=True,
                             text=True, timeout=30, cwd=tempfile.gettempdir(), env=harness.clean_env())
        self.assertEqual(env.returncode, 0, env.stderr)
        self.assertEqual(env.stdout, "http://127.0.0.1:%d" % port)

    def test_client_hint_names_the_address_this_run_listens_on(self):
        config_port = listen_port = harness.free_port()
        while listen_port == config_port:
            listen_port = harness.free_port()
        d = self.layout(config_port)
        text = self.run_sh(d, "--listen", "127.0.0.1:%d" % listen_port)
        self.assertIn("HTTPS_PROXY=http://127.0.0.1:%d " % listen_port, text)
        self.assertNotIn(str(config_port), text)
        self.assertNotIn("8080", text)
        self.assertHintExports(text, listen_port)

    def test_another_config_file_replaces_the_repositorys(self):
        # `run.sh --config other.ini` used to add it to its own --config config.ini: refused (two).
        repo_port, other_port = harness.free_port(), harness.free_port()
        while other_port == repo_port:
            other_port = harness.free_port()
        d = self.layout(repo_port)
        other = os.path.join(d, "other.ini")
        with open(other, "w") as f:
            f.write("[proxy]\nlisten = 127.0.0.1:%d\n[admin]\nlisten =\n" % other_port)
        text = self.run_sh(d, "--config", other)
        self.assertIn("HTTPS_PROXY=http://127.0.0.1:%d " % other_port, text)
        self.assertEqual(json.loads(read(os.path.join(d, "ready.json")))["proxy"], "127.0.0.1:%d" % other_port)
        self.assertHintExports(text, other_port)


if __name__ == "__main__":
    unittest.main()
