"""The foundation issue end to end: workflows run on a real broker and
Redis, bad input lands in the DLQ with its reason, the CLI fails clearly."""
import json
import os
import subprocess
import time

from confluent_kafka import Producer

from conftest import BIN, dlq_records, partition_for


def test_workflows_complete_with_gap_free_history(cluster):
    ids = [cluster.unique("e2e-order") for _ in range(8)]
    for i, wf in enumerate(ids):
        cluster.start("order", wf, {"amount": i})
    for i, wf in enumerate(ids):
        res = cluster.await_(wf)
        assert res["status"] == "completed", res
        assert res["result"]["amount"] == i
        # every activity result reached the workflow variables
        for k in ("payment", "reservation", "shipment"):
            assert res["result"][k]["idempotency_key"].startswith(wf + ":")
        hist = cluster.history(wf)
        seqs = [e["seq"] for e in hist]
        assert seqs == list(range(1, len(hist) + 1)), seqs
        kinds = [e["type"] for e in hist]
        assert kinds[0] == "WorkflowStarted"
        assert kinds[-1] == "WorkflowCompleted"
        assert kinds.count("ActivityScheduled") == 3
        assert kinds.count("ActivityCompleted") == 3


def test_describe_shows_completed_workflow(cluster):
    wf = cluster.unique("e2e-greet")
    cluster.start("greeting", wf, {"name": "ada"})
    cluster.await_(wf)
    d = json.loads(cluster.cairn("--output", "json", "describe", wf).stdout)
    assert d["status"] == "completed"
    assert d["type"] == "greeting"
    assert d["workflow_id"] == wf


ROLL = {
    "type": "e2e_roll", "version": 1, "task_queue": "default",
    "initial": "hold",
    "states": [
        {"name": "hold",
         "on_enter": [{"wait_signal": {"name": "again"}}],
         "on": [{"event": "signal_received", "signal": "again",
                 "target": "roll"}]},
        {"name": "roll", "on_enter": [{"continue_as_new": {}}]},
    ],
}


def test_describe_follows_every_step_and_a_new_run(cluster, tmp_path):
    # After its first write a record gets only the fields a step changes;
    # a new run (continue-as-new) writes the run's own fields again.
    cluster.put_definition(ROLL, tmp_path)
    wf = cluster.unique("e2e-roll")
    cluster.start("e2e_roll", wf, {})
    first = cluster.wait_state(wf, "hold")
    assert first["type"] == "e2e_roll" and first["version"] == 1
    assert first["partition"] == partition_for(wf, cluster.partitions)
    cluster.cairn("signal", wf, "again", "--payload", "{}")
    deadline = time.monotonic() + 60
    d = first
    while d["seq"] == first["seq"] and time.monotonic() < deadline:
        time.sleep(0.2)  # polling the index, bounded by the deadline
        d = cluster.describe(wf)
    assert d["seq"] > first["seq"], d
    assert d["status"] == "running" and d["state"] == "hold", d
    assert d["started_ms"] > first["started_ms"], (first, d)
    assert d["updated_ms"] >= d["started_ms"], d
    assert (d["type"], d["version"], d["partition"]) == \
        (first["type"], first["version"], first["partition"])


def test_malformed_records_go_to_dlq_and_shard_keeps_going(cluster):
    bad_key = cluster.unique("e2e-bad")
    nohdr_key = cluster.unique("e2e-nohdr")
    p = Producer({"bootstrap.servers": cluster.bootstrap,
                  "partitioner": "murmur2_random"})
    p.produce("cairn.events", key=bad_key, value=b"\x02\xff\xfe garbage",
              headers=[("cairn.type", b"StartWorkflow")])
    p.produce("cairn.events", key=nohdr_key, value=b"no headers at all")
    assert p.flush(30) == 0
    # A valid workflow behind the bad record on the same shard completes.
    shard = partition_for(bad_key, cluster.partitions)
    for i in range(10000):
        good = f"e2e-after-bad-{bad_key}-{i}"
        if partition_for(good, cluster.partitions) == shard:
            break
    cluster.start("greeting", good, {"n": 1})
    assert cluster.await_(good)["status"] == "completed"
    found = dlq_records(cluster, {bad_key, nohdr_key})
    assert set(found) == {bad_key, nohdr_key}, found
    assert "DECODE" in found[bad_key]["cairn.reason"]
    assert found[bad_key]["cairn.source.topic"] == "cairn.events"
    assert "cairn.type" in found[nohdr_key]["cairn.reason"]


def test_unknown_workflow_type_is_rejected_to_dlq(cluster):
    wf = cluster.unique("e2e-unknown")
    cluster.start("no-such-type", wf, {})
    found = dlq_records(cluster, {wf})
    assert wf in found
    assert "no-such-type" in found[wf]["cairn.reason"]


def test_cli_errors_are_clear(cluster):
    r = cluster.cairn("start", "order", check=False)
    assert r.returncode == 2 and "--id" in r.stderr
    r = cluster.cairn("frobnicate", check=False)
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = cluster.cairn("start", "order", "--id", "x", "--input", "{bad",
                      check=False)
    assert r.returncode == 2 and "not valid JSON" in r.stderr
    r = cluster.cairn("--bootstrap-servers", "127.0.0.1:1", "start", "order",
                      "--id", "x", check=False, timeout=60)
    assert r.returncode == 1 and "cannot reach Kafka" in r.stderr
    r = cluster.cairn("describe", cluster.unique("nobody"), check=False)
    assert r.returncode == 3 and "not found" in r.stderr
    r = cluster.cairn("-X", "partitions=0", "describe", "x", check=False)
    assert r.returncode == 2 and "out of range" in r.stderr


def test_cairnd_refuses_mismatched_partition_count(cluster):
    env = dict(cluster.env, CAIRN_PARTITIONS=str(cluster.partitions + 1),
               CAIRN_NODE_ID="mismatch")
    r = subprocess.run([os.path.join(BIN, "cairnd")], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"has {cluster.partitions} partitions" in r.stderr


def test_bad_cairnd_argument(cluster):
    r = subprocess.run([os.path.join(BIN, "cairnd"), "--frob"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "unexpected argument" in r.stderr
    # a property of the right type but a value librdkafka has no codec for
    r = subprocess.run([os.path.join(BIN, "cairnd"), "-X",
                        "state.compression=brotli"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert "state.compression" in r.stderr and "brotli" in r.stderr
    # a log level no program knows: refused by every one, not ignored
    for prog in ("cairnd", "cairn-timers", "cairn-worker-demo"):
        r = subprocess.run([os.path.join(BIN, prog), "-X", "log.level=loud"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (prog, r.stderr)
        assert "log.level" in r.stderr and "loud" in r.stderr, r.stderr
