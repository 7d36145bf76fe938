"""Lazy snapshots and replay on the real cluster.

A shard writes WorkflowState records at most once per
state.snapshot.interval.ms and puts the checkpoint (the input offset up to
which the state topic is complete) in the metadata of its committed offset;
a restore replays the inputs committed after the checkpoint. Here every
node runs with a one-hour interval, so the workflows this test starts are
never snapshotted before every node is SIGKILLed: they can only come back
through replay. A graceful stop (SIGTERM) snapshots what changed, so the
restores after it replay nothing.

A closed workflow whose state is written is kept at rest, as those bytes
alone, until state.retention.closed.ms; a restore puts every closed one at
rest at once. Requests for it are answered as if it were decoded; once
state.retention.closed.ms has passed, it is forgotten.
"""
import json
import os
import re
import subprocess
import time

from conftest import (CLUSTER, ROOT, dlq_all, dlq_records, metric_total,
                      partition_for)

LOGS = os.path.join(ROOT, "deploy", ".run", "cluster")
NODES = (1, 2, 3)
WAIT = {
    "type": "e2e_replay", "version": 1, "task_queue": "default",
    "initial": "wait",
    "states": [
        {"name": "wait",
         "on_enter": [{"wait_signal": {"name": "go",
                                       "timeout_ms": 604800000}}],
         "on": [{"event": "signal_received", "signal": "go",
                 "assign": {"got": "$.payload"}, "target": "done"}]},
        {"name": "done", "on_enter": [{"complete": "$.vars"}]},
    ],
}
RESTORED = re.compile(r'msg="restored (\d+) workflows from (\d+) state '
                      r'records in \d+ ms \(replayed (\d+) input events '
                      r'after the checkpoint in \d+ ms; (\d+) closed, at rest')


def cluster_sh(*args, env=None):
    p = subprocess.run([CLUSTER, *args], capture_output=True, text=True,
                       timeout=180, env=env)
    assert p.returncode == 0, p.stdout + p.stderr


def log_sizes():
    return {i: os.path.getsize(os.path.join(LOGS, f"cairnd-{i}.log"))
            for i in NODES}


def restores_since(sizes):
    """(workflows, state records, replayed events, closed at rest) of every
    restore logged since sizes were taken."""
    rows = []
    for i in NODES:
        with open(os.path.join(LOGS, f"cairnd-{i}.log"), "rb") as f:
            f.seek(sizes[i])
            for line in f.read().decode(errors="replace").splitlines():
                m = RESTORED.search(line)
                if m:
                    rows.append(tuple(int(g) for g in m.groups()))
    return rows


def every_shard_applies(cluster, prefix):
    """Starts one greeting workflow on every partition and awaits them: once
    they all complete, every shard has been taken and restored."""
    ids, n = {}, 0
    while len(ids) < cluster.partitions:
        wf = cluster.unique(f"{prefix}-{n}")
        ids.setdefault(partition_for(wf, cluster.partitions), wf)
        n += 1
    for wf in ids.values():
        cluster.start("greeting", wf, {"name": "x"})
    for wf in ids.values():
        assert cluster.await_(wf, timeout=120)["status"] == "completed"


def restart_all(how, interval=None, retention=None):
    env = dict(os.environ)
    env.pop("CAIRN_STATE_SNAPSHOT_INTERVAL_MS", None)
    env.pop("CAIRN_STATE_RETENTION_CLOSED_MS", None)
    if interval is not None:
        env["CAIRN_STATE_SNAPSHOT_INTERVAL_MS"] = str(interval)
    if retention is not None:
        env["CAIRN_STATE_RETENTION_CLOSED_MS"] = str(retention)
    for i in NODES:
        cluster_sh(how, str(i))
    for i in NODES:
        cluster_sh("start-node", str(i), env=env)


def test_replay_restores_workflows_that_were_never_snapshotted(cluster,
                                                                tmp_path):
    cluster.put_definition(WAIT, tmp_path)
    restart_all("stop-node", interval=3600000)
    every_shard_applies(cluster, "e2e-replay-warm")
    try:
        ids = [cluster.unique(f"e2e-replay-{n}") for n in range(24)]
        for wf in ids:
            cluster.start("e2e_replay", wf)
        for wf in ids:
            cluster.wait_state(wf, "wait")

        sizes = log_sizes()
        restart_all("kill-node", interval=3600000)
        for n, wf in enumerate(ids):
            cluster.cairn("signal", wf, "go", "--payload",
                          json.dumps({"n": n}))
        for n, wf in enumerate(ids):
            res = cluster.await_(wf, timeout=120)
            assert res["status"] == "completed", res
            assert res["result"] == {"got": {"n": n}}, res
            kinds = [e["type"] for e in cluster.history(wf)]
            assert kinds.count("WorkflowStarted") == 1, kinds
            assert kinds.count("SignalReceived") == 1, kinds
            assert kinds[-1] == "WorkflowCompleted", kinds
        # Each of them came back from a snapshot (a shard released in a
        # rebalance writes one) or through replay; most through replay.
        rows = restores_since(sizes)
        assert rows, "no restore was logged after the SIGKILLs"
        assert sum(r[2] for r in rows) > 0, rows
        assert sum(r[1] + r[2] for r in rows) >= len(ids), rows
    finally:
        # Back to the default interval; a graceful stop snapshots first.
        sizes = log_sizes()
        restart_all("stop-node")
    every_shard_applies(cluster, "e2e-replay-after")
    rows = restores_since(sizes)
    assert rows and all(r[2] == 0 for r in rows), rows


