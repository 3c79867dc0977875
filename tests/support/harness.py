"""Helpers for the end-to-end tests: test PKI, the fake OpenRouter, the proxy process, curl.

Standard library only (plus the `openssl` and `curl` command-line tools). Every loop has a
deadline, every process is stopped by its PID, and nothing listens beyond 127.0.0.1.
"""

import atexit
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import NamedTuple

SUPPORT_DIR = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(SUPPORT_DIR)
SOURCE_DIR = os.environ.get("ORP_SOURCE_DIR") or os.path.dirname(TESTS_DIR)
PYTHON = "/usr/bin/python3"
FAKE_SCRIPT = os.path.join(SUPPORT_DIR, "fake_openrouter.py")

POOL_KEY_A = "sk-or-v1-test-pool-a"
POOL_KEY_B = "sk-or-v1-test-pool-b"
CLIENT_KEY = "sk-or-v1-test-client"
CHAT_PATH = "/api/v1/chat/completions"

PROXY_ENV_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy",
                  "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY",
                  "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")


def binary_path():
    return os.environ.get("ORP_BINARY") or os.path.join(SOURCE_DIR, "build", "openrouter-proxy")


def clean_env(extra=None):
    """The environment without proxy/CA variables the developer may have exported."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_ENV_VARS}
    env.update(extra or {})
    return env


# Servers a test starts get SIGTERM from the kernel when the test process dies, even by SIGKILL
# (ctest's --timeout) or an interrupted run, so none is left behind; stop_process() is still the
# normal way. setpriv (util-linux) execs the command, so the PID is the server's own. Only for
# processes started from the test's main thread: the signal follows the thread that forked.
DIE_WITH_TEST = ["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else []


def with_parent_death(cmd):
    return DIE_WITH_TEST + list(cmd)


def _record_skips():
    """ctest shows a Python test file that skipped some tests as Passed: every skip is also added
    to $ORP_ARTIFACTS/skipped.txt, which scripts/test.sh prints at the end of a run."""
    artifacts = os.environ.get("ORP_ARTIFACTS")
    if not artifacts:
        return
    original = unittest.TestResult.addSkip

    def add_skip(result, test, reason):
        try:
            os.makedirs(artifacts, exist_ok=True)
            with open(os.path.join(artifacts, "skipped.txt"), "a", encoding="utf-8") as out:
                name = test.id()
                if name.startswith("__main__."):  # run as a script (ctest): name the file instead
                    name = os.path.splitext(os.path.basename(sys.argv[0]))[0] + name[len("__main__"):]
                out.write("%s: %s\n" % (name, reason))
        except OSError:
            pass
        original(result, test, reason)

    unittest.TestResult.addSkip = add_skip


_record_skips()


def wait_until(predicate, timeout, interval=0.02, message="condition"):
    """Poll predicate() until it returns a truthy value; raise AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, message))
        time.sleep(interval)


def stop_process(proc, timeout=10.0):
    """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)
    return proc.returncode


def tail(path, limit=4000):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return "<%s unreadable>" % path
    return data[-limit:].decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------
# Test PKI
# ---------------------------------------------------------------------------------------------

class TestPKI(NamedTuple):
    dir: str
    ca_cert: str        # the test CA: trust anchor for the fake's certificates
    ca_key: str
    server_cert: str    # CN=openrouter.ai, SAN openrouter.ai, localhost, 127.0.0.1
    server_key: str
    tunnel_cert: str    # CN=tunnel-target.test, SAN localhost, 127.0.0.1
    tunnel_key: str


_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_openrouter]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:openrouter.ai, DNS:localhost, IP:127.0.0.1
[server_tunnel]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1
"""

_pki_cache = {}
_pki_lock = threading.Lock()


def _openssl(*args, cwd=None):
    res = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=30,
                         env=clean_env({"OPENSSL_CONF": "/dev/null"}))
    if res.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), res.stderr.decode()))
    return res.stdout


def make_test_pki(dir=None):
    """Create (once per process and directory) a test CA and two server certificates, EC P-256.

    With dir=None a process-wide temporary directory is used and removed at exit.
    """
    with _pki_lock:
        if dir is None:
            if None in _pki_cache:
                return _pki_cache[None]
            d = tempfile.mkdtemp(prefix="orp-pki-")
            atexit.register(shutil.rmtree, d, True)
        else:
            d = os.path.abspath(dir)
            if d in _pki_cache:
                return _pki_cache[d]
            os.makedirs(d, exist_ok=True)
        cnf = os.path.join(d, "openssl.cnf")
        with open(cnf, "w") as f:
            f.write(_OPENSSL_CNF)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        _openssl("req", "-config", cnf, "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
                 "-days", "30", "-subj", "/CN=openrouter-proxy e2e test CA", "-extensions", "v3_ca",
                 "-sha256", cwd=d)
        for name, cn, section in (("server", "openrouter.ai", "server_openrouter"),
                                  ("tunnel", "tunnel-target.test", "server_tunnel")):
            _openssl("req", "-config", cnf, "-new", *ec, "-keyout", name + ".key",
                     "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
            _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                     "-set_serial", "0x%x" % int.from_bytes(os.urandom(16), "big"),
                     "-days", "30", "-sha256", "-extfile", cnf, "-extensions", section,
                     "-out", name + ".pem", cwd=d)
        pki = TestPKI(d, os.path.join(d, "ca.pem"), os.path.join(d, "ca.key"),
                      os.path.join(d, "server.pem"), os.path.join(d, "server.key"),
                      os.path.join(d, "tunnel.pem"), os.path.join(d, "tunnel.key"))
        _pki_cache[None if dir is None else d] = pki
        return pki


