#!/usr/bin/python3
"""`openrouter-proxy env`, docs/clients.md and scripts/install-ca.sh, exercised with real clients.

Each client runs in `bash -c 'eval "$(openrouter-proxy env ...)"; CLIENT'` and must reach the fake
OpenRouter through the proxy with nothing but those exports: the fake must see the pool key, never
the client's. docs/clients.md names the test behind each recipe.
"""

import atexit
import json
import os
import re
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

API_BASE = "https://openrouter.ai/api/v1"
API = API_BASE + "/chat/completions"
NODE_DIR = os.path.join(h.TESTS_DIR, "node")
NODE_MODULES = os.path.join(NODE_DIR, "node_modules")
INSTALL_CA = os.path.join(h.SOURCE_DIR, "scripts", "install-ca.sh")
PEM_BEGIN = "-----BEGIN CERTIFICATE-----"

BUNDLE_VARS = ("CURL_CA_BUNDLE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO",
               "NPM_CONFIG_CAFILE")
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
# Everything `env` may export, plus client settings a developer may have that would change the result.
SCRUBBED = set(h.PROXY_ENV_VARS) | set(BUNDLE_VARS) | {
    "NODE_EXTRA_CA_CERTS", "NODE_USE_ENV_PROXY", "NODE_OPTIONS", "NODE_TLS_REJECT_UNAUTHORIZED",
    "OPENAI_BASE_URL", "OPENAI_API_KEY", "SSL_CERT_DIR", "GIT_SSL_NO_VERIFY", "PIP_INDEX_URL",
    "PYTHONHTTPSVERIFY"}


def node_version():
    node = shutil.which("node")
    if not node:
        return None
    res = subprocess.run([node, "-e", "process.stdout.write(process.versions.node)"],
                         capture_output=True, timeout=30)
    return tuple(int(x) for x in res.stdout.decode().split(".")) if res.returncode == 0 else None


NODE_VERSION = node_version()
NODE_DEPS = NODE_VERSION is not None and NODE_VERSION >= (20, 18, 1) and \
    os.path.isdir(os.path.join(NODE_MODULES, "undici")) and os.path.isdir(os.path.join(NODE_MODULES, "openai"))
NODE_DEPS_WHY = "needs Node >= 20.18.1 and tests/node/node_modules (run scripts/node-deps.sh)"
# Node's own fetch honours HTTPS_PROXY with NODE_USE_ENV_PROXY=1 from 22.21 (22.x) and 24.5.
NODE_ENV_PROXY = NODE_VERSION is not None and (
    (NODE_VERSION[0] == 22 and NODE_VERSION >= (22, 21)) or NODE_VERSION >= (24, 5))


def python_has(module):
    res = subprocess.run([h.PYTHON, "-c", "import " + module], capture_output=True, timeout=30)
    return res.returncode == 0


def pem_blocks(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)


def normalized_pem(pem):
    """The certificate as `openssl x509` re-encodes it (drops text around it, fixes line breaks)."""
    res = subprocess.run(["openssl", "x509"], input=pem.encode(), capture_output=True, timeout=15)
    if res.returncode != 0:
        raise AssertionError("openssl x509 failed: %s" % res.stderr.decode())
    return res.stdout.decode()


# ---- parsing the three output formats ----------------------------------------------------------

def unquote_sh(text):
    """One POSIX sh word made of '...' pieces and \\' (what `env --shell sh` writes)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "'":
            end = text.index("'", i + 1)
            out.append(text[i + 1:end])
            i = end + 1
        elif text.startswith("\\'", i):
            out.append("'")
            i += 2
        else:
            raise ValueError("unquoted character %r in %r" % (text[i], text))
    return "".join(out)


def unquote_fish(text):
    """A fish single-quoted string: only \\' and \\\\ are escapes inside it."""
    if len(text) < 2 or text[0] != "'" or text[-1] != "'":
        raise ValueError("not single-quoted: %r" % text)
    out, i, body = [], 0, text[1:-1]
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in "'\\":
            out.append(body[i + 1])
            i += 2
        elif body[i] == "'":
            raise ValueError("bare quote inside %r" % text)
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def unquote_powershell(text):
    """A PowerShell verbatim string: any of its quote characters doubled stands for itself."""
    if len(text) < 2 or text[0] not in PS_QUOTES or text[-1] not in PS_QUOTES:
        raise ValueError("not single-quoted: %r" % text)
    out, i, body = [], 0, text[1:-1]
    while i < len(body):
        if body[i] in PS_QUOTES:
            if i + 1 < len(body) and body[i + 1] in PS_QUOTES:
                out.append(body[i])
                i += 2
                continue
            raise ValueError("bare quote inside %r" % text)
        out.append(body[i])
        i += 1
    return "".join(out)


