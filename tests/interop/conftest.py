"""Fixtures of the interop suite: a real local cluster (deploy/cluster.sh,
as tests/e2e does), the Python example definitions, and the Python example
worker (examples/python/worker.py) serving task queue "python" — the only
worker of that queue, so every activity of py_order and py_approval runs in
Python, while the C demo worker serves "default".
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "build", "bin")
CLUSTER = os.path.join(ROOT, "deploy", "cluster.sh")
PYEX = os.path.join(ROOT, "examples", "python")
PY = "/usr/bin/python3"
LOGDIR = os.path.join(ROOT, "build", "tests", "logs")


def wait_for(what, fn, timeout=60, interval=0.2):
    """Polls fn until it returns a true value (returned) or fails after
    timeout seconds naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; "
                         f"last value {last!r}")


class Cluster:
    def __init__(self, env, cairn_bin):
        self.env = env
        self.cairn_bin = cairn_bin
        self.bootstrap = env["CAIRN_BOOTSTRAP_SERVERS"]
        self.partitions = int(env["CAIRN_PARTITIONS"])

    def run(self, argv, env=None, check=True, timeout=120):
        p = subprocess.run(argv, env=env or self.env, capture_output=True,
                           text=True, timeout=timeout, cwd=ROOT)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {p.returncode}:"
                                 f"\n{p.stdout}\n{p.stderr}")
        return p

    def cairn(self, *args, env=None, check=True, timeout=120):
        return self.run([self.cairn_bin, *args], env=env,
                        check=check, timeout=timeout)

    def cairn_json(self, *args, **kw):
        return json.loads(self.cairn("--output", "json", *args, **kw).stdout)

    def python(self, script, *args, check=True):
        return self.run([PY, os.path.join(PYEX, script), *args], check=check)

    def describe(self, wf_id):
        p = self.cairn("--output", "json", "describe", wf_id, check=False)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def await_(self, wf_id, timeout=60):
        p = self.cairn("--output", "json", "await", wf_id, "--timeout",
                       str(timeout), check=False, timeout=timeout + 30)
        assert p.returncode in (0, 5), p.stderr
        res = json.loads(p.stdout)
        assert (p.returncode == 0) == (res["status"] == "completed"), res
        return res

    def history(self, wf_id):
        return self.cairn_json("history", wf_id)

    def wait_state(self, wf_id, state, timeout=60):
        return wait_for(f"{wf_id} in state {state}",
                        lambda: (self.describe(wf_id) or {}).get("state")
                        == state, timeout)

    def unique(self, prefix):
        return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    env = dict(os.environ)
    # A private copy: build/ is shared, and a rebuild elsewhere replaces
    # build/bin/cairn while it links.
    cairn_bin = str(tmp_path_factory.mktemp("bin") / "cairn")
    shutil.copy2(os.path.join(BIN, "cairn"), cairn_bin)
    # Never borrow (and then stop) a cluster someone else started.
    st = subprocess.run([CLUSTER, "status"], capture_output=True, text=True,
                        timeout=60).stdout
    if ": running" in st:
        pytest.fail("a local cluster is already running (deploy/cluster.sh "
                    "status):\n" + st + "wait for it, or stop it with "
                    "deploy/cluster.sh down if it is yours", pytrace=False)
    os.makedirs(LOGDIR, exist_ok=True)
    up = subprocess.run([CLUSTER, "up", "--nodes", "3", "--timers", "2",
                         "--workers", "1"], capture_output=True, text=True,
                        timeout=300)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        out = subprocess.run([CLUSTER, "env"], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            k, v = line.replace("export ", "", 1).split("=", 1)
            env[k] = v
        c = Cluster(env, cairn_bin)
        defs = os.path.join(PYEX, "definitions")
        c.cairn("definitions", "put",
                *sorted(os.path.join(defs, f) for f in os.listdir(defs)
                        if f.endswith(".json")))
        yield c
    finally:
        subprocess.run([CLUSTER, "down"], capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def py_worker(cluster):
    """examples/python/worker.py on task queue "python", until the end of
    the session; its shutdown must be graceful (SIGTERM: exit 0)."""
    log_path = os.path.join(LOGDIR, "interop-python-worker.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([PY, os.path.join(PYEX, "worker.py"),
                             "--task-queue", "python"], env=cluster.env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    def assigned():
        assert proc.poll() is None, open(log_path).read()
        return "assigned" in open(log_path).read()

    try:
        wait_for("the Python worker to join its group", assigned, 60)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = None
        log.close()
        text = open(log_path).read()
        assert rc == 0 and "worker: stopped" in text, \
            f"python worker did not stop cleanly (rc {rc}):\n{text[-2000:]}"
