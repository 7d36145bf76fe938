"""Clients Cairn did not write, against a real cluster: the Python starter,
signaller and worker of examples/python (confluent-kafka + avro only), and
the cairn CLI for everything a person does from a shell — describe, history,
list, await, signal-with-start, cancel, terminate, replay — with its exit
codes, messages and configuration precedence."""
import json
import os
import time

import redis
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import PYEX, ROOT, wait_for


def start_py(cluster, wf_type, wf_id, inp):
    out = json.loads(cluster.python("starter.py", wf_type, "--id", wf_id,
                                    "--input", json.dumps(inp)).stdout)
    assert out["workflow_id"] == wf_id and out["request_id"]
    return out


def kinds(hist):
    return [e["type"] for e in hist]


def assert_gap_free(hist):
    seqs = [e["seq"] for e in hist]
    assert seqs == list(range(1, len(hist) + 1)), seqs


# ---- the Python starter and worker ----------------------------------------

def test_python_starter_and_python_worker_complete_an_order(cluster,
                                                            py_worker):
    wf = cluster.unique("py-order")
    start_py(cluster, "py_order", wf, {"amount": 42})
    res = cluster.await_(wf)
    assert res["status"] == "completed", res
    r = res["result"]
    assert r["amount"] == 42
    for var, act in (("payment", "charge"), ("reservation", "reserve"),
                     ("shipment", "ship")):
        assert r[var]["worker"] == "python", r
        assert r[var]["idempotency_key"] == f"{wf}:{act}"
        assert r[var]["attempt"] == 1
    assert r["payment"]["charge_id"].startswith("ch-")
    hist = cluster.history(wf)
    assert_gap_free(hist)
    k = kinds(hist)
    assert k[0] == "WorkflowStarted" and k[-1] == "WorkflowCompleted"
    assert k.count("ActivityScheduled") == 3
    assert k.count("ActivityCompleted") == 3
    assert all(e["task_queue"] == "python" for e in hist
               if e["type"] == "ActivityScheduled")
    d = cluster.cairn_json("describe", wf)
    assert d["status"] == "completed" and d["type"] == "py_order"
    assert d["version"] == 1 and d["workflow_id"] == wf


def test_python_worker_failures_retry_and_fail_the_workflow(cluster,
                                                            py_worker):
    flaky = cluster.unique("py-flaky")
    declined = cluster.unique("py-declined")
    start_py(cluster, "py_order", flaky, {"amount": 7, "flaky": 2})
    start_py(cluster, "py_order", declined, {"amount": 5000})
    res = cluster.await_(flaky)
    assert res["status"] == "completed", res
    assert res["result"]["payment"]["attempt"] == 3
    # the idempotency key is the same on every attempt
    assert res["result"]["payment"]["idempotency_key"] == f"{flaky}:charge"
    hist = cluster.history(flaky)
    fails = [e for e in hist if e["type"] == "ActivityFailed"]
    assert [f["error_type"] for f in fails] == ["CardNetworkError"] * 2
    assert [f["attempt"] for f in fails] == [1, 2]

    p = cluster.cairn("await", declined, "--timeout", "60", check=False)
    assert p.returncode == 5, (p.stdout, p.stderr)  # ended, not completed
    assert declined in p.stdout and "failed" in p.stdout
    hist = cluster.history(declined)
    assert_gap_free(hist)
    fails = [e for e in hist if e["type"] == "ActivityFailed"]
    assert len(fails) == 1 and fails[0]["error_type"] == "CardDeclined"
    assert fails[0]["non_retryable"] == 1
    assert kinds(hist)[-1] == "WorkflowFailed"
    assert "over the limit" in hist[-1]["error_message"]
    assert cluster.describe(declined)["status"] == "failed"


