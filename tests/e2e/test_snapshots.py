"""Lazy snapshots and replay on the real cluster.

A shard writes WorkflowState records at most once per
state.snapshot.interval.ms and puts the checkpoint (the input offset up to
which the state topic is complete) in the metadata of its committed offset;
a restore replays the inputs committed after the checkpoint. Here every
node runs with a one-hour interval, so the workflows this test starts are
never snapshotted before every node is SIGKILLed: they can only come back
through replay. A graceful stop (SIGTERM) snapshots what changed, so the
restores after it replay nothing.
"""
import json
import os
import re
import subprocess

from conftest import CLUSTER, ROOT, partition_for

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
                      r'records in \d+ ms \(replayed (\d+) input events')


def cluster_sh(*args, env=None):
    p = subprocess.run([CLUSTER, *args], capture_output=True, text=True,
                       timeout=180, env=env)
    assert p.returncode == 0, p.stdout + p.stderr


def log_sizes():
    return {i: os.path.getsize(os.path.join(LOGS, f"cairnd-{i}.log"))
            for i in NODES}


def restores_since(sizes):
    """(workflows, state records, replayed events) of every restore logged
    since sizes were taken."""
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


def restart_all(how, interval=None):
    env = dict(os.environ)
    env.pop("CAIRN_STATE_SNAPSHOT_INTERVAL_MS", None)
    if interval is not None:
        env["CAIRN_STATE_SNAPSHOT_INTERVAL_MS"] = str(interval)
    for i in NODES:
        cluster_sh(how, str(i))
    for i in NODES:
        cluster_sh("start-node", str(i), env=env)


def test_replay_restores_workflows_that_were_never_snapshotted(cluster,
                                                                tmp_path):
    path = tmp_path / "e2e_replay.json"
    path.write_text(json.dumps(WAIT))
    cluster.cairn("definitions", "put", str(path))
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
