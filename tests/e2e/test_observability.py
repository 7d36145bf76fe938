"""What an operator watches, on the live local cluster: every cairnd and
cairn-timers serves the metrics issue 7 lists as Prometheus text on its
metrics port (cluster.sh: cairnd 19500 + i, timers 19600 + i), they move
when work is done, /healthz answers, and the logs are logfmt lines with
level, shard and workflow id."""
import os
import re
import time

from confluent_kafka import Producer

from conftest import CLUSTER_LOGS, LOG_START, metric_total, scrape

NODES = (1, 2, 3)
TIMERS = (1, 2)

# Metric family -> Prometheus type, for each of the items.
CAIRND = {
    "cairn_shards_owned": "gauge",                      # owned shards
    "cairn_events_applied_total": "counter",            # events processed
    "cairn_batch_events": "histogram",                  # batch size
    "cairn_transaction_commit_seconds": "histogram",    # commit latency
    "cairn_step_latency_seconds": "histogram",          # step latency
    "cairn_activity_results_total": "counter",  # successes and failures
    "cairn_activity_retries_total": "counter",          # retries
    "cairn_signals_total": "counter",                   # signals
    "cairn_dlq_records_total": "counter",               # DLQ records
    "cairn_restore_seconds": "histogram",               # restore duration
    "cairn_replay_divergences_total": "counter",        # divergences
    "cairn_continue_as_new_total": "counter",           # continue-as-new
    "cairn_timers_started_total": "counter",
    "cairn_workflows_total": "counter",
    "process_cpu_seconds_total": "counter",
}
TIMERS_SERVICE = {
    "cairn_timers_overdue": "gauge",                    # timer backlog
    "cairn_timers_pending": "gauge",
    "cairn_timers_lateness_seconds": "histogram",       # timer lateness
    "cairn_timers_delivered_lateness_seconds": "histogram",
    "cairn_timers_fired_total": "counter",
}

TICK = {
    "type": "e2e_obs_tick", "version": 1, "task_queue": "default",
    "initial": "nap",
    "states": [
        {"name": "nap",
         "on_enter": [{"timer": {"id": "nap", "after_ms": 200}}],
         "on": [{"event": "timer_fired", "timer": "nap", "target": "ask"}]},
        {"name": "ask",
         "on_enter": [{"wait_signal": "go"}],
         "on": [{"event": "signal_received", "signal": "go",
                 "target": "greet"}]},
        {"name": "greet",
         "on_enter": [{"activity": "echo", "id": "greet", "input": "$.vars"}],
         "on": [{"event": "activity_completed", "activity": "greet",
                 "target": "done"}]},
        {"name": "done", "on_enter": [{"complete": "$.vars"}]},
    ],
}


