"""The periodic drift repair: what Redis loses while the connection stays up
(an operator's DEL, a failover to a replica that was behind) comes back
within timers.repair.interval.ms (2 s in this suite, conftest.py), with no
restart and no outage for the shard to notice."""
import time
from urllib.parse import urlparse

import redis

from conftest import partition_for

WAITER = {
    "type": "e2e_waiter", "version": 1, "task_queue": "default",
    "initial": "wait",
    "states": [
        {"name": "wait",
         "on_enter": [{"timer": {"id": "nap", "after_ms": 3600000}}],
         "on": [{"event": "timer_fired", "timer": "nap", "target": "done"}]},
        {"name": "done", "on_enter": [{"complete": {}}]},
    ],
}


def redis_of(cluster):
    u = urlparse(cluster.env["CAIRN_REDIS_URL"])
    return redis.Redis(host=u.hostname, port=u.port or 6379)


def timer_entry(r, key, wf):
    """The member of the shard's timer set for wf's timer, and its score."""
    for member, score in r.zscan_iter(key):
        if member.decode().endswith("|" + wf):
            return member, score
    return None, None


def test_drift_repair_restores_a_lost_timer_and_record(cluster, tmp_path):
    cluster.put_definition(WAITER, tmp_path)
    wf = cluster.unique("e2e-drift")
    cluster.start("e2e_waiter", wf, {})
    cluster.wait_state(wf, "wait")
    r = redis_of(cluster)
    key = "cairn:timers:{%d}" % partition_for(wf, cluster.partitions)
    member, due = timer_entry(r, key, wf)
    assert member is not None, "the timer was never registered"
    assert due > time.time() * 1000 + 3000 * 1000  # an hour ahead
    record = r.hgetall(f"cairn:wf:{wf}")
    assert record[b"status"] == b"running", record

    # Redis loses the workflow's timer, its record and its status entry.
    assert r.zrem(key, member) == 1
    assert r.delete(f"cairn:wf:{wf}") == 1
    assert r.zrem("cairn:idx:status:running", wf) == 1

    deadline = time.monotonic() + 60
    back = (None, None)
    while time.monotonic() < deadline:
        back = (timer_entry(r, key, wf)[1], r.hgetall(f"cairn:wf:{wf}"),
                r.zscore("cairn:idx:status:running", wf))
        if all(back):
            break
        time.sleep(0.2)  # polling Redis, bounded by the deadline
    score, again, ranked = back
    assert score == due, back
    assert again.get(b"status") == b"running", back
    assert again.get(b"state") == b"wait", back
    assert again.get(b"type") == b"e2e_waiter", back
    assert ranked == float(record[b"started_ms"]), back
    # The workflow itself never noticed: still waiting, nothing fired.
    assert [e["type"] for e in cluster.history(wf)] == \
        ["WorkflowStarted", "TimerStarted"]