LINE_FORMS = {
    "sh": (re.compile(r"^export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$"), unquote_sh),
    "fish": (re.compile(r"^set -gx ([A-Za-z_][A-Za-z0-9_]*) (.*)$"), unquote_fish),
    "powershell": (re.compile(r"^\$env:([A-Za-z_][A-Za-z0-9_]*) = (.*)$"), unquote_powershell),
}


def parse_exports(text, shell):
    """{name: value} from env output; every line must be a comment or an assignment."""
    pattern, unquote = LINE_FORMS[shell]
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = pattern.match(line)
        if not m:
            raise AssertionError("%s output line is neither a comment nor an assignment: %r" % (shell, line))
        values[m.group(1)] = unquote(m.group(2))
    return values


# ---- running env and clients -------------------------------------------------------------------

def _empty_files(*names):
    d = tempfile.mkdtemp(prefix="orp-npmrc-")
    atexit.register(shutil.rmtree, d, True)
    paths = {}
    for name in names:
        paths[name] = os.path.join(d, name + ".npmrc")
        open(paths[name], "w").close()
    return paths


# npm refuses one file as both its user and its global config.
EMPTY_NPMRC = _empty_files("user", "global")


def client_env(extra=None):
    """A hermetic environment: no proxy/CA variables, no user config for git, pip, npm, curl."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update({
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
        "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
        "NPM_CONFIG_USERCONFIG": EMPTY_NPMRC["user"], "NPM_CONFIG_GLOBALCONFIG": EMPTY_NPMRC["global"],
        "NPM_CONFIG_UPDATE_NOTIFIER": "false", "NPM_CONFIG_FUND": "false", "NPM_CONFIG_AUDIT": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.update(extra or {})
    return env


class Ran:
    def __init__(self, res):
        self.returncode = res.returncode
        self.stdout = res.stdout.decode("utf-8", "replace")
        self.stderr = res.stderr.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.stdout.strip().splitlines()[-1])


# The recipe as a user types it: eval the exports, then run the client unchanged.
EVAL_THEN_RUN = '''
cd "$ORP_DIR" || exit 90
exports=$("$ORP_BINARY" env --config "$ORP_CONFIG" --set "proxy.listen=$ORP_LISTEN") || exit 91
eval "$exports" || exit 92
cd "$CLIENT_CWD" || exit 93
[ -z "${DROP_VARS:-}" ] || unset $DROP_VARS
exec "$@"
'''

CHAT_BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}

PY_REQUESTS = '''
import json, os, requests
r = requests.post("%s", json=%r, headers={"Authorization": "Bearer " + os.environ["CLIENT_KEY"]}, timeout=20)
print(json.dumps({"status": r.status_code, "body": r.json()}))
''' % (API, CHAT_BODY)

PY_HTTPX = '''
import json, os, httpx
r = httpx.post("%s", json=%r, headers={"Authorization": "Bearer " + os.environ["CLIENT_KEY"]}, timeout=20)
print(json.dumps({"status": r.status_code, "body": r.json()}))
''' % (API, CHAT_BODY)

PY_OPENAI = '''
import json, os
from openai import OpenAI
client = OpenAI(api_key=os.environ["CLIENT_KEY"], base_url="%s")
r = client.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
print(json.dumps({"status": 200, "body": {"model": r.model}}))
''' % API_BASE

NODE_UNDICI_FETCH = '''
const { fetch, EnvHttpProxyAgent } = require("undici");
(async () => {
  const res = await fetch("%s", {
    method: "POST",
    dispatcher: new EnvHttpProxyAgent(),
    headers: { "Authorization": "Bearer " + process.env.CLIENT_KEY, "Content-Type": "application/json" },
    body: JSON.stringify(%s),
  });
  console.log(JSON.stringify({ status: res.status, body: await res.json() }));
})().catch((e) => { console.error(e, e && e.cause); process.exit(1); });
''' % (API, json.dumps(CHAT_BODY))

NODE_GLOBAL_FETCH = '''
const { setGlobalDispatcher, EnvHttpProxyAgent } = require("undici");
setGlobalDispatcher(new EnvHttpProxyAgent());
(async () => {
  const res = await globalThis.fetch("%s", {
    method: "POST",
    headers: { "Authorization": "Bearer " + process.env.CLIENT_KEY, "Content-Type": "application/json" },
    body: JSON.stringify(%s),
  });
  console.log(JSON.stringify({ status: res.status, body: await res.json() }));
})().catch((e) => { console.error(e, e && e.cause); process.exit(1); });
''' % (API, json.dumps(CHAT_BODY))

NODE_ENV_PROXY_FETCH = '''
(async () => {
  const res = await fetch("%s", {
    method: "POST",
    headers: { "Authorization": "Bearer " + process.env.CLIENT_KEY, "Content-Type": "application/json" },
    body: JSON.stringify(%s),
  });
  console.log(JSON.stringify({ status: res.status, body: await res.json() }));
})().catch((e) => { console.error(e, e && e.cause); process.exit(1); });
''' % (API, json.dumps(CHAT_BODY))

NODE_OPENAI = '''
const { OpenAI } = require("openai");
const { fetch, EnvHttpProxyAgent } = require("undici");
const client = new OpenAI({
  apiKey: process.env.CLIENT_KEY,
  baseURL: "%s",
  fetch,
  fetchOptions: { dispatcher: new EnvHttpProxyAgent() },
});
(async () => {
  const r = await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
  let chunks = 0;
  const stream = await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "hi" }], stream: true });
  for await (const chunk of stream) if (chunk.choices && chunk.choices.length) chunks++;
  console.log(JSON.stringify({ status: 200, body: { model: r.model }, chunks }));
})().catch((e) => { console.error(e, e && e.cause); process.exit(1); });
''' % API_BASE

NODE_OPENAI_BASE_URL = '''
const { OpenAI } = require("openai");
const client = new OpenAI();  // OPENAI_BASE_URL and OPENAI_API_KEY from the environment
(async () => {
  const r = await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
  console.log(JSON.stringify({ status: 200, body: { model: r.model } }));
})().catch((e) => { console.error(e, e && e.cause); process.exit(1); });
'''


class ClientsTestBase(h.ProxyTestCase):
    KEYS = ((h.POOL_KEY_A, "pool-a"),)

    def env_command(self, shell="sh", *extra):
        return [h.binary_path(), "env", "--config", self.proxy.config_path,
                "--set", "proxy.listen=" + self.proxy.address, "--shell", shell, *extra]

    def run_env(self, shell="sh", *extra, cwd=None):
        res = subprocess.run(self.env_command(shell, *extra), cwd=cwd or self.proxy.dir,
                             capture_output=True, timeout=30, env=client_env(), stdin=subprocess.DEVNULL)
        return Ran(res)

    def exports(self, shell="sh"):
        ran = self.run_env(shell)
        self.assertEqual(ran.returncode, 0, ran.stderr)
        return parse_exports(ran.stdout, shell)

    def run_client(self, *command, cwd=None, timeout=60, extra_env=None, drop=()):
        env = client_env({"ORP_BINARY": h.binary_path(), "ORP_DIR": self.proxy.dir,
                          "ORP_CONFIG": self.proxy.config_path, "ORP_LISTEN": self.proxy.address,
                          "CLIENT_CWD": cwd or self.proxy.dir, "CLIENT_KEY": h.CLIENT_KEY,
                          "DROP_VARS": " ".join(drop)})
        env.update(extra_env or {})
        res = subprocess.run(["bash", "-c", EVAL_THEN_RUN, "bash", *command], capture_output=True,
                             timeout=timeout, env=env, stdin=subprocess.DEVNULL)
        return Ran(res)

    def assertReachedWithPoolKey(self, ran, requests=1):
        self.assertEqual(ran.returncode, 0, "client failed (%d)\nstdout: %s\nstderr: %s\n%s"
                         % (ran.returncode, ran.stdout[-2000:], ran.stderr[-3000:], self.proxy.diagnostics()))
        doc = ran.json()
        self.assertEqual(doc["status"], 200, doc)
        self.assertEqual(doc["body"]["model"], "openai/gpt-4o-mini", doc)
        recs = self.fake.requests(h.CHAT_PATH)
        self.assertEqual(len(recs), requests, h.redact(recs))
        for rec in recs:
            for name, value in rec["headers"].items():
                h.assert_no_key_in(self, value, (h.CLIENT_KEY,), "the upstream request's %s" % name)
            h.assert_equal_redacted(self, h.header(rec, "Authorization"), "Bearer " + h.POOL_KEY_A)
            self.assertEqual(h.header(rec, "Host"), "openrouter.ai")
        return doc


class EnvRecipesTest(h.TunnelTargetMixin, ClientsTestBase):
    """docs/clients.md: one test per recipe."""

    # -- curl ------------------------------------------------------------------------------------
    def test_curl(self):
        ran = self.run_client("curl", "-q", "-sS", "--max-time", "20", "-H", "Content-Type: application/json",
                              "-H", "Authorization: Bearer " + h.CLIENT_KEY, "--data-binary",
                              json.dumps(CHAT_BODY), "-w", "\n{\"status\": %{http_code}}", API)
        self.assertEqual(ran.returncode, 0, ran.stderr + self.proxy.diagnostics())
        body, status = ran.stdout.rsplit("\n", 1)
        self.assertEqual(json.loads(status)["status"], 200, ran.stdout)
        self.assertReachedWithPoolKey(Ran(subprocess.CompletedProcess(
            [], 0, json.dumps({"status": 200, "body": json.loads(body)}).encode(), b"")))

    # -- Python ----------------------------------------------------------------------------------
    def test_python_requests(self):
        self.assertReachedWithPoolKey(self.run_client(h.PYTHON, "-c", PY_REQUESTS))

    def test_python_httpx(self):
        self.assertReachedWithPoolKey(self.run_client(h.PYTHON, "-c", PY_HTTPX))

    @unittest.skipUnless(python_has("openai"), "the openai Python package is not installed (Debian has no "
                                                "python3-openai); its transport is httpx, see test_python_httpx")
    def test_python_openai_sdk(self):
        self.assertReachedWithPoolKey(self.run_client(h.PYTHON, "-c", PY_OPENAI))

    def test_pip_trusts_bundle_through_proxy(self):
        # No package index here: pip asks the intercepted host for a simple index page. A TLS failure
        # would read "CERTIFICATE_VERIFY_FAILED"; reaching the fake proves proxy and trust.
        scratch = tempfile.mkdtemp(prefix="orp-pip-")
        self.addCleanup(shutil.rmtree, scratch, True)
        ran = self.run_client(h.PYTHON, "-m", "pip", "download", "--no-deps", "--retries", "0", "--timeout", "15",
                              "-d", scratch, "--index-url", "https://openrouter.ai/pip-simple/",
                              "orp-nonexistent-package", timeout=90)
        self.assertNotEqual(ran.returncode, 0)
        self.assertNotIn("CERTIFICATE_VERIFY_FAILED", ran.stdout + ran.stderr)
        recs = [r for r in self.fake.requests() if "/pip-simple/" in r["path"]]
        self.assertTrue(recs, "pip never reached the fake: %s\n%s" % (ran.stderr[-2000:], self.proxy.diagnostics()))
        self.assertIn("pip/", h.header(recs[0], "User-Agent", ""))

    # -- Node ------------------------------------------------------------------------------------
    @unittest.skipUnless(NODE_DEPS, NODE_DEPS_WHY)
    def test_node_undici_fetch_env_http_proxy_agent(self):
        self.assertReachedWithPoolKey(self.run_client("node", "-e", NODE_UNDICI_FETCH, cwd=NODE_DIR))

    @unittest.skipUnless(NODE_DEPS, NODE_DEPS_WHY)
    def test_node_global_fetch_with_undici_global_dispatcher(self):
        self.assertReachedWithPoolKey(self.run_client("node", "-e", NODE_GLOBAL_FETCH, cwd=NODE_DIR))

    @unittest.skipUnless(NODE_ENV_PROXY, "Node %s: NODE_USE_ENV_PROXY needs Node >= 22.21 or 24.5"
                         % ".".join(map(str, NODE_VERSION or ())))
    def test_node_builtin_fetch_node_use_env_proxy(self):
        self.assertReachedWithPoolKey(self.run_client("node", "-e", NODE_ENV_PROXY_FETCH, cwd=NODE_DIR))

    @unittest.skipUnless(NODE_DEPS, NODE_DEPS_WHY)
    def test_node_openai_sdk(self):
        doc = self.assertReachedWithPoolKey(self.run_client("node", "-e", NODE_OPENAI, cwd=NODE_DIR), requests=2)
        self.assertGreaterEqual(doc["chunks"], 1, doc)

    @unittest.skipUnless(shutil.which("npm"), "npm not installed")
    def test_npm_trusts_bundle_through_proxy(self):
        # npm asks the intercepted host for a package document: a certificate error would fail before
        # any request; a 404 from the fake proves proxy and trust.
        scratch = tempfile.mkdtemp(prefix="orp-npm-")
        self.addCleanup(shutil.rmtree, scratch, True)
        ran = self.run_client("npm", "view", "orp-nonexistent-package", "version",
                              "--registry", "https://openrouter.ai/npm-registry/", "--fetch-retries", "0",
                              cwd=scratch, timeout=90, extra_env={"NPM_CONFIG_CACHE": os.path.join(scratch, "cache")})
        self.assertNotEqual(ran.returncode, 0)
        out = ran.stdout + ran.stderr
        for bad in ("SELF_SIGNED", "UNABLE_TO_VERIFY", "unable to get local issuer", "CERT_"):
            self.assertNotIn(bad, out)
        recs = [r for r in self.fake.requests() if "/npm-registry/" in r["path"]]
        self.assertTrue(recs, "npm never reached the fake: %s\n%s" % (out[-2000:], self.proxy.diagnostics()))
        self.assertIn("npm/", h.header(recs[0], "User-Agent", ""))

    # -- git -------------------------------------------------------------------------------------
    def test_git_trusts_bundle_through_proxy(self):
        # No git server here: git's smart-HTTP discovery reaches the fake, which has no such repository.
        # A trust failure would say "SSL certificate problem" before any request.
        ran = self.run_client("git", "ls-remote", "https://openrouter.ai/orp-test/repo.git", timeout=60)
        self.assertNotEqual(ran.returncode, 0)
        self.assertNotIn("SSL certificate problem", ran.stderr)
        self.assertNotIn("certificate", ran.stderr.lower())
        recs = [r for r in self.fake.requests() if "/orp-test/repo.git/info/refs" in r["path"]]
        self.assertTrue(recs, "git never reached the fake: %s\n%s" % (ran.stderr, self.proxy.diagnostics()))
        self.assertIn("git/", h.header(recs[0], "User-Agent", ""))
        values = self.exports()
        self.assertEqual(values["GIT_SSL_CAINFO"], os.path.join(self.proxy.dir, "certs", "bundle.pem"))

    # -- a tunnelled host --------------------------------------------------------------------------
    def test_tunnelled_host_through_env_proxy(self):
        # The test target lives on loopback, which NO_PROXY exempts; a real host is not, so the test
        # drops NO_PROXY to send it through the proxy like one. Its certificate is from the test CA.
        ran = self.run_client("curl", "-q", "-sS", "--max-time", "20", "-v", "--cacert", self.pki.ca_cert,
                              "-H", "Authorization: Bearer " + h.CLIENT_KEY,
                              "https://localhost:%d/api/v1/key" % self.target.port,
                              drop=("NO_PROXY", "no_proxy"))
        self.assertEqual(ran.returncode, 0, ran.stderr + self.proxy.diagnostics())
        self.assertIn('"data"', ran.stdout)
        self.assertRegex(ran.stderr, r"(?i)CONNECT localhost:%d" % self.target.port)
        self.assertRegex(ran.stderr, r"subject: CN ?= ?tunnel-target\.test")
        recs = self.target.requests()
        self.assertEqual(len(recs), 1)
        h.assert_equal_redacted(self, h.header(recs[0], "Authorization"), "Bearer " + h.CLIENT_KEY)
        h.assert_equal_redacted(self, self.fake.requests(), [])

    def test_socks5_url_from_comment(self):
        text = self.run_env("sh").stdout
        m = re.search(r"^#.*\bALL_PROXY=(socks5h://\S+)", text, re.M)
        self.assertIsNotNone(m, text)
        self.assertEqual(m.group(1), "socks5h://" + self.proxy.address)
        ran = self.run_client("curl", "-q", "-sS", "--max-time", "20", "-x", m.group(1),
                              "-H", "Content-Type: application/json", "-H", "Authorization: Bearer " + h.CLIENT_KEY,
                              "--data-binary", json.dumps(CHAT_BODY), "-w", "\n%{http_code}", API)
        self.assertEqual(ran.returncode, 0, ran.stderr + self.proxy.diagnostics())
        # The status curl saw (curl -sS exits 0 on a 4xx or 5xx too), then the body and the upstream.
        body, status = ran.stdout.rsplit("\n", 1)
        self.assertEqual(status, "200", ran.stdout[-2000:])
        self.assertReachedWithPoolKey(Ran(subprocess.CompletedProcess(
            [], 0, json.dumps({"status": int(status), "body": json.loads(body)}).encode(), b"")))

    # -- base-URL mode: no proxy variables, no CA ---------------------------------------------------
    def test_base_url_curl(self):
        res = h.curl([*h.chat_args(h.chat_body(), client_key="anything"), self.proxy.url + h.CHAT_PATH],
                     metrics=True)
        self.assertEqual((res.returncode, res.status), (0, 200), res.stderr)
        self.assertReachedWithPoolKey(Ran(subprocess.CompletedProcess(
            [], 0, json.dumps({"status": 200, "body": res.json()}).encode(), b"")))

    @unittest.skipUnless(NODE_DEPS, NODE_DEPS_WHY)
    def test_base_url_node_openai_sdk(self):
        env = client_env({"OPENAI_BASE_URL": self.proxy.url + "/api/v1", "OPENAI_API_KEY": "anything"})
        res = subprocess.run(["node", "-e", NODE_OPENAI_BASE_URL], cwd=NODE_DIR, capture_output=True,
                             timeout=60, env=env, stdin=subprocess.DEVNULL)
        self.assertReachedWithPoolKey(Ran(res))

    def test_base_url_python_httpx(self):
        code = ('import httpx, json, os\n'
                'r = httpx.post(os.environ["OPENAI_BASE_URL"] + "/chat/completions", json=%r,\n'
                '               headers={"Authorization": "Bearer anything"}, timeout=20)\n'
                'print(json.dumps({"status": r.status_code, "body": r.json()}))\n' % CHAT_BODY)
        env = client_env({"OPENAI_BASE_URL": self.proxy.url + "/api/v1"})
        res = subprocess.run([h.PYTHON, "-c", code], capture_output=True, timeout=60, env=env,
                             stdin=subprocess.DEVNULL)
        self.assertReachedWithPoolKey(Ran(res))


class EnvOutputTest(ClientsTestBase):
    """What `env` prints and writes."""

    def test_sh_exports(self):
        values = self.exports("sh")
        bundle = os.path.join(self.proxy.dir, "certs", "bundle.pem")
        for name in PROXY_VARS:
            self.assertEqual(values[name], "http://" + self.proxy.address)
        for name in ("NO_PROXY", "no_proxy"):
            self.assertEqual(values[name], "localhost,127.0.0.1,::1")
        for name in BUNDLE_VARS:
            self.assertEqual(values[name], bundle, name)
        self.assertEqual(values["NODE_EXTRA_CA_CERTS"], self.proxy.ca_path)
        self.assertEqual(values["NODE_USE_ENV_PROXY"], "1")
        # SOCKS is offered in a comment: httpx refuses a socks5h:// ALL_PROXY outright.
        self.assertNotIn("ALL_PROXY", values)
        self.assertNotIn("all_proxy", values)

    def test_sh_output_evaluates_in_bash(self):
        text = self.run_env("sh").stdout
        res = subprocess.run(["bash", "-c", 'eval "$1"; printf "%s\\n" "$HTTPS_PROXY" "$SSL_CERT_FILE"',
                              "bash", text], capture_output=True, timeout=30, env=client_env())
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.decode().splitlines(),
                         ["http://" + self.proxy.address, os.path.join(self.proxy.dir, "certs", "bundle.pem")])

    def test_fish_and_powershell_match_sh(self):
        sh = self.exports("sh")
        for shell in ("fish", "powershell"):
            self.assertEqual(self.exports(shell), sh, shell)

    def test_the_users_no_proxy_entries_are_kept(self):
        env = client_env({"NO_PROXY": "internal.example,localhost", "no_proxy": ".corp,*"})
        res = subprocess.run(self.env_command("sh"), cwd=self.proxy.dir, capture_output=True, timeout=30, env=env,
                             stdin=subprocess.DEVNULL)
        ran = Ran(res)
        self.assertEqual(ran.returncode, 0, ran.stderr)
        values = parse_exports(ran.stdout, "sh")
        self.assertEqual(values["NO_PROXY"], "localhost,127.0.0.1,::1,internal.example,.corp")
        self.assertEqual(values["no_proxy"], values["NO_PROXY"])
        self.assertRegex(ran.stdout, r"(?m)^# left out of your NO_PROXY .*: \*$")

    def test_bash_and_zsh_are_names_for_sh(self):
        sh = self.run_env("sh")
        for shell in ("bash", "zsh"):
            ran = self.run_env(shell)
            self.assertEqual(ran.returncode, 0, ran.stderr)
            self.assertEqual(ran.stdout, sh.stdout, shell)
        unknown = self.run_env("tcsh")
        self.assertEqual(unknown.returncode, 2)
        self.assertIn("openrouter-proxy: --shell: unknown shell 'tcsh': expected sh, bash, zsh, fish or powershell",
                      unknown.stderr)

    def test_comment_lines_start_with_hash(self):
        for shell in ("sh", "fish", "powershell"):
            text = self.run_env(shell).stdout
            comments = [l for l in text.splitlines() if l.startswith("#")]
            self.assertTrue(any("EnvHttpProxyAgent" in l for l in comments), text)
            parse_exports(text, shell)  # asserts every other line is an assignment

    def test_quoting_survives_awkward_paths(self):
        # A proxy directory with ' " $ ` \ and spaces: every shell must give back the same path.
        root = tempfile.mkdtemp(prefix="orp-env-")
        self.addCleanup(shutil.rmtree, root, True)
        odd = os.path.join(root, "it's a \"$HOME\" `x` \\ dir \u2019q")
        os.makedirs(odd)
        shutil.copy(self.proxy.config_path, os.path.join(odd, "config.ini"))  # its files live next to it
        bundle = os.path.join(odd, "certs", "bundle.pem")
        outputs = {}
        for shell in ("sh", "fish", "powershell"):
            ran = Ran(subprocess.run([h.binary_path(), "env", "--config", os.path.join(odd, "config.ini"),
                                      "--set", "proxy.listen=" + self.proxy.address, "--shell", shell],
                                     cwd=root, capture_output=True, timeout=30, env=client_env(),
                                     stdin=subprocess.DEVNULL))
            self.assertEqual(ran.returncode, 0, ran.stderr)
            outputs[shell] = ran.stdout
            self.assertEqual(parse_exports(ran.stdout, shell)["SSL_CERT_FILE"], bundle, shell)
        res = subprocess.run(["bash", "-c", 'eval "$1"; printf "%s" "$CURL_CA_BUNDLE"', "bash", outputs["sh"]],
                             capture_output=True, timeout=30, env=client_env())
        self.assertEqual(res.stdout.decode(), bundle, res.stderr)
        self.assertTrue(os.path.isfile(bundle))

    def test_client_credentials_go_into_the_url(self):
        secret = "p@ss'w/rd:%x y"
        ran = self.run_env("sh", "--set", "proxy.clients=alice:%s,bob:other" % secret)
        self.assertEqual(ran.returncode, 0, ran.stderr)
        values = parse_exports(ran.stdout, "sh")
        url = urllib.parse.urlsplit(values["HTTPS_PROXY"])
        self.assertEqual((url.scheme, url.hostname, url.port), ("http", "127.0.0.1", self.proxy.port))
        self.assertEqual(urllib.parse.unquote(url.username), "alice")
        self.assertEqual(urllib.parse.unquote(url.password), secret)
        self.assertRegex(ran.stdout, r"(?m)^#.*credentials.*'alice'")
        self.assertRegex(ran.stdout, r"(?m)^#.*base-URL mode.*secret alone")
        self.assertRegex(ran.stdout, r"(?m)^#.*Authorization: Bearer <secret> \(not name:secret\)")
        self.assertNotIn("bob", ran.stdout)

    def test_bundle_is_system_roots_plus_local_ca(self):
        self.exports("sh")
        bundle_path = os.path.join(self.proxy.dir, "certs", "bundle.pem")
        with open(bundle_path) as f:
            bundle = pem_blocks(f.read())
        system_path = ssl.get_default_verify_paths().openssl_cafile
        if not os.path.isfile(system_path):
            system_path = "/etc/ssl/certs/ca-certificates.crt"
        with open(system_path) as f:
            system = pem_blocks(f.read())
        self.assertGreater(len(system), 0)
        self.assertEqual(len(bundle), len(system) + 1)
        self.assertEqual(bundle[:-1], system)
        with open(self.proxy.ca_path) as f:
            self.assertEqual(normalized_pem(bundle[-1]), normalized_pem(f.read()))
        # Rewriting keeps it that way (the local CA is not appended twice).
        self.exports("sh")
        with open(bundle_path) as f:
            self.assertEqual(len(pem_blocks(f.read())), len(system) + 1)
        # The leaf minted for openrouter.ai verifies against the bundle, hostname included.
        ok, out = h.openssl_verify(h.openssl_leaf_via_proxy(self.proxy), bundle_path, "openrouter.ai")
        self.assertTrue(ok, out)

    def test_env_before_first_run_creates_the_ca(self):
        root = tempfile.mkdtemp(prefix="orp-env-")
        self.addCleanup(shutil.rmtree, root, True)
        res = subprocess.run([h.binary_path(), "env"], cwd=root, capture_output=True, timeout=30,
                             env=client_env(), stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 0, res.stderr)
        values = parse_exports(res.stdout.decode(), "sh")
        self.assertEqual(values["HTTPS_PROXY"], "http://127.0.0.1:8080")  # the documented default
        self.assertEqual(values["NODE_EXTRA_CA_CERTS"], os.path.join(root, "certs", "ca.pem"))
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(root, "certs", "ca.key")).st_mode), 0o600)
        with open(os.path.join(root, "certs", "bundle.pem")) as f:
            self.assertGreater(len(pem_blocks(f.read())), 1)

    def test_errors_are_one_line_and_exit_2(self):
        cases = [
            ("--set", "proxy.listen=127.0.0.1:0"),                # no fixed port to print
            ("--set", "proxy.intercept_hosts=example.com"),       # the existing CA does not permit it
        ]
        for extra in cases:
            res = subprocess.run([h.binary_path(), "env", "--config", self.proxy.config_path, *extra],
                                 cwd=self.proxy.dir, capture_output=True, timeout=30, env=client_env(),
                                 stdin=subprocess.DEVNULL)
            err = res.stderr.decode()
            self.assertEqual(res.returncode, 2, (extra, err))
            self.assertEqual(res.stdout, b"", extra)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
        res = subprocess.run([h.binary_path(), "env", "--shell", "tcsh"], cwd=self.proxy.dir,
                             capture_output=True, timeout=30, env=client_env(), stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 2, res.stderr)


class InstallCaScriptTest(unittest.TestCase):
    """scripts/install-ca.sh against a Debian-style trust store in a temporary root (ORP_TRUST_ROOT):
    the real update-ca-certificates, pointed at directories below that root."""

    def setUp(self):
        self.pki = h.make_test_pki()
        self.root = tempfile.mkdtemp(prefix="orp-trust-")
        self.addCleanup(shutil.rmtree, self.root, True)
        # One "system" root, so the store's bundle is never empty.
        sys_dir = os.path.join(self.root, "usr", "share", "ca-certificates", "sys")
        os.makedirs(sys_dir)
        shutil.copy(self.pki.ca_cert, os.path.join(sys_dir, "system-root.crt"))
        os.makedirs(os.path.join(self.root, "etc"))
        with open(os.path.join(self.root, "etc", "ca-certificates.conf"), "w") as f:
            f.write("sys/system-root.crt\n")
        # The CA to install: the proxy's own, made by `ca init` in a work dir.
        self.work = os.path.join(self.root, "work")
        os.makedirs(self.work)
        res = subprocess.run([h.binary_path(), "ca", "init"], cwd=self.work, capture_output=True, timeout=30,
                             env=client_env())
        self.assertEqual(res.returncode, 0, res.stderr)
        self.ca = os.path.join(self.work, "certs", "ca.pem")
        self.bundle = os.path.join(self.root, "etc", "ssl", "certs", "ca-certificates.crt")

    def install(self, *args, env=None):
        res = subprocess.run(["bash", INSTALL_CA, *args], cwd=self.work, capture_output=True, timeout=60,
                             env=env or client_env({"ORP_TRUST_ROOT": self.root}), stdin=subprocess.DEVNULL)
        return Ran(res)

    def bundle_blocks(self):
        with open(self.bundle) as f:
            return [normalized_pem(b) for b in pem_blocks(f.read())]

    @unittest.skipUnless(shutil.which("update-ca-certificates"), "needs Debian's update-ca-certificates")
    def test_install_is_idempotent_and_remove_takes_it_out(self):
        with open(self.ca) as f:
            ours = normalized_pem(f.read())
        for _ in range(2):
            ran = self.install()  # default CA_PEM: certs/ca.pem in the working directory
            self.assertEqual(ran.returncode, 0, ran.stderr)
            blocks = self.bundle_blocks()
            self.assertEqual(len(blocks), 2)
            self.assertEqual(blocks.count(ours), 1)
        self.assertIn("already", ran.stdout)
        for _ in range(2):
            ran = self.install("--remove")
            self.assertEqual(ran.returncode, 0, ran.stderr)
            with open(self.pki.ca_cert) as f:
                self.assertEqual(self.bundle_blocks(), [normalized_pem(f.read())])
            self.assertFalse(os.path.lexists(os.path.join(self.root, "etc", "ssl", "certs", "openrouter-proxy.pem")))

    def test_refuses_bad_input(self):
        for args in (["certs/ca.key"], ["nope.pem"], ["--bogus"]):
            ran = self.install(*args)
            self.assertEqual(ran.returncode, 2, (args, ran.stdout, ran.stderr))
            self.assertIn("install-ca", ran.stderr)

    def test_help_prints_usage_and_succeeds(self):
        for flag in ("--help", "-h"):
            ran = self.install(flag)
            self.assertEqual(ran.returncode, 0, (flag, ran.stdout, ran.stderr))
            self.assertIn("usage:", ran.stdout)
            self.assertIn("--remove", ran.stdout)
            self.assertEqual(ran.stderr, "")

    def test_refuses_unknown_systems(self):
        # A PATH with the basic tools but neither update-ca-certificates nor update-ca-trust.
        bindir = os.path.join(self.root, "bin")
        os.makedirs(bindir)
        for tool in ("bash", "grep", "id", "uname", "openssl", "cmp", "dirname", "mkdir", "install", "rm", "cat"):
            path = shutil.which(tool)
            if path:
                os.symlink(path, os.path.join(bindir, tool))
        env = client_env({"PATH": bindir})
        env.pop("ORP_TRUST_ROOT", None)
        res = subprocess.run([os.path.join(bindir, "bash"), INSTALL_CA, self.ca], cwd=self.work,
                             capture_output=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 2, res.stdout + res.stderr)
        self.assertIn(b"unsupported system", res.stderr)


if __name__ == "__main__":
    unittest.main()