def test_python_worker_sends_a_malformed_task_to_the_dlq(cluster, py_worker):
    key = cluster.unique("py-badtask")
    p = Producer({"bootstrap.servers": cluster.bootstrap,
                  "partitioner": "murmur2_random"})
    p.produce("cairn.tasks.python", key=key, value=b"\x00 not avro",
              headers=[("cairn.type", b"ActivityTask")])
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": cluster.bootstrap,
                  "group.id": "interop-dlq-reader",
                  "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    md = c.list_topics("cairn.dlq", timeout=10)
    c.assign([TopicPartition("cairn.dlq", q, 0)
              for q in md.topics["cairn.dlq"].partitions])
    found = {}

    def seen():
        m = c.poll(0.5)
        if m is not None and not m.error() and m.key() == key.encode():
            found.update((k, v.decode()) for k, v in m.headers() or [])
        return found

    try:
        wait_for("the malformed task in cairn.dlq", seen, 60, interval=0)
    finally:
        c.close()
    assert "does not decode" in found["cairn.reason"], found
    assert found["cairn.source.topic"] == "cairn.tasks.python"


# ---- signals --------------------------------------------------------------

def test_python_signaller_signals_a_waiting_workflow(cluster, py_worker):
    wf = cluster.unique("py-approval")
    start_py(cluster, "py_approval", wf, {"approver": "ada@example.com"})
    cluster.wait_state(wf, "waiting")
    args = ["signaller.py", wf, "decision", "--payload",
            json.dumps({"approved": True, "by": "ada"}), "--request-id",
            f"{wf}-decision-1"]
    out = json.loads(cluster.python(*args).stdout)
    assert out["request_id"] == f"{wf}-decision-1"
    cluster.python(*args)  # the same request again: a no-op
    res = cluster.await_(wf)
    assert res["status"] == "completed", res
    assert res["result"]["approved"] is True and res["result"]["by"] == "ada"
    assert res["result"]["archive"]["worker"] == "python"
    hist = cluster.history(wf)
    assert_gap_free(hist)
    sigs = [e for e in hist if e["type"] == "SignalReceived"]
    assert len(sigs) == 1, sigs
    assert sigs[0]["signal_name"] == "decision"
    assert sigs[0]["payload"] == {"approved": True, "by": "ada"}
    assert sigs[0]["request_id"] == f"{wf}-decision-1"


def test_cli_signal_with_start_starts_a_missing_workflow(cluster, py_worker):
    wf = cluster.unique("sws-new")
    out = cluster.cairn_json(
        "signal-with-start", "py_approval", "--id", wf, "--signal",
        "decision", "--payload", json.dumps({"approved": False, "by": "bo"}),
        "--input", json.dumps({"approver": "bo@example.com"}))
    assert out == {"workflow_id": wf, "type": "py_approval",
                   "signal": "decision", "sent": True}
    res = cluster.await_(wf)
    assert res["status"] == "completed", res
    assert res["result"] == {"approved": False, "by": "bo"}
    hist = cluster.history(wf)
    assert kinds(hist).count("WorkflowStarted") == 1
    assert kinds(hist).count("SignalReceived") == 1
    assert hist[0]["input"] == {"approver": "bo@example.com"}


def test_cli_signal_with_start_signals_an_existing_workflow(cluster,
                                                            py_worker):
    wf = cluster.unique("sws-existing")
    start_py(cluster, "py_approval", wf, {"approver": "first"})
    cluster.wait_state(wf, "waiting")
    cluster.cairn("signal-with-start", "py_approval", "--id", wf, "--signal",
                  "decision", "--payload",
                  json.dumps({"approved": True, "by": "cy"}), "--input",
                  json.dumps({"approver": "second"}))
    res = cluster.await_(wf)
    assert res["status"] == "completed" and res["result"]["by"] == "cy"
    hist = cluster.history(wf)
    starts = [e for e in hist if e["type"] == "WorkflowStarted"]
    assert len(starts) == 1 and starts[0]["input"] == {"approver": "first"}


def test_python_signal_with_start(cluster, py_worker):
    wf = cluster.unique("py-sws")
    out = json.loads(cluster.python(
        "signaller.py", wf, "decision", "--payload",
        json.dumps({"approved": True, "by": "py"}), "--start", "py_approval",
        "--input", json.dumps({"approver": "py@example.com"})).stdout)
    assert out["start_request_id"] and out["request_id"]
    res = cluster.await_(wf)
    assert res["status"] == "completed" and res["result"]["by"] == "py"


