"""Fixtures for the end-to-end runs of the workflow examples.

The session fixture brings up the local cluster (deploy/cluster.sh: Kafka,
Redis, 3 cairnd, 2 cairn-timers, the demo worker on the "default" queue)
and tears it down at the end. The cluster's files live in the shared work
tree, so before `up` it waits (polling every 30 s, at most
CAIRN_CLUSTER_WAIT seconds, default 600) until no cluster is running: a
cluster someone else started is never reused nor torn down.

It also runs the extra demo workers the examples need, as child processes
stopped at the end:
  payments       the order saga's charge_card/refund_card queue
  orders-faulty  the default queue of the C-published order-saga@2 test
                 variant: ship_order always fails and reserve_inventory fails
                 its first attempt (--fail), to drive retries and sagas
  bad-results    echo returns a result that is not JSON (--bad-result)
  long           two runners and max.poll.interval.ms=10000, for an
                 activity longer than that beside a quick one
"""
import json
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "build", "bin")
CLUSTER = os.path.join(ROOT, "deploy", "cluster.sh")
LOGS = os.path.join(ROOT, "build", "tests", "logs")


def cluster_busy():
    """The lines of `cluster.sh status` that show something up (running,
    degraded, ...): everything but "stopped" and "not running"."""
    p = subprocess.run([CLUSTER, "status"], capture_output=True, text=True,
                       timeout=60)
    return [line for line in p.stdout.splitlines() if line.strip()
            and not re.search(r"(: stopped$|not running)", line)]


def wait_until(pred, timeout, what, interval=0.2):
    """Polls pred() until it returns a truthy value or timeout seconds pass
    (then fails with what)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for "
                                 f"{what}")
        time.sleep(interval)


def heartbeat_def(wf_type, queue, work_input, heartbeat_ms):
    """A definition running one heartbeat_demo activity (input work_input,
    e.g. "$.vars" or {"ms": ..., "every": ...}), attempted once; the
    workflow completes with its result in $.vars.work."""
    return {
        "type": wf_type, "version": 1, "task_queue": queue,
        "initial": "work",
        "states": [
            {"name": "work",
             "on_enter": [{"activity": "heartbeat_demo", "id": "work",
                           "input": work_input,
                           "timeouts": {"heartbeat_ms": heartbeat_ms,
                                        "start_to_close_ms": 120000},
                           "retry": {"maximum_attempts": 1}}],
             "on": [{"event": "activity_completed", "activity": "work",
                     "assign": {"work": "$.result"}, "target": "done"}]},
            {"name": "done", "on_enter": [{"complete": "$.vars"}]},
        ],
    }


def echo_def(wf_type, queue):
    """A definition running one echo activity of its input."""
    return {
        "type": wf_type, "version": 1, "task_queue": queue,
        "initial": "ask",
        "states": [
            {"name": "ask",
             "on_enter": [{"activity": "echo", "id": "ask",
                           "input": "$.vars"}],
             "on": [{"event": "activity_completed", "activity": "ask",
                     "target": "done"}]},
            {"name": "done", "on_enter": [{"complete": "$.vars"}]},
        ],
    }


class Cluster:
    def __init__(self, env):
        self.env = env

    def run(self, argv, check=True, timeout=120):
        p = subprocess.run(argv, env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {p.returncode}:"
                                 f"\n{p.stdout}\n{p.stderr}")
        return p

    def cairn(self, *args, check=True, timeout=120):
        return self.run([os.path.join(BIN, "cairn"), *args], check=check,
                        timeout=timeout)

    def put_definition(self, doc, tmp_path):
        """Publishes a definition given as a dict (through a file named
        after its type in tmp_path, as `cairn definitions put` reads one)."""
        path = tmp_path / f"{doc['type']}.json"
        path.write_text(json.dumps(doc))
        self.cairn("definitions", "put", str(path))

    def start(self, wf_type, wf_id, payload=None, version=None):
        args = ["start", wf_type, "--id", wf_id, "--input",
                json.dumps(payload or {})]
        if version:
            args += ["--version", str(version)]
        self.cairn(*args)

    def signal(self, wf_id, name, payload):
        self.cairn("signal", wf_id, name, "--payload", json.dumps(payload))

    def describe(self, wf_id):
        p = self.cairn("--output", "json", "describe", wf_id, check=False)
        if p.returncode == 3:  # not (yet) visible
            return None
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def wait_state(self, wf_id, state, timeout=60):
        """Waits until the workflow is running in FSM state `state`."""
        def there():
            d = self.describe(wf_id)
            if d and d.get("status") != "running":
                raise AssertionError(f"{wf_id} ended before reaching "
                                     f"{state}: {d}")
            return d if d and d.get("state") == state else None
        return wait_until(there, timeout, f"{wf_id} in state {state}")

    def await_(self, wf_id, timeout=90):
        p = self.cairn("--output", "json", "await", wf_id, "--timeout",
                       str(timeout), check=False, timeout=timeout + 30)
        assert p.returncode in (0, 5), \
            f"await {wf_id}: rc={p.returncode} {p.stderr}"
        return json.loads(p.stdout)

    def history(self, wf_id):
        return json.loads(self.cairn("--output", "json", "history",
                                     wf_id).stdout)

    @staticmethod
    def unique(prefix):
        return f"{prefix}-{uuid.uuid4().hex[:10]}"


def start_worker(env, name, *args):
    """Starts a demo worker; returns (Popen, log file)."""
    os.makedirs(LOGS, exist_ok=True)
    log = open(os.path.join(LOGS, f"workflows-worker-{name}.log"), "ab")
    wenv = dict(env, CAIRN_NODE_ID=f"workflows-e2e-{name}")
    p = subprocess.Popen([os.path.join(BIN, "cairn-worker-demo"), *args],
                         env=wenv, stdout=log, stderr=subprocess.STDOUT)
    return p, log


def stop_worker(p, log):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=30)
    log.close()


@pytest.fixture(scope="session")
def cluster():
    limit = float(os.environ.get("CAIRN_CLUSTER_WAIT", "600"))
    deadline = time.monotonic() + limit
    while True:
        busy = cluster_busy()
        if not busy:
            break
        if time.monotonic() > deadline:
            pytest.fail("a local cluster someone else started is still up "
                        f"after {limit:.0f}s; not touching it:\n"
                        + "\n".join(busy))
        time.sleep(30)
    env = dict(os.environ)
    workers = []
    up = subprocess.run([CLUSTER, "up", "--nodes", "3", "--timers", "2",
                         "--workers", "1"], capture_output=True, text=True,
                        timeout=300)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        out = subprocess.run([CLUSTER, "env"], capture_output=True,
                             text=True, check=True).stdout
        for line in out.splitlines():
            k, v = line.replace("export ", "", 1).split("=", 1)
            env[k] = v
        workers.append(start_worker(env, "payments", "--task-queue",
                                    "payments"))
        workers.append(start_worker(env, "orders-faulty", "--task-queue",
                                    "orders-faulty", "--fail", "ship_order",
                                    "--fail", "reserve_inventory:1"))
        workers.append(start_worker(env, "bad-results", "--task-queue",
                                    "bad-results", "--bad-result", "echo"))
        # Two runners, and a poll interval shorter than the long activity
        # test_examples_e2e.py runs on it.
        workers.append(start_worker(env, "long", "--task-queue", "long",
                                    "-X", "worker.concurrency=2",
                                    "-X", "max.poll.interval.ms=10000"))
        yield Cluster(env)
    finally:
        for p, log in workers:
            stop_worker(p, log)
        subprocess.run([CLUSTER, "down"], capture_output=True, timeout=300)
