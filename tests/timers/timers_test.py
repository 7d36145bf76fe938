#!/usr/bin/python3
"""The timer test: no timer is lost, even if Redis loses everything.

Against a real Kafka broker and Redis: N workflows each start one durable
timer, due 4..31 s later (ten buckets), then run one activity. Mid-run one
cairn-timers is killed with SIGKILL, Redis is FLUSHALLed and restarted with
no persistence. Shard owners must re-register the lost timers; the surviving
cairn-timers must fire them. The history must show, per workflow, exactly
one accepted TimerFired and one execution of the activity after it. Last
line:

timers: scheduled=N fired=N lost=0 duplicate_effects=0 late_p50_ms=A late_p99_ms=B

Lateness is due time -> the shard applying TimerFired (the Kafka timestamp
of the TimerFired history record, written by the shard's producer).
"""
import argparse
import os
import subprocess
import sys
import time

import redis

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cluster"))
import checker  # noqa: E402

ROOT = checker.ROOT
CLUSTER = os.path.join(ROOT, "deploy", "cluster.sh")
BIN = os.path.join(ROOT, "build", "bin")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*args, env=None, check=True):
    p = subprocess.run(args, capture_output=True, text=True, timeout=600,
                       env=env)
    if check and p.returncode:
        raise RuntimeError(f"{args} failed: {p.stdout}{p.stderr}")
    return p.stdout


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows", type=int, default=5000)
    ap.add_argument("--chaos-at", type=float, default=9.0,
                    help="seconds after the last start")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    # Shards repair timer drift often in this test (default: every minute).
    os.environ["CAIRN_TIMERS_REPAIR_INTERVAL_MS"] = "5000"
    ok = False
    try:
        sh(CLUSTER, "down", check=False)
        log(sh(CLUSTER, "up", "--nodes", "2", "--timers", "2",
               "--workers", "1").strip().splitlines()[-1])
        env = dict(os.environ)
        for line in sh(CLUSTER, "env").splitlines():
            k, v = line.replace("export ", "", 1).split("=", 1)
            env[k] = v
        sh(os.path.join(BIN, "cairn"), "definitions", "put",
           os.path.join(ROOT, "tests", "timers", "sleeper.json"), env=env)
        prefix = f"tmr{int(time.time())}"
        ids = [f"{prefix}-{i}" for i in range(a.workflows)]
        log(sh(os.path.join(BIN, "cairn-load"), "--workflows",
               str(a.workflows), "--type", "sleeper", "--id-prefix", prefix,
               "--buckets", "10", env=env).strip())
        r = redis.Redis(host="127.0.0.1", port=16379)
        time.sleep(a.chaos_at)  # let part of the timers fire before chaos
        log("SIGKILL timers-1; FLUSHALL; restarting Redis empty")
        sh(CLUSTER, "kill-timers", "1")
        r.flushall()
        sh(os.path.join(ROOT, "deploy", "redis.sh"), "restart")
        log("waiting for every workflow to complete")
        deadline = time.time() + 180
        done = 0
        while time.time() < deadline:
            try:
                pipe = r.pipeline()
                for wf in ids:
                    pipe.hget(f"cairn:wf:{wf}", "status")
                done = sum(1 for s in pipe.execute() if s == b"completed")
            except redis.exceptions.ConnectionError:
                done = 0
            if done == len(ids):
                break
            time.sleep(1)  # polling the visibility index for progress
        log(f"{done}/{len(ids)} completed per the visibility index; "
            "checking Kafka")

        want = set(ids)
        per = {}
        late = []

        def on_hist(m):
            key = m.key().decode()
            if key not in want:
                return
            e = checker.decode(m)
            st = per.setdefault(key, {"started": [], "fired": 0,
                                      "effects": 0, "done": 0})
            if e["type"] == "TimerStarted":
                st["started"].append(e["fire_at_ms"])
            elif e["type"] == "TimerFired":
                st["fired"] += 1
                late.append(m.timestamp()[1] - e["fire_at_ms"])
            elif e["type"] == "ActivityScheduled":
                st["effects"] += 1
            elif e["type"] == "WorkflowCompleted":
                st["done"] += 1

        checker.read_topic(env["CAIRN_BOOTSTRAP_SERVERS"], "cairn.history",
                           on_hist)
        scheduled = sum(len(v["started"]) for v in per.values())
        fired = sum(min(v["fired"], 1) for v in per.values())
        lost = sum(1 for wf in ids
                   if per.get(wf, {}).get("fired", 0) == 0 or
                   per.get(wf, {}).get("done", 0) == 0)
        dup = sum(1 for v in per.values()
                  if v["fired"] > 1 or v["effects"] > 1 or v["done"] > 1)
        ok = scheduled == len(ids) and fired == scheduled and not lost \
            and not dup
        print(f"timers: scheduled={scheduled} fired={fired} lost={lost} "
              f"duplicate_effects={dup} late_p50_ms={pct(late, .5):.0f} "
              f"late_p99_ms={pct(late, .99):.0f}", flush=True)
    finally:
        if not a.keep:
            sh(CLUSTER, "down", check=False)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