# ---- cancel and terminate -------------------------------------------------

def test_cancel_and_terminate_a_waiting_workflow(cluster, py_worker):
    ca, te = cluster.unique("py-cancel"), cluster.unique("py-term")
    for wf in (ca, te):
        start_py(cluster, "py_approval", wf, {"approver": "x"})
    for wf in (ca, te):
        cluster.wait_state(wf, "waiting")
    out = cluster.cairn_json("cancel", ca, "--reason", "customer asked")
    assert out == {"workflow_id": ca, "requested": "cancel"}
    out = cluster.cairn("terminate", te, "--reason", "stuck").stdout
    assert f"terminate requested for {te}" in out
    for wf, status, last in ((ca, "canceled", "WorkflowCanceled"),
                             (te, "terminated", "WorkflowTerminated")):
        p = cluster.cairn("--output", "json", "await", wf, "--timeout", "60",
                          check=False)
        assert p.returncode == 5, (p.stdout, p.stderr)
        assert json.loads(p.stdout)["status"] == status
        hist = cluster.history(wf)
        assert_gap_free(hist)
        assert hist[-1]["type"] == last
        assert hist[-1]["reason"] in ("customer asked", "stuck")
        assert cluster.describe(wf)["status"] == status


# ---- list ------------------------------------------------------------------

def list_ids(cluster, *args, env=None):
    rows = cluster.cairn_json("list", *args, env=env)
    return rows, [r["workflow_id"] for r in rows]


def test_list_answers_from_the_visibility_index(cluster, py_worker):
    done = [cluster.unique("list-done") for _ in range(2)]
    waiting = [cluster.unique("list-wait") for _ in range(3)]
    for wf in done:
        start_py(cluster, "py_order", wf, {"amount": 1})
    for wf in waiting:
        start_py(cluster, "py_approval", wf, {"approver": "z"})
    for wf in done:
        assert cluster.await_(wf)["status"] == "completed"
    for wf in waiting:
        cluster.wait_state(wf, "waiting")

    # The index is written after each commit: poll until it shows them.
    def listed(*args, want):
        return lambda: set(want) <= set(list_ids(cluster, *args)[1])

    wait_for("running py_approval rows",
             listed("--status", "running", "--type", "py_approval",
                    "--since", "1h", want=waiting))
    wait_for("completed py_order rows",
             listed("--status", "completed", "--type", "py_order",
                    want=done))

    rows, ids = list_ids(cluster, "--status", "running", "--type",
                         "py_approval", "--since", "1h", "--limit", "1000")
    assert not set(done) & set(ids)
    now = time.time() * 1000
    for r in rows:
        assert r["status"] == "running" and r["type"] == "py_approval", r
        assert r["started_ms"] >= now - 3600 * 1000 - 5000
    started = [r["started_ms"] for r in rows]
    assert started == sorted(started, reverse=True)  # newest first

    _, ids = list_ids(cluster, "--status", "running", "--limit", "1000")
    assert set(waiting) <= set(ids) and not set(done) & set(ids)
    _, ids = list_ids(cluster, "--type", "py_order", "--limit", "1000")
    assert set(done) <= set(ids) and not set(waiting) & set(ids)
    _, ids = list_ids(cluster, "--limit", "1000")
    assert set(done + waiting) <= set(ids)

    # --limit keeps the newest
    rows, _ = list_ids(cluster, "--type", "py_approval", "--limit", "2")
    every, _ = list_ids(cluster, "--type", "py_approval", "--limit", "1000")
    assert rows == every[:2]

    # The table: ID, TYPE, STATUS, STARTED.
    t0 = time.monotonic()
    out = cluster.cairn("list", "--status", "running", "--type",
                        "py_approval", "--limit", "1000").stdout
    assert time.monotonic() - t0 < 5
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "TYPE", "STATUS", "STARTED"]
    for wf in waiting:
        row = next(l for l in lines if l.startswith(wf + " "))
        assert row.split()[1:3] == ["py_approval", "running"]