def metric_sum(name):
    """The sum of a gauge over every node's /metrics."""
    return metric_total([19500 + i for i in NODES], name)


def await_runs(cluster, wf, runs, timeout=60):
    """Polls the history until run number `runs` of wf has completed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kinds = [e["type"] for e in cluster.history(wf)]
        if kinds.count("WorkflowCompleted") >= runs:
            return kinds
        time.sleep(0.2)  # polling the history, bounded by the deadline
    raise AssertionError(f"{wf}: run {runs} did not complete; {kinds}")


def test_closed_workflows_at_rest_answer_requests(cluster):
    ids = [cluster.unique(f"e2e-rest-{n}") for n in range(4)]
    for wf in ids:
        cluster.start("greeting", wf, {"name": wf})
    before = {}
    for wf in ids:
        assert cluster.await_(wf)["status"] == "completed"
        before[wf] = cluster.history(wf)

    # Every shard restores, and holds every closed workflow at rest.
    sizes = log_sizes()
    restart_all("stop-node")
    every_shard_applies(cluster, "e2e-rest-warm")
    rows = restores_since(sizes)
    assert sum(r[3] for r in rows) >= len(ids), rows
    assert metric_sum("cairn_workflows_at_rest") >= len(ids)

    dup, sig, again, kept = ids
    cluster.start("greeting", dup, {"name": "again"})  # reject_duplicate
    cluster.cairn("signal", sig, "go", "--payload", "{}")
    cluster.cairn("start", "greeting", "--id", again, "--policy",
                  "terminate_existing", "--input",
                  json.dumps({"name": "second"}))
    cluster.cairn("start", "greeting", "--id", kept, "--policy",
                  "use_existing", "--input", "{}")
    # Applied after the use_existing start (same shard, in order):
    cluster.start("greeting", kept, {"name": "again"})
    found = dlq_records(cluster, {dup, sig, kept})
    assert set(found) == {dup, sig, kept}, found
    assert "already exists (completed, run 1)" in found[dup]["cairn.reason"]
    assert "workflow is closed (completed)" in found[sig]["cairn.reason"]
    assert "already exists (completed, run 1)" in found[kept]["cairn.reason"]
    for wf in (dup, sig, kept):  # refused: unchanged
        assert cluster.history(wf) == before[wf]

    # terminate_existing ran a second run on the workflow at rest.
    kinds = await_runs(cluster, again, 2)
    assert kinds.count("WorkflowStarted") == 2, kinds
    hist = cluster.history(again)
    assert [e["seq"] for e in hist] == list(range(1, len(hist) + 1))
    assert hist[:len(before[again])] == before[again]
    res = cluster.await_(again)
    assert res["status"] == "completed", res
    assert res["result"]["idempotency_key"] == f"{again}:greet#2", res
    # Closed again, decoded or at rest: the same answer, for run 2.
    cluster.start("greeting", again, {"name": "third"})
    found = dlq_records(cluster, {again})
    assert "already exists (completed, run 2)" in found[again]["cairn.reason"]


def test_retention_forgets_closed_workflows(cluster):
    ids = [cluster.unique(f"e2e-evict-{n}") for n in range(3)]
    for wf in ids:
        cluster.start("greeting", wf, {"name": wf})
    for wf in ids:
        assert cluster.await_(wf)["status"] == "completed"
    restart_all("stop-node", retention=0)
    try:
        # Every shard's first batch after the restore starts an eviction
        # pass, which tombstones every workflow at rest (all are due; a
        # shard holds far fewer than the 1,000 a batch may evict here).
        # The first signal finds its workflow before or after that pass;
        # the second comes in a later batch, when it is forgotten.
        for wf in ids:
            cluster.cairn("signal", wf, "go", "--payload", "{}")
        dlq_all(cluster, set(ids), count=1)
        for wf in ids:
            cluster.cairn("signal", wf, "go", "--payload", "{}")
        found = dlq_all(cluster, set(ids), count=2)
        for wf in ids:
            first, second = (h["cairn.reason"] for h in found[wf])
            assert ("workflow is closed (completed)" in first or
                    f"workflow '{wf}' does not exist" in first), first
            assert f"workflow '{wf}' does not exist" in second, second
        assert metric_sum("cairn_workflows_evicted_total") >= len(ids)
    finally:
        restart_all("stop-node")
