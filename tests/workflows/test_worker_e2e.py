"""The C SDK's worker under a rebalance, on the real local cluster.

The test starts its own two demo workers on the "rebalance" task queue,
with metrics ports, and reads their gauges (cairn_worker_tasks_in_flight,
cairn_worker_fetch_paused, cairn_worker_partitions_assigned) to know
where the worker stands, instead of sleeping.
"""
import json
import os
import re
import socket
import urllib.request

import pytest

from conftest import LOGS, echo_def, heartbeat_def, start_worker, wait_until

LONG_MS = 40000

# The input says how long the activity runs. The heartbeat timeout runs
# from scheduling: long enough for a task that waits for a runner.
HOLD = heartbeat_def("e2e-rebalance-hold", "rebalance", "$.vars", 60000)
QUICK = echo_def("e2e-rebalance-quick", "rebalance")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gauges:
    """A worker's metrics endpoint."""

    def __init__(self, port):
        self.url = f"http://127.0.0.1:{port}/metrics"

    def get(self, name):
        """The value of the gauge `name`, None while the endpoint is not
        up."""
        try:
            with urllib.request.urlopen(self.url, timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return None
        m = re.search(rf"^{name}{{[^}}]*}} (\S+)$", text, re.M)
        assert m, f"{name} not in {self.url}:\n{text}"
        return float(m.group(1))


def heartbeats(c, wf_id):
    p = c.cairn("--output", "json", "history", wf_id, check=False)
    if p.returncode != 0:
        return 0
    return sum(e["type"] == "ActivityHeartbeat" for e in json.loads(p.stdout))


@pytest.fixture
def workers(cluster):
    started = []

    def start(name, port):
        p, log = start_worker(cluster.env, name, "--task-queue", "rebalance",
                              "-X", "worker.concurrency=2",
                              "-X", "worker.inflight.max=4",
                              "-X", f"metrics.port={port}")
        started.append((p, log))
        return p

    yield start
    # Killed, not stopped: a stop would wait for the long activities.
    for p, log in started:
        p.kill()
        p.wait(timeout=30)
        log.close()


def test_worker_fetches_again_after_rebalance_while_paused(cluster, workers,
                                                           tmp_path):
    """Worker A (two runners, worker.inflight.max=4) holds four tasks and
    pauses its partitions; one finishes, leaving three: still paused (it
    resumes at two). Worker B joins, and the group gives A half of the
    partitions back. librdkafka 2.0.2 keeps an application's pause across
    the revocation, so unless the worker resumes what it is assigned, A
    never fetches again (it holds fewer than four, so it sees nothing to
    resume). A must take tasks again (cairn_worker_tasks_taken_total
    grows)."""
    c = cluster
    for doc in (HOLD, QUICK):
        c.put_definition(doc, tmp_path)
    pa, pb = free_port(), free_port()
    a = Gauges(pa)
    proc_a = workers("rebalance-a", pa)
    total = wait_until(lambda: a.get("cairn_worker_partitions_assigned"),
                       60, "worker A's first assignment")

    # A short task and a long one on A's two runners (the short one
    # first: the runners take tasks in order), then two more long ones:
    # four held, the partitions paused.
    short, long1, long2, long3 = (c.unique(n) for n in
                                  ("short", "long1", "long2", "long3"))
    c.start("e2e-rebalance-hold", short, {"ms": 12000, "every": 250})
    wait_until(lambda: heartbeats(c, short), 60, "the short task running")
    c.start("e2e-rebalance-hold", long1, {"ms": LONG_MS, "every": 500})
    c.start("e2e-rebalance-hold", long2, {"ms": LONG_MS, "every": 500})
    c.start("e2e-rebalance-hold", long3, {"ms": LONG_MS, "every": 500})
    wait_until(lambda: a.get("cairn_worker_fetch_paused") == 1 and
               a.get("cairn_worker_tasks_in_flight") == 4, 60,
               "worker A holding four tasks, paused")

    # The short one ends: three held, still paused.
    assert c.await_(short, timeout=60)["status"] == "completed"
    wait_until(lambda: a.get("cairn_worker_tasks_in_flight") == 3, 60,
               "worker A holding three tasks")
    assert a.get("cairn_worker_fetch_paused") == 1
    # Paused, A takes nothing from here until the rebalance.
    taken = a.get("cairn_worker_tasks_taken_total")

    # B joins: the group splits the partitions between A and B.
    b = Gauges(pb)
    workers("rebalance-b", pb)

    def split():
        na = a.get("cairn_worker_partitions_assigned")
        nb = b.get("cairn_worker_partitions_assigned")
        return na and nb and na + nb == total
    wait_until(split, 60, "the partitions split between A and B")
    for wf in (long1, long2, long3):
        assert c.describe(wf)["status"] == "running", \
            "set-up: a long task ended before the rebalance did"
    assert proc_a.poll() is None

    # New tasks, on every partition with near certainty: A must take some
    # on its partitions. It may take first the long tasks it still runs,
    # read again from the offsets committed at the revocation (at least
    # once: the engine ignores their second results); either way it
    # fetches.
    for i in range(24):
        c.start("e2e-rebalance-quick", c.unique("quick"), {"i": i})
    try:
        wait_until(lambda: (a.get("cairn_worker_tasks_taken_total") or 0)
                   > taken, 30,
                   "worker A taking a task after the rebalance")
    except AssertionError:
        with open(os.path.join(LOGS, "workflows-worker-rebalance-a.log"),
                  errors="replace") as f:
            tail = f.read()[-2000:]
        raise AssertionError("worker A never fetched again after the "
                             "rebalance: its partitions stayed paused\n"
                             + tail)
