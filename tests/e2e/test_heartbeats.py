"""Activity heartbeats on the real cluster: a C-SDK activity that runs
longer than its heartbeat timeout stays alive by heartbeating, and one that
heartbeats too slowly times out (examples/demo/longjob.json)."""


def kinds(hist):
    return [e["type"] for e in hist]


def test_heartbeats_keep_a_long_activity_alive(cluster):
    wf = cluster.unique("e2e-hb-ok")
    # 3 s of work, a heartbeat every 0.5 s, heartbeat timeout 1.5 s.
    cluster.start("longjob", wf, {"ms": 3000, "every": 500})
    res = cluster.await_(wf, timeout=90)
    assert res["status"] == "completed", res
    assert res["result"]["work"]["heartbeats"] == 6
    k = kinds(cluster.history(wf))
    assert k.count("ActivityHeartbeat") == 6, k
    assert "ActivityTimedOut" not in k


def test_missing_heartbeats_time_the_activity_out(cluster):
    wf = cluster.unique("e2e-hb-late")
    # The first heartbeat would come after 2.5 s: past the 1.5 s timeout.
    cluster.start("longjob", wf, {"ms": 5000, "every": 2500})
    res = cluster.await_(wf, timeout=90)
    assert res["status"] == "failed", res
    hist = cluster.history(wf)
    timed_out = [e for e in hist if e["type"] == "ActivityTimedOut"]
    assert len(timed_out) == 1, kinds(hist)
    assert timed_out[0]["timeout_kind"] == "heartbeat"