def families(text):
    """name -> type, from the # TYPE lines."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def node_ports():
    return [19500 + i for i in NODES]


def timer_ports():
    return [19600 + i for i in TIMERS]


def test_every_listed_metric_is_served(cluster):
    for port in node_ports():
        got = families(scrape(port)[1])
        for name, kind in CAIRND.items():
            assert got.get(name) == kind, (port, name, got.get(name))
    for port in timer_ports():
        got = families(scrape(port)[1])
        for name, kind in TIMERS_SERVICE.items():
            assert got.get(name) == kind, (port, name, got.get(name))


def test_health_endpoints_answer(cluster):
    for port in node_ports() + timer_ports():
        status, body = scrape(port, "/healthz")
        assert status == 200 and body.strip() == "ok", (port, body)


def test_shards_owned_add_up_to_the_partitions(cluster):
    """Once the group has settled (right after the cluster starts, a
    rebalance may still be handing shards out)."""
    deadline = time.monotonic() + 60
    owned = None
    while time.monotonic() < deadline:
        owned = metric_total(node_ports(), "cairn_shards_owned")
        if owned == cluster.partitions:
            break
        time.sleep(0.2)  # polling the gauges, bounded by the deadline
    assert owned == cluster.partitions, owned


def counts(nodes, timers):
    """The counters test_metrics_move_with_a_workflow follows, summed."""
    return {
        "completed": metric_total(nodes, "cairn_workflows_total",
                                  'event="completed"'),
        "events": metric_total(nodes, "cairn_events_applied_total"),
        "signals": metric_total(nodes, "cairn_signals_total"),
        "results": metric_total(nodes, "cairn_activity_results_total",
                                'outcome="completed"'),
        "batches": metric_total(nodes, "cairn_batch_events_count"),
        "steps": metric_total(nodes, "cairn_step_latency_seconds_count"),
        "timers": metric_total(nodes, "cairn_timers_started_total"),
        "fired": metric_total(timers, "cairn_timers_fired_total"),
        "late": metric_total(timers, "cairn_timers_lateness_seconds_count"),
    }


def test_metrics_move_with_a_workflow(cluster, tmp_path):
    """One workflow with a timer, a signal and an activity moves the
    counters of each: the sums over the nodes grow by at least what it
    did (other tests may add to them, never take away)."""
    cluster.put_definition(TICK, tmp_path)
    nodes, timers = node_ports(), timer_ports()
    before = counts(nodes, timers)
    wf = cluster.unique("e2e-obs")
    cluster.start("e2e_obs_tick", wf, {"who": "ops"})
    cluster.wait_state(wf, "ask")
    cluster.cairn("signal", wf, "go", "--payload", "{}")
    assert cluster.await_(wf)["status"] == "completed"
    # A shard counts a batch as it commits, before it writes the Redis
    # index await reads: a scrape right after sees the counts.
    after = counts(nodes, timers)
    # start, timer fired, signal, activity result: four inputs at least.
    want = {"completed": 1, "events": 4, "signals": 1, "results": 1,
            "batches": 1, "steps": 4, "timers": 1, "fired": 1, "late": 1}
    for k, n in want.items():
        assert after[k] - before[k] >= n, (k, before[k], after[k])


LOGFMT = re.compile(r'^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z '
                    r'level=(debug|info|warn|error) comp=[a-z-]+'
                    r'( shard=\d+)?( wf="(?:[^"\\]|\\.)*")? '
                    r'msg="(?:[^"\\]|\\.)*"$')


def test_logs_are_logfmt_with_shard_and_workflow(cluster):
    """Every line cairnd and cairn-timers wrote in this session is one
    logfmt event (ts, level, comp, then shard and wf where they apply,
    msg). Shard lines carry shard=; a record sent to the DLQ names its
    workflow."""
    # A record the shard cannot decode, keyed by a workflow id.
    wf = cluster.unique("e2e-obs-dlq")
    p = Producer({"bootstrap.servers": cluster.bootstrap})
    p.produce("cairn.events", key=wf.encode(), value=b"not avro")
    assert p.flush(30) == 0
    deadline = time.monotonic() + 60
    needle = f'wf="{wf}"'
    while time.monotonic() < deadline:
        lines = []
        for name in sorted(os.listdir(CLUSTER_LOGS)):
            if re.match(r"(cairnd|timers)-\d+\.log$", name):
                path = os.path.join(CLUSTER_LOGS, name)
                start = LOG_START.get(name, 0)  # this session's lines
                if start > os.path.getsize(path):
                    start = 0  # the file was started again
                with open(path, "rb") as f:
                    f.seek(start)
                    text = f.read().decode(errors="replace")
                lines += [(name, ln) for ln in text.splitlines() if ln.strip()]
        if any(needle in ln and "sent to cairn.dlq" in ln for _, ln in lines):
            break
        time.sleep(0.2)  # polling the log files, bounded by the deadline
    else:
        raise AssertionError(f"no DLQ log line names {wf}")
    bad = [(n, ln) for n, ln in lines if not LOGFMT.match(ln)]
    assert not bad, bad[:5]
    assert any("shard=" in ln for n, ln in lines if n.startswith("cairnd"))