def test_list_checks_the_record_when_the_sets_are_stale(cluster):
    r = redis.Redis.from_url(cluster.env["CAIRN_REDIS_URL"])
    ghost, moved = cluster.unique("ghost"), cluster.unique("moved")
    now = int(time.time() * 1000)
    # a set member whose record is gone, and one whose status moved on
    r.zadd("cairn:idx:status:running", {ghost: now, moved: now})
    r.zadd("cairn:idx:type:py_stale", {ghost: now, moved: now})
    r.hset(f"cairn:wf:{moved}", mapping={"type": "py_stale",
                                         "status": "completed",
                                         "started_ms": now})
    try:
        _, ids = list_ids(cluster, "--status", "running", "--limit", "100000")
        assert ghost not in ids and moved not in ids
        rows, ids = list_ids(cluster, "--type", "py_stale")
        assert ids == [moved] and rows[0]["status"] == "completed"
        _, ids = list_ids(cluster, "--type", "py_stale", "--status",
                          "running")
        assert ids == []
    finally:
        r.zrem("cairn:idx:status:running", ghost, moved)
        r.delete("cairn:idx:type:py_stale", f"cairn:wf:{moved}")


# ---- replay ------------------------------------------------------------------

def test_replay_matches_and_reports_a_divergence(cluster, py_worker,
                                                 tmp_path):
    wf = cluster.unique("py-replay")
    start_py(cluster, "py_order", wf, {"amount": 3, "flaky": 1})
    assert cluster.await_(wf)["status"] == "completed"
    n = len(cluster.history(wf))
    out = cluster.cairn("replay", wf).stdout.strip()
    assert out == f"replay: {wf} matches {n} events"
    assert cluster.cairn_json("replay", wf) == {"workflow_id": wf,
                                                "events": n, "matches": True}
    # A changed definition that no longer replays this history: exit 7.
    d = json.load(open(os.path.join(PYEX, "definitions", "py_order.json")))
    d["states"][1]["on_enter"][0]["activity"] = "reserve_stock"
    changed = tmp_path / "py_order_v2.json"
    changed.write_text(json.dumps(d))
    p = cluster.cairn("replay", wf, "--definition", str(changed),
                      check=False)
    assert p.returncode == 7, (p.stdout, p.stderr)
    assert p.stdout.startswith(f"replay: {wf} diverges at seq ")
    assert "ActivityScheduled" in p.stdout
    res = json.loads(cluster.cairn("--output", "json", "replay", wf,
                                   "--definition", str(changed),
                                   check=False).stdout)
    assert res["matches"] is False and res["diverged_seq"] > 1


def test_replay_of_signaled_and_canceled_workflows(cluster, py_worker):
    sig, can = cluster.unique("replay-sig"), cluster.unique("replay-can")
    for wf in (sig, can):
        start_py(cluster, "py_approval", wf, {"approver": "r"})
        cluster.wait_state(wf, "waiting")
    cluster.python("signaller.py", sig, "decision", "--payload",
                   json.dumps({"approved": True, "by": "r"}))
    cluster.cairn("cancel", can)
    for wf in (sig, can):
        cluster.await_(wf)
        out = cluster.cairn("replay", wf).stdout
        assert f"replay: {wf} matches" in out


# ---- the CLI: errors and configuration ---------------------------------------