# ---------------------------------------------------------------------------------------------
# The fake OpenRouter
# ---------------------------------------------------------------------------------------------

class FakeOpenRouter:
    """Runs tests/support/fake_openrouter.py as a subprocess; control calls go to it directly.

    with FakeOpenRouter() as fake:            # certificate for openrouter.ai by default
        fake.script([{"key": POOL_KEY_A, "status": 429, "times": 1}])
        fake.requests(); fake.stats(); fake.reset()
    """

    def __init__(self, cert=None, key=None, pki=None, events=None, interval_ms=None,
                 processing_comments=None, idle_timeout=None, tunnel_cert=False,
                 start_timeout=10.0):
        self.pki = pki or make_test_pki()
        if cert is None:
            cert, key = ((self.pki.tunnel_cert, self.pki.tunnel_key) if tunnel_cert
                         else (self.pki.server_cert, self.pki.server_key))
        self.cert, self.key = cert, key
        self.args = []
        for flag, value in (("--events", events), ("--interval-ms", interval_ms),
                            ("--processing-comments", processing_comments),
                            ("--idle-timeout", idle_timeout)):
            if value is not None:
                self.args += [flag, str(value)]
        self.start_timeout = start_timeout
        self.proc = None
        self.port = None
        self._stderr = None
        self._ctx = ssl.create_default_context(cafile=self.pki.ca_cert)

    # -- life ------------------------------------------------------------------------------------
    def start(self):
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            with_parent_death([PYTHON, FAKE_SCRIPT, "--cert", self.cert, "--key", self.key, "--port", "0",
                               *self.args]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            env=clean_env({"PYTHONDONTWRITEBYTECODE": "1"}))
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + self.start_timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("fake OpenRouter did not start: %s" % self.stderr_text())
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    continue
                buf += chunk
        self.port = json.loads(buf.split(b"\n")[0])["port"]
        return self

    def stop(self):
        code = stop_process(self.proc, timeout=5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self._stderr is not None:
            self._stderr.close()

    def stderr_text(self):
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-4000:]

    # -- control ---------------------------------------------------------------------------------
    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def base_url(self):
        return "https://127.0.0.1:%d" % self.port

    def call(self, method, path, body=None, headers=None, timeout=10):
        """One request straight to the fake (not through the proxy); returns (status, headers, body)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self._ctx,
                                           timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            hdrs = {"Content-Type": "application/json"} if data is not None else {}
            hdrs.update(headers or {})
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def _control(self, method, path, body=None):
        status, _, data = self.call(method, path, body)
        if status != 200:
            raise RuntimeError("fake control %s %s -> %d %r" % (method, path, status, data))
        return json.loads(data)

    def script(self, rules, append=False):
        return self._control("POST", "/_fake/script" + ("?append=1" if append else ""),
                             {"rules": list(rules)})

    def configure(self, **settings):
        """events=, interval_ms=, processing_comments=, key_info={key: {...}}"""
        return self._control("POST", "/_fake/config", settings)

    def reset(self):
        return self._control("POST", "/_fake/reset", {})

    def requests(self, path_prefix=None):
        recs = self._control("GET", "/_fake/requests")
        if path_prefix:
            recs = [r for r in recs if r["path"].startswith(path_prefix)]
        return recs

    def stats(self):
        return self._control("GET", "/_fake/stats")

    def rules(self):
        return self._control("GET", "/_fake/rules")


def header(record_or_headers, name, default=None):
    """Case-insensitive header lookup in a fake request record or a headers dict."""
    headers = record_or_headers.get("headers", record_or_headers) \
        if isinstance(record_or_headers, dict) else record_or_headers
    lname = name.lower()
    for k, v in headers.items():
        if k.lower() == lname:
            return v
    return default


# ---------------------------------------------------------------------------------------------
# The proxy under test
# ---------------------------------------------------------------------------------------------

class TunnelTargetMixin:
    """A second fake server with its own certificate (CN=tunnel-target.test) as `cls.target`,
    for tests of hosts the proxy tunnels; reset before each test. List it before the base class
    (it needs the base's `cls.pki`)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.target = FakeOpenRouter(pki=cls.pki, tunnel_cert=True).start()
        except BaseException:
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.target.__exit__(None, None, None)
        finally:
            super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.target.reset()


class ProxyStartError(AssertionError):
    pass


class Proxy:
    """The real openrouter-proxy binary, in its own temporary directory.

    with Proxy(fake, keys=[(POOL_KEY_A, "pool-a")], overrides={"proxy.workers": 2}) as proxy:
        proxy.url, proxy.port, proxy.admin_url, proxy.dir, proxy.ca_path, proxy.log_text()

    The binary is started as `BIN run --config DIR/config.ini --ready-file DIR/ready.json`
    with cwd=DIR, and must write ready.json = {"proxy": "127.0.0.1:P", "admin": "127.0.0.1:Q"}
    once it listens. stop() sends SIGTERM and waits up to 10 s, then SIGKILLs.
    """

    def __init__(self, fake=None, keys=((POOL_KEY_A, "pool-a"),), overrides=None,
                 extra_args=(), workdir=None, ready_timeout=15.0, binary=None,
                 keys_csv=None, env=None, write_config=True):
        self.fake = fake
        self.keys = list(keys)
        self.keys_csv = keys_csv
        self.overrides = dict(overrides or {})
        self.extra_args = list(extra_args)
        self.ready_timeout = ready_timeout
        self.binary = binary or binary_path()
        self.env = env
        self.write_config = write_config
        self._own_dir = workdir is None
        self.dir = os.path.abspath(workdir) if workdir else tempfile.mkdtemp(prefix="orp-e2e-")
        self.proc = None
        self.ready = None
        self.returncode = None
        self._out = None
        self._err = None
        self._written = False

    # -- files -----------------------------------------------------------------------------------
    @property
    def config_path(self):
        return os.path.join(self.dir, "config.ini")

    @property
    def ready_path(self):
        return os.path.join(self.dir, "ready.json")

    @property
    def ca_path(self):
        return os.path.join(self.dir, "certs", "ca.pem")

    @property
    def log_path(self):
        return os.path.join(self.dir, "proxy.log")

    def config_sections(self):
        pki = self.fake.pki if self.fake is not None else make_test_pki()
        sections = {
            "proxy": {"listen": "127.0.0.1:0", "intercept_hosts": "openrouter.ai"},
            "upstream": {"api_url": "https://openrouter.ai/api/v1", "ca_file": pki.ca_cert,
                         "resolve": ("openrouter.ai:443=127.0.0.1:%d" % self.fake.port)
                         # No fake: a closed loopback port, so that nothing reaches the real host.
                         if self.fake is not None else "openrouter.ai:443=127.0.0.1:1"},
            "keys": {"file": "keys.csv", "state_file": "data/key_state.json"},
            "tls": {"ca_cert": "certs/ca.pem", "ca_key": "certs/ca.key"},
            "log": {"file": "proxy.log"},
            "admin": {"listen": "127.0.0.1:0"},
        }
        for dotted, value in self.overrides.items():
            section, key = dotted.split(".", 1)
            if value is None:
                sections.get(section, {}).pop(key, None)
            else:
                sections.setdefault(section, {})[key] = str(value)
        return sections

    def write_files(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(self.config_path, "w") as f:
            f.write("; written by tests/support/harness.py\n")
            for section, values in self.config_sections().items():
                f.write("[%s]\n" % section)
                for k, v in values.items():
                    f.write("%s = %s\n" % (k, v))
                f.write("\n")
        self.write_keys(self.keys if self.keys_csv is None else self.keys_csv)

    def write_keys(self, keys):
        """keys: a list of (key, label) / (key, label, weight), or raw keys.csv text."""
        if isinstance(keys, str):
            text = keys
        else:
            lines = ["# test keys", "key,label,weight"]
            for entry in keys:
                entry = (entry,) if isinstance(entry, str) else tuple(entry)
                key, label, weight = (entry + ("", ""))[:3]
                lines.append("%s,%s,%s" % (key, label, weight))
            text = "\n".join(lines) + "\n"
        tmp = os.path.join(self.dir, "keys.csv.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)  # as a keys file should be (the proxy warns otherwise)
        os.replace(tmp, os.path.join(self.dir, "keys.csv"))

    # -- life ------------------------------------------------------------------------------------
    def command(self):
        return [self.binary, "run", "--config", self.config_path,
                "--ready-file", self.ready_path, *self.extra_args]

    def start(self):
        if not os.path.exists(self.binary):
            raise ProxyStartError("proxy binary not found at %s (set ORP_BINARY)" % self.binary)
        if self.write_config and not self._written:
            self.write_files()  # only before the first start: restart() keeps the files
            self._written = True
        try:
            os.unlink(self.ready_path)
        except FileNotFoundError:
            pass
        for f in (self._out, self._err):
            if f is not None:
                f.close()
        self._out = open(os.path.join(self.dir, "stdout.txt"), "ab")
        self._err = open(os.path.join(self.dir, "stderr.txt"), "ab")
        self.returncode = None
        self.proc = subprocess.Popen(with_parent_death(self.command()), cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err,
                                     env=clean_env(self.env))
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise ProxyStartError("proxy exited with %d before it was ready\n%s"
                                      % (self.returncode, self.diagnostics()))
            ready = self._read_ready()
            if ready is not None:
                self.ready = ready
                return self
            if time.monotonic() >= deadline:
                self.stop()
                raise ProxyStartError("proxy not ready after %.0fs\n%s"
                                      % (self.ready_timeout, self.diagnostics()))
            time.sleep(0.02)

    def _read_ready(self):
        try:
            with open(self.ready_path) as f:
                data = json.load(f)
        except (FileNotFoundError, ValueError):
            return None  # not there yet, or (if not written atomically) half-written
        return data if "proxy" in data else None

    def stop(self, expect_code=None, timeout=10.0):
        """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit code (asserted if asked)."""
        if self.proc is not None:
            self.returncode = stop_process(self.proc, timeout)
            self.proc = None
        for f in (self._out, self._err):
            if f is not None:
                f.close()
        self._out = self._err = None
        if expect_code is not None and self.returncode != expect_code:
            raise AssertionError("proxy exited with %s, expected %s\n%s"
                                 % (self.returncode, expect_code, self.diagnostics()))
        self.check_sanitizers()
        return self.returncode

    def check_sanitizers(self):
        """A sanitizer build reports to stderr, often at exit: any report fails the test."""
        path = os.path.join(self.dir, "stderr.txt")
        if not os.path.exists(path):
            return
        text = tail(path, 1 << 20)
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in text:
                at = text.index(marker)
                raise AssertionError("sanitizer report from the proxy:\n" + text[max(0, at - 200):at + 4000])

    def restart(self):
        """Stop and start again in the same directory (state, certs and keys are kept)."""
        self.stop()
        return self.start()

    def send_signal(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        self.stop()
        if self._own_dir and not os.environ.get("ORP_KEEP_TEST_DIRS"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.cleanup()

    # -- addresses -------------------------------------------------------------------------------
    @property
    def address(self):
        return self.ready["proxy"]

    @property
    def port(self):
        return int(self.address.rsplit(":", 1)[1])

    @property
    def url(self):
        return "http://" + self.address

    @property
    def admin_url(self):
        admin = self.ready.get("admin") if self.ready else None
        return "http://" + admin if admin else None

    # -- output ----------------------------------------------------------------------------------
    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_text(self):
        return tail(os.path.join(self.dir, "stderr.txt"), 1 << 20)

    def stdout_text(self):
        return tail(os.path.join(self.dir, "stdout.txt"), 1 << 20)

    def all_output(self):
        return self.log_text() + "\n" + self.stderr_text() + "\n" + self.stdout_text()

    def diagnostics(self):
        return ("--- stderr (tail) ---\n%s\n--- proxy.log (tail) ---\n%s"
                % (tail(os.path.join(self.dir, "stderr.txt")), tail(self.log_path)))

    def admin_get(self, path, timeout=5):
        return self.admin_request("GET", path, timeout)

    def admin_post(self, path, timeout=5):
        return self.admin_request("POST", path, timeout)

    def admin_request(self, method, path, timeout=5):
        host, port = self.ready["admin"].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


# ---------------------------------------------------------------------------------------------
# Redis (state.backend = redis)
# ---------------------------------------------------------------------------------------------

def free_port():
    """A loopback port that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ephemeral_port_range():
    """net.ipv4.ip_local_port_range: where the kernel takes the ports of binds to port 0 and of
    outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def port_outside_ephemeral_range(rng=random):
    """A random loopback port outside the ephemeral range that can be bound right now, or None
    when the range leaves no room. No bind to port 0 and no outgoing connection (of this test or
    of any other running beside it) is given such a port, so only a server that asks for this
    very number can take it before the caller does; the caller still has to retry if one did."""
    lo, hi = ephemeral_port_range()
    ranges = [(a, b) for a, b in ((10000, lo - 1), (hi + 1, 65535)) if b - a >= 100]
    if not ranges:
        return None
    sizes = [b - a + 1 for a, b in ranges]
    for _ in range(50):
        i = rng.randrange(sum(sizes))
        for (a, _b), size in zip(ranges, sizes):
            if i < size:
                port = a + i
                break
            i -= size
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server binds
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    return None


REDIS_ERROR_PREFIXES = ("ERR ", "WRONGTYPE ", "NOAUTH ", "WRONGPASS ", "NOPERM ", "NOSCRIPT ", "LOADING ",
                        "BUSY ", "READONLY ", "(error)")


class RedisServer:
    """A throw-away `redis-server` on 127.0.0.1 without persistence, stopped by its PID.

    with RedisServer() as redis:
        redis.url, redis.port, redis.cli("HGETALL", "orp:key:<fp>"), redis.kill(), redis.start()

    The port is settled by the first start(): a random one outside the kernel's ephemeral range
    (net.ipv4.ip_local_port_range), so no other test's bind to port 0 or outgoing connection
    takes it, and another one if redis-server cannot bind it all the same. start() after
    stop()/kill() brings the same Redis address back, empty: a restart that lost its data; it
    tries again for up to start_timeout while the port is still taken. `port` and `url` are
    known before the first start, but may change if that start has to move.
    """

    PORT_TRIES = 20

    def __init__(self, password=None, start_timeout=10.0):
        self.password = password
        self.start_timeout = start_timeout
        self._rng = random.Random()
        self.port = self._pick_port()
        self._port_settled = False
        self.dir = tempfile.mkdtemp(prefix="orp-redis-")
        self.proc = None

    def _pick_port(self):
        return port_outside_ephemeral_range(self._rng) or free_port()

    @property
    def url(self):
        auth = ":%s@" % self.password if self.password else ""
        return "redis://%s127.0.0.1:%d/0" % (auth, self.port)

    @property
    def log_path(self):
        return os.path.join(self.dir, "redis.log")

    def start(self):
        if shutil.which("redis-server") is None:
            raise unittest.SkipTest("redis-server not installed (scripts/setup.sh installs it)")
        if not self._port_settled:
            # First start: a port another server holds is given up for another one.
            for _ in range(self.PORT_TRIES):
                if self._launch():
                    self._port_settled = True
                    return self
                self.port = self._pick_port()
            raise RuntimeError("redis-server could not bind any of %d ports: %s"
                               % (self.PORT_TRIES, tail(self.log_path)))
        # A restart keeps its address (the proxies know it): wait, bounded, for the port to be free.
        deadline = time.monotonic() + self.start_timeout
        while not self._launch():
            if time.monotonic() >= deadline:
                raise RuntimeError("redis-server could not bind port %d again within %.0fs: %s"
                                   % (self.port, self.start_timeout, tail(self.log_path)))
            time.sleep(0.1)
        return self

    def _launch(self):
        """One redis-server on self.port: True once it answers as itself, False when the port was
        taken (it could not bind, or another server answers there); raises on any other failure."""
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning"]
        if self.password:
            cmd += ["--requirepass", self.password]
        log = open(self.log_path, "ab")
        log_from = log.tell()
        try:
            self.proc = subprocess.Popen(with_parent_death(cmd), cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=clean_env())
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                with open(self.log_path, "rb") as f:
                    f.seek(log_from)
                    said = f.read().decode("utf-8", "replace")
                if "Address already in use" in said:
                    return False
                raise RuntimeError("redis-server exited with %d on port %d: %s" % (code, self.port, said[-4000:]))
            # Whoever answers must be this process: another Redis on the port would answer too,
            # until ours gives up binding it.
            if self.ping() and self.server_pid() == self.proc.pid:
                return True
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError("redis-server did not start on port %d within %.0fs: %s"
                                   % (self.port, self.start_timeout, tail(self.log_path)))
            time.sleep(0.02)

    def server_pid(self):
        """process_id of the server answering on self.port (INFO server), or None."""
        out = self.cli("INFO", "server")
        for line in out.splitlines():
            if line.startswith("process_id:"):
                try:
                    return int(line.split(":", 1)[1])
                except ValueError:
                    return None
        return None

    def ping(self, timeout=0.5):
        """True when the server answers PING (after AUTH when it has a password)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                req = b""
                if self.password:
                    req += b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(self.password),
                                                                  self.password.encode())
                s.sendall(req + b"*1\r\n$4\r\nPING\r\n")
                data = b""
                while b"+PONG" not in data:
                    chunk = s.recv(256)
                    if not chunk:
                        return False
                    data += chunk
                return True
        except OSError:
            return False

    def stop(self):
        code = stop_process(self.proc, timeout=5)
        self.proc = None
        return code

    def kill(self):
        """SIGKILL, as a crash would: no goodbye to clients."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cli(self, *args, timeout=5, check=False):
        """`redis-cli` against this server; returns its stdout without the final newline.
        check=True raises AssertionError when redis-cli fails (no server, an error reply)."""
        cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)]
        if self.password:
            cmd += ["-a", self.password, "--no-auth-warning"]
        res = subprocess.run(cmd + [str(a) for a in args], capture_output=True, timeout=timeout,
                             env=clean_env(), stdin=subprocess.DEVNULL)
        out = res.stdout.decode("utf-8", "replace").rstrip("\n")
        # redis-cli exits 0 on an error reply too: it prints the reply, "ERR ...", "WRONGTYPE ...".
        if check and (res.returncode != 0 or out.startswith(REDIS_ERROR_PREFIXES)):
            raise AssertionError("redis-cli %s failed (exit %d): %s %s"
                                 % (args[0] if args else "", res.returncode, out[:500],
                                    res.stderr.decode("utf-8", "replace")[:500]))
        return out

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


# ---------------------------------------------------------------------------------------------
# curl
# ---------------------------------------------------------------------------------------------

METRICS_MARK = b"\n@@ORP_CURL_METRICS@@"


class CurlResult(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: str
    metrics: object          # dict from -w %{json} of the last transfer (None unless asked)
    all_metrics: list = []   # one dict per transfer when several URLs were given

    @property
    def status(self):
        return self.metrics.get("http_code") if self.metrics else None

    def json(self):
        return json.loads(self.stdout)


def curl(args, timeout=30, metrics=False, input=None, env=None):
    """Run curl (never reading ~/.curlrc, with proxy variables scrubbed) and return a CurlResult.

    metrics=True appends -w with a marker and %{json}; the body is split from the metrics, so
    it works with several URLs in one invocation (all_metrics has one entry per transfer).
    """
    cmd = ["curl", "-q", "-sS", *args]
    if metrics:
        cmd += ["-w", METRICS_MARK.decode() + "%{json}\n"]
    res = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout,
                         env=clean_env(env), stdin=None if input is not None else subprocess.DEVNULL)
    out = res.stdout
    all_metrics = []
    if metrics:
        parts = out.split(METRICS_MARK)
        body = [parts[0]]
        for part in parts[1:]:
            line, _, rest = part.partition(b"\n")
            try:
                all_metrics.append(json.loads(line))
            except ValueError:
                all_metrics.append({"unparsed": line.decode("utf-8", "replace")})
            body.append(rest)
        out = b"".join(body)
    return CurlResult(res.returncode, out, res.stderr.decode("utf-8", "replace"),
                      all_metrics[-1] if all_metrics else None, all_metrics)


def curl_during(args, action, timeout=15):
    """Starts `curl -sS ARGS` in the background, runs action() meanwhile (wait for the request to
    be where the test wants it, send a signal, run another client...), then returns curl's
    (stdout, stderr) within `timeout`; a curl still running after that is killed."""
    proc = subprocess.Popen(["curl", "-q", "-sS", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=clean_env(None))
    try:
        action()
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def curl_with_headers(args, timeout=30, input=None, env=None):
    """curl with metrics and `-D` into a temporary file: (CurlResult, headers of the last response
    as a dict with lower-case names)."""
    with tempfile.NamedTemporaryFile(suffix=".headers", delete=False) as f:
        head_path = f.name
    try:
        res = curl(["-D", head_path, *args], timeout=timeout, metrics=True, input=input, env=env)
        with open(head_path, encoding="utf-8", errors="replace") as f:
            headers = parse_header_block(f.read())
    finally:
        os.unlink(head_path)
    return res, headers


def via_proxy(proxy, *args):
    """curl arguments that send an https request through the proxy (CONNECT) trusting its CA."""
    return ["-x", proxy.url, "--cacert", proxy.ca_path, *args]


def chat_body(model="openai/gpt-4o-mini", stream=False, content="Say hello"):
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    if stream:
        body["stream"] = True
    return json.dumps(body)


def chat_args(body=None, client_key=CLIENT_KEY, extra_headers=()):
    """curl arguments for a chat completion POST with the client's own Authorization."""
    args = ["-H", "Content-Type: application/json", "--data-binary", body or chat_body()]
    if client_key:
        args += ["-H", "Authorization: Bearer " + client_key]
    for h in extra_headers:
        args += ["-H", h]
    return args


def parse_header_block(text):
    """Headers from curl -D output (last response block): dict with lower-case names."""
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    headers = {}
    if not blocks:
        return headers
    for line in blocks[-1].split("\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


class StreamResult(NamedTuple):
    start: float                 # time.monotonic() when curl was started
    events: list                 # [(arrival monotonic, line bytes)] for every "data:" line
    returncode: int
    stderr: str
    killed_at: float             # monotonic time curl was killed (None if it ended itself)
    output: bytes                # everything curl wrote to stdout

    def data_payloads(self):
        return [line[5:].strip() for _, line in self.events]


def curl_stream(args, timeout=30, kill_after_events=None, env=None):
    """Run `curl -N` and timestamp each SSE `data:` line as it arrives on curl's stdout.

    kill_after_events=N SIGKILLs curl once N data lines have arrived (a client going away).
    """
    cmd = ["curl", "-q", "-sS", "-N", *args]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=clean_env(env))
    events, output, pending, killed_at = [], b"", b"", None
    deadline = start + timeout
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    open_fds = {out_fd, err_fd}
    err_chunks = []
    try:
        while out_fd in open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("curl stream did not finish within %.0fs" % timeout)
            ready, _, _ = select.select(list(open_fds), [], [], min(left, 0.5))
            if err_fd in ready:
                chunk = os.read(err_fd, 65536)
                if chunk:
                    err_chunks.append(chunk)
                else:
                    open_fds.discard(err_fd)
            if out_fd not in ready:
                continue
            chunk = os.read(out_fd, 65536)
            now = time.monotonic()
            if not chunk:
                open_fds.discard(out_fd)
                break
            output += chunk
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line.startswith(b"data:"):
                    events.append((now, line.rstrip(b"\r")))
            if kill_after_events is not None and len(events) >= kill_after_events:
                os.kill(proc.pid, signal.SIGKILL)
                killed_at = time.monotonic()
                break
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        rest = proc.stderr.read() if err_fd in open_fds else b""
        proc.stdout.close()
        proc.stderr.close()
    stderr = (b"".join(err_chunks) + rest).decode("utf-8", "replace")
    return StreamResult(start, events, proc.returncode, stderr, killed_at, output)


def openssl_leaf_via_proxy(proxy, host="openrouter.ai", port=443, timeout=15):
    """The leaf certificate (PEM) a client sees for host through the proxy's CONNECT."""
    res = subprocess.run(["openssl", "s_client", "-proxy", proxy.address,
                          "-connect", "%s:%d" % (host, port), "-servername", host,
                          "-alpn", "http/1.1"],
                         stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                         env=clean_env())
    text = res.stdout.decode("utf-8", "replace")
    begin = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----")
    if begin < 0 or end < 0:
        raise AssertionError("no certificate from openssl s_client (rc=%d): %s\n%s"
                             % (res.returncode, text[-2000:], res.stderr.decode()[-2000:]))
    return text[begin:end + len("-----END CERTIFICATE-----")] + "\n"


def openssl_text(pem_or_path, *args):
    """`openssl x509 -noout ARGS` on a PEM string or file path."""
    if os.path.exists(pem_or_path):
        cmd = ["openssl", "x509", "-noout", "-in", pem_or_path, *args]
        res = subprocess.run(cmd, capture_output=True, timeout=15)
    else:
        cmd = ["openssl", "x509", "-noout", *args]
        res = subprocess.run(cmd, input=pem_or_path.encode(), capture_output=True, timeout=15)
    if res.returncode != 0:
        raise AssertionError("%s failed: %s" % (" ".join(cmd), res.stderr.decode()))
    return res.stdout.decode()


def openssl_verify(pem, ca_file, hostname=None):
    """(ok, output) for `openssl verify` of a leaf PEM against ca_file (optionally for hostname)."""
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
        f.write(pem)
        path = f.name
    try:
        cmd = ["openssl", "verify", "-CAfile", ca_file]
        if hostname:
            cmd += ["-verify_hostname", hostname]
        res = subprocess.run(cmd + [path], capture_output=True, timeout=15)
        out = (res.stdout + res.stderr).decode("utf-8", "replace")
        return res.returncode == 0 and ": OK" in out, out
    finally:
        os.unlink(path)


# ---------------------------------------------------------------------------------------------
# unittest base class
# ---------------------------------------------------------------------------------------------

class InterceptedConnection:
    """One raw client connection: CONNECT openrouter.ai:443 through the proxy, then TLS with the
    proxy's CA (context: an ssl.SSLContext trusting proxy.ca_path); .chat() sends one keep-alive request."""

    def __init__(self, proxy, context, session=None, timeout=10):
        raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)
        try:
            raw.sendall(b"CONNECT openrouter.ai:443 HTTP/1.1\r\nHost: openrouter.ai:443\r\n\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = raw.recv(4096)
                if not chunk:
                    raise AssertionError("the proxy closed the connection after CONNECT: %r" % answer)
                answer += chunk
            if not answer.startswith(b"HTTP/1.1 200"):
                raise AssertionError("CONNECT refused: %r" % answer)
            self.tls = context.wrap_socket(raw, server_hostname="openrouter.ai", session=session)
        except BaseException:
            raw.close()
            raise

    def chat(self, target=b"/api/v1/chat/completions"):
        """One keep-alive request (to `target`, origin or absolute form); returns (status, body)."""
        body = chat_body().encode()
        self.tls.sendall(b"POST " + target + b" HTTP/1.1\r\nHost: openrouter.ai\r\n"
                         b"Authorization: Bearer " + CLIENT_KEY.encode() + b"\r\n"
                         b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        # Bytes past the last answer stay for the next one, as a keep-alive client reads them.
        data, self.pending = getattr(self, "pending", b""), b""
        while b"\r\n\r\n" not in data:
            chunk = self.tls.recv(65536)
            if not chunk:
                raise AssertionError("connection closed before the answer's head: %r" % data)
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 "):
            raise AssertionError("not an answer's head (out of step?): %r" % head[:200])
        status = int(lines[0].split()[1])
        if status // 100 == 1 or status in (204, 304):
            length = 0  # ends at its head, whatever it says (RFC 9112 6.3)
        else:
            length = next(int(l.split(":", 1)[1]) for l in lines[1:] if l.lower().startswith("content-length:"))
        while len(rest) < length:
            chunk = self.tls.recv(65536)
            if not chunk:
                raise AssertionError("connection closed inside the body")
            rest += chunk
        self.pending = rest[length:]
        return status, rest[:length]

    @property
    def reused(self):
        return self.tls.session_reused

    @property
    def session(self):
        # TLS 1.3 tickets arrive after the handshake; the answer read above has consumed them.
        return self.tls.session

    def close(self):
        self.tls.close()


class ProxyTestCase(unittest.TestCase):
    """One fake OpenRouter and one proxy per test class; the fake is reset before each test.

    Subclasses set KEYS, OVERRIDES, FAKE_OPTIONS as needed.
    """

    KEYS = ((POOL_KEY_A, "pool-a"),)
    OVERRIDES = {}
    FAKE_OPTIONS = {}

    @classmethod
    def setUpClass(cls):
        cls.pki = make_test_pki()
        cls.fake = FakeOpenRouter(pki=cls.pki, **cls.FAKE_OPTIONS)
        cls.fake.start()
        cls.proxy = Proxy(cls.fake, keys=cls.KEYS, overrides=cls.OVERRIDES)
        try:
            cls.proxy.start()
        except BaseException:
            cls.proxy.cleanup()
            cls.fake.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.proxy.cleanup()
        finally:
            cls.fake.__exit__(None, None, None)

    def setUp(self):
        self.fake.reset()

    def assertProxyAlive(self):
        self.assertTrue(self.proxy.alive(), "proxy died\n" + self.proxy.diagnostics())

    def assertNoFullKeyIn(self, text, keys=None, where="output"):
        assert_no_key_in(self, text, [e[0] if isinstance(e, (tuple, list)) else e for e in keys or self.KEYS], where)


def assert_no_key_in(test, text, keys, where="output"):
    """Fails `test` when any of `keys` is in `text` (str or bytes), naming the key by its last four
    characters only: assertNotIn would print the key, and the text around it, in the failure."""
    for key in keys:
        needle = key.encode() if isinstance(text, bytes) else key
        if needle in text:
            test.fail("a full pool key (...%s) appears in %s" % (key[-4:], where))


# API keys in the usual sk-or-... form, found by their shape wherever they are.
_KEY_SHAPE = re.compile(r"sk-or-[A-Za-z0-9_-]+")
_KEY_SHAPE_BYTES = re.compile(rb"sk-or-[A-Za-z0-9_-]+")


def redact(value, keys=()):
    """`value` with every API key in it cut to its last four characters ("sk-or-\u2026ol-a"; in
    bytes "sk-or-...ol-a"), fit for an assertion message: str, bytes, or lists, tuples, sets and
    dicts of them (fake request records, header dicts, lists of keys). Keys in sk-or-... form are
    found by their shape; pass any other (a plain pool key) in `keys`. Other values are returned
    as they are."""
    if isinstance(value, str):
        for key in keys:
            value = value.replace(key, "\u2026" + key[-4:])
        return _KEY_SHAPE.sub(lambda m: "sk-or-\u2026" + m.group()[-4:], value)
    if isinstance(value, bytes):
        for key in keys:
            value = value.replace(key.encode(), b"..." + key[-4:].encode())
        return _KEY_SHAPE_BYTES.sub(lambda m: b"sk-or-..." + m.group()[-4:], value)
    if isinstance(value, dict):
        return {redact(k, keys): redact(v, keys) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(redact(v, keys) for v in value)
    return value


def assert_equal_redacted(test, first, second, msg=None, keys=()):
    """assertEqual for values that hold API keys (a record's Authorization, a list of the keys the
    fake saw): compares them in full, but a failure shows both sides through redact(), where
    assertEqual would print the keys."""
    if first != second:
        test.fail("%r != %r%s" % (redact(first, keys), redact(second, keys),
                                  " : " + redact(str(msg), keys) if msg else ""))


def access_lines(proxy):
    """The access lines in the proxy's log (text or JSON format)."""
    return [line for line in proxy.log_text().splitlines() if " access " in line or '"msg":"access"' in line]


def wait_for_access_line(proxy, *fragments, timeout=10):
    """The access line holding every one of `fragments`, once it is in the log.

    An access line is written after the response has gone out and flushed on the worker's next
    loop turn, so a client can have its answer before the line is there: wait for this request's
    line before asserting what the log does not hold.
    """
    def find():
        return next((line for line in access_lines(proxy) if all(f in line for f in fragments)), None)
    return wait_until(find, timeout, interval=0.05,
                      message="an access line with %s\n%s" % (list(fragments), proxy.diagnostics()))


def wait_for_access_lines(proxy, count, timeout=10):
    """Waits until the log holds at least `count` access lines (one per request a test sent: see
    wait_for_access_line) and returns them."""
    return wait_until(lambda: len(access_lines(proxy)) >= count and access_lines(proxy), timeout, interval=0.05,
                      message="%d access lines\n%s" % (count, proxy.diagnostics()))


def recv_until(sock, stop=None, size=None, timeout=10.0):
    """Reads from `sock` until `stop` (bytes) has arrived, or `size` bytes, or the peer closes
    (EOF or reset), or `timeout` seconds pass; returns what arrived. One recv() may return part of
    an answer: this is for reading a whole one."""
    deadline = time.monotonic() + timeout
    data = b""
    while not ((stop is not None and stop in data) or (size is not None and len(data) >= size)):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


def read_line(pipe, timeout):
    """The first line (bytes, with its newline) a subprocess writes to `pipe`, waiting at most
    `timeout` seconds; what arrived so far (maybe b"") if the pipe closes or the time runs out.
    Reads the descriptor directly: do not mix with pipe.readline()."""
    fd = pipe.fileno()
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
    line, newline, _ = buf.partition(b"\n")
    return line + newline


class FreshProxyTestCase(unittest.TestCase):
    """One fake OpenRouter per test class, a fresh proxy per test (key state never leaks between
    tests): self.start_proxy(keys, overrides) starts one and stops it at the end of the test."""

    FAKE_OPTIONS = {}

    @classmethod
    def setUpClass(cls):
        cls.pki = make_test_pki()
        cls.fake = FakeOpenRouter(pki=cls.pki, **cls.FAKE_OPTIONS)
        cls.fake.start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.__exit__(None, None, None)

    def setUp(self):
        self.fake.reset()

    def start_proxy(self, keys, overrides=None, **kwargs):
        proxy = Proxy(self.fake, keys=keys, overrides=overrides, **kwargs)
        self.addCleanup(proxy.cleanup)
        proxy.start()
        return proxy
