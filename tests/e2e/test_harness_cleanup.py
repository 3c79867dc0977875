#!/usr/bin/python3
"""The harness leaves no server behind when a test process dies without cleaning up (ctest's
--timeout kills it, a run is interrupted): the fake OpenRouter, the proxy and Redis it started
get SIGTERM from the kernel and exit."""

import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness as h  # noqa: E402

# A stand-in for a test: starts the servers, prints their PIDs, then waits to be killed.
CHILD = r"""
import os, shutil, sys, time
sys.path.insert(0, %(support)r)
import harness as h
fake = h.FakeOpenRouter(pki=h.make_test_pki())
fake.start()
proxy = h.Proxy(fake)
proxy.start()
pids = [fake.proc.pid, proxy.proc.pid]
if shutil.which("redis-server"):
    redis = h.RedisServer()
    redis.start()
    pids.append(redis.proc.pid)
print(" ".join(map(str, pids)), flush=True)
time.sleep(120)
"""


def running(pid):
    """True while pid is a live process (a zombie waiting for its reaper counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class HarnessCleanupTest(unittest.TestCase):
    def test_servers_exit_when_the_test_process_is_killed(self):
        if not h.DIE_WITH_TEST:
            self.skipTest("setpriv (util-linux) not installed")
        child = subprocess.Popen([h.PYTHON, "-c", CHILD % {"support": h.SUPPORT_DIR}],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=h.clean_env({"PYTHONDONTWRITEBYTECODE": "1"}))
        pids = []
        try:
            # The child starts a fake, a proxy and maybe Redis (each waits at most 15 s to be ready).
            line = h.read_line(child.stdout, 60).decode()
            pids = [int(p) for p in line.split()]
            self.assertGreaterEqual(len(pids), 2, "the child did not start its servers within 60 s: %r %r"
                                    % (line, child.stderr.read(4000) if child.poll() is not None else ""))
            self.assertTrue(all(running(p) for p in pids))
            child.send_signal(signal.SIGKILL)  # no cleanup, no atexit: as ctest's timeout does
            child.wait(timeout=10)
            h.wait_until(lambda: not any(running(p) for p in pids), 10,
                         message="the servers of a killed test to exit")
        finally:
            h.stop_process(child)
            for pid in pids:  # only if the assertion above failed: stop them by PID anyway
                if running(pid):
                    os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    unittest.main(verbosity=2)