def test_cli_bad_arguments_say_what_to_do(cluster, py_worker):
    waiting = cluster.unique("cli-wait")
    start_py(cluster, "py_approval", waiting, {"approver": "q"})
    cluster.wait_state(waiting, "waiting")
    cases = [
        (["describe", "no-such-workflow-xyz"], 3, "not found"),
        (["history", "no-such-workflow-xyz"], 3, "no history"),
        (["replay", "no-such-workflow-xyz"], 3, "no history"),
        (["await", waiting, "--timeout", "1"], 4, "still running"),
        (["list", "--status", "sleeping"], 2, "not one of running"),
        (["list", "--since", "yesterday"], 2, "such as 90s, 30m"),
        (["list", "--limit", "0"], 2, "--limit takes"),
        (["list", "extra"], 2, "unexpected argument"),
        (["start", "py_order"], 2, "needs --id"),
        (["start", "py_order", "--id", "x", "--input", "{bad"], 2,
         "not valid JSON"),
        (["start", "py_order", "--id", "x", "--policy", "sometimes"], 2,
         "not one of"),
        (["signal", waiting], 2, "needs ID and NAME"),
        (["signal-with-start", "py_approval", "--id", "x"], 2,
         "needs --signal"),
        (["cancel"], 2, "needs a workflow ID"),
        (["describe", "x", "--frob"], 2, "unknown option"),
        (["--output", "yaml", "list"], 2, "table or json"),
        (["replay", waiting, "--definition", "/no/such/file.json"], 2,
         "cannot read"),
        (["definitions", "put", os.path.join(ROOT, "README.md")], 6, ""),
        (["definitions", "frob"], 2, "use put"),
        (["frob"], 2, "unknown command"),
        (["-X", "partitions=many", "list"], 2, "expected an integer"),
    ]
    for args, code, msg in cases:
        p = cluster.cairn(*args, check=False)
        assert p.returncode == code, (args, p.returncode, p.stderr)
        assert p.stderr.startswith("cairn: "), (args, p.stderr)
        assert msg in p.stderr, (args, p.stderr)
    h = cluster.cairn("--help").stdout
    for code in range(8):
        assert f"\n  {code}  " in h, code


def test_configuration_precedence_flags_env_file(cluster, tmp_path):
    good = cluster.env["CAIRN_REDIS_URL"]
    bad = "redis://127.0.0.1:1"
    good_file, bad_file = tmp_path / "good.conf", tmp_path / "bad.conf"
    good_file.write_text(f"# a comment\nredis.url = {good}\n")
    bad_file.write_text(f"redis.url = {bad}\n")
    base = {k: v for k, v in cluster.env.items()
            if k not in ("CAIRN_REDIS_URL", "CAIRN_CONFIG")}

    def run(env_extra, *flags):
        return cluster.cairn(*flags, "list", "--limit", "1",
                             env=dict(base, **env_extra), check=False)

    def ok(p):
        return p.returncode == 0

    def refused(p):
        return p.returncode == 1 and "127.0.0.1:1" in p.stderr

    # the file alone applies, by CAIRN_CONFIG or --config
    assert refused(run({"CAIRN_CONFIG": str(bad_file)}))
    assert refused(run({}, "--config", str(bad_file)))
    assert refused(run({}, f"--config={bad_file}"))
    # the environment beats the file
    assert ok(run({"CAIRN_CONFIG": str(bad_file), "CAIRN_REDIS_URL": good}))
    assert refused(run({"CAIRN_CONFIG": str(good_file),
                        "CAIRN_REDIS_URL": bad}))
    assert ok(run({"CAIRN_REDIS_URL": good}, "--config", str(bad_file)))
    # flags beat the environment (and the file)
    assert ok(run({"CAIRN_REDIS_URL": bad}, "--redis-url", good))
    assert ok(run({"CAIRN_REDIS_URL": bad}, "-X", f"redis.url={good}"))
    assert refused(run({"CAIRN_REDIS_URL": good}, "--redis-url", bad))
    assert ok(run({"CAIRN_CONFIG": str(bad_file)}, "--redis-url", good))
    # --config names the file in place of CAIRN_CONFIG
    assert ok(run({"CAIRN_CONFIG": str(bad_file)}, "--config",
                  str(good_file)))
    # a bad file is a usage error that names the file and line
    typo = tmp_path / "typo.conf"
    typo.write_text("redis.url = " + good + "\nredis.ulr = x\n")
    p = run({}, "--config", str(typo))
    assert p.returncode == 2 and f"{typo}:2" in p.stderr, p.stderr
    p = run({}, "--config", str(tmp_path / "missing.conf"))
    assert p.returncode == 2 and "cannot open config file" in p.stderr
