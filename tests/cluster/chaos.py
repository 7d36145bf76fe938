#!/usr/bin/python3
"""The cluster test: exactly-once under crashes, pauses and rescaling.

A real three-broker KRaft cluster; cairnd nodes go 3 -> 5 -> 2 while a load
generator starts multi-step workflows (activities run on several workers);
meanwhile a random node is killed with SIGKILL every few seconds and
restarted, one is paused past its session timeout and resumed, and nodes are
stopped with SIGTERM. Then the checker reads `history` and `tasks.*` and
verifies that every workflow completed exactly once with gap-free sequence
numbers and that no step's outputs were committed twice. Last line:

cluster: started=N completed=N lost=0 duplicated=0 gaps=0 takeover_p50_ms=A takeover_max_ms=B
"""
import argparse
import datetime
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time

import redis

sys.path.insert(0, os.path.dirname(__file__))
import checker  # noqa: E402

ROOT = checker.ROOT
CLUSTER = os.path.join(ROOT, "deploy", "cluster.sh")
BIN = os.path.join(ROOT, "build", "bin")
RUN = os.path.join(ROOT, "deploy", ".run", "cluster")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*args, check=True):
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if check and p.returncode:
        raise RuntimeError(f"{args} failed: {p.stdout}{p.stderr}")
    return p.stdout


LINE = re.compile(r'^ts=(\S+) .*? shard=(\d+) msg="(shard owned|shard released)')


def parse_ts(ts):
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def ownership_events():
    """[(time, node, shard, 'owned'|'released')] from every cairnd log."""
    out = []
    for f in os.listdir(RUN):
        m = re.match(r"cairnd-(\d+)\.log$", f)
        if not m:
            continue
        for line in open(os.path.join(RUN, f), errors="replace"):
            lm = LINE.match(line)
            if lm:
                out.append((parse_ts(lm.group(1)), int(m.group(1)),
                            int(lm.group(2)),
                            "owned" if lm.group(3) == "shard owned"
                            else "released"))
    return sorted(out)


def fencing_report(t_resume, node, owned_before):
    """What a node paused past its session timeout did once resumed: it must
    release its shards as lost, and any commit it tries must be refused."""
    lost = fenced = owned_after = 0
    for line in open(os.path.join(RUN, f"cairnd-{node}.log"), errors="replace"):
        m = re.match(r"^ts=(\S+) ", line)
        if not m or parse_ts(m.group(1)) < t_resume - 0.5:
            continue
        lost += "(lost: aborting in-flight work)" in line
        fenced += "fenced by a newer instance" in line and "shard=" in line
    return lost, fenced


def takeover_ms(events, t, node):
    """Time from t until every shard `node` owned at t is owned again."""
    owned = {}
    for ts, n, shard, what in events:
        if ts > t:
            break
        if n == node:
            owned[shard] = what == "owned"
    shards = [s for s, o in owned.items() if o]
    if not shards:
        return None
    worst = 0.0
    for s in shards:
        again = [ts for ts, n, sh_, what in events
                 if sh_ == s and what == "owned" and ts > t]
        if not again:
            return float("inf")
        worst = max(worst, again[0] - t)
    return worst * 1000


class Chaos:
    def __init__(self, args):
        self.args = args
        self.running = set()
        self.paused = set()
        self.disruptions = []  # (time, node, kind)
        self.resumed = []  # (time, node) of SIGCONT
        self.lock = threading.Lock()
        self.rng = random.Random(args.seed)

    def start(self, i):
        sh(CLUSTER, "start-node", str(i))
        self.running.add(i)

    def kill(self, i, restart_after):
        t = time.time()
        sh(CLUSTER, "kill-node", str(i))
        self.disruptions.append((t, i, "SIGKILL"))
        log(f"SIGKILL cairnd-{i}; restart in {restart_after:.1f}s")
        time.sleep(restart_after)  # the outage being simulated
        sh(CLUSTER, "start-node", str(i))

    def term(self, i):
        t = time.time()
        sh(CLUSTER, "stop-node", str(i))
        self.running.discard(i)
        self.disruptions.append((t, i, "SIGTERM"))
        log(f"SIGTERM cairnd-{i} (stays down)")

    def pause(self, i, secs):
        t = time.time()
        sh(CLUSTER, "pause-node", str(i))
        self.paused.add(i)
        self.disruptions.append((t, i, "SIGSTOP"))
        log(f"SIGSTOP cairnd-{i} for {secs:.0f}s")
        time.sleep(secs)  # longer than session.timeout.ms: its shards move
        sh(CLUSTER, "resume-node", str(i))
        self.paused.discard(i)
        self.resumed.append((time.time(), i))
        log(f"SIGCONT cairnd-{i}")

    def pick(self):
        live = sorted(self.running - self.paused)
        return self.rng.choice(live) if live else None

    def run(self, duration):
        a = self.args
        t0 = time.time()
        time.sleep(min(3, duration / 10))
        log("scaling 3 -> 5")
        self.start(4)
        self.start(5)
        pause_done = term_done = False
        while time.time() - t0 < duration:
            time.sleep(a.kill_every)  # chaos cadence
            el = time.time() - t0
            if not pause_done and el > duration * 0.3:
                n = self.pick()
                threading.Thread(target=self.pause,
                                 args=(n, a.session_timeout_s + 4)).start()
                pause_done = True
                continue
            if not term_done and el > duration * 0.6:
                victim = self.pick()
                if victim is not None:
                    self.term(victim)
                term_done = True
                continue
            n = self.pick()
            if n is not None:
                self.kill(n, self.rng.uniform(0.5, 2.0))
        while self.paused:
            time.sleep(0.5)  # wait for the resume thread to finish
        log(f"scaling {len(self.running)} -> 2")
        while len(self.running) > 2:
            self.term(max(self.running))


def wait_completed(ids, timeout):
    r = redis.Redis(host="127.0.0.1", port=16379)
    deadline = time.time() + timeout
    n = 0
    while time.time() < deadline:
        pipe = r.pipeline()
        for wf in ids:
            pipe.hget(f"cairn:wf:{wf}", "status")
        n = sum(1 for s in pipe.execute() if s == b"completed")
        if n == len(ids):
            return n
        time.sleep(1)  # polling the visibility index for progress
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows", type=int, default=3000)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--kill-every", type=float, default=4)
    ap.add_argument("--session-timeout-s", type=int, default=6)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    os.environ["CAIRN_SESSION_TIMEOUT_MS"] = str(a.session_timeout_s * 1000)
    os.environ["CAIRN_LOG_LEVEL"] = "info"
    log(f"seed {a.seed}: {a.workflows} workflows over {a.duration:.0f}s")
    ok = False
    try:
        sh(CLUSTER, "down", check=False)
        for f in os.listdir(RUN) if os.path.isdir(RUN) else []:
            if f.endswith(".log"):
                os.unlink(os.path.join(RUN, f))
        log(sh(CLUSTER, "up", "--kafka", "cluster", "--nodes", "3",
               "--timers", "2", "--workers", "3").strip().splitlines()[-1])
        env = dict(os.environ)
        for line in sh(CLUSTER, "env").splitlines():
            k, v = line.replace("export ", "", 1).split("=", 1)
            env[k] = v
        subprocess.run([os.path.join(BIN, "cairn"), "definitions", "put",
                        os.path.join(ROOT, "examples", "demo", "order.json")],
                       env=env, check=True, capture_output=True, timeout=120)
        chaos = Chaos(a)
        chaos.running = {1, 2, 3}
        prefix = f"chaos{a.seed}"
        ids = [f"{prefix}-{i}" for i in range(a.workflows)]
        load = subprocess.Popen(
            [os.path.join(BIN, "cairn-load"), "--workflows",
             str(a.workflows), "--type", "order", "--id-prefix", prefix,
             "--rate", str(a.workflows / (a.duration * 0.8)), "--input",
             '{"amount": 1}'], env=env)
        chaos.run(a.duration)
        if load.wait(timeout=300):
            raise RuntimeError("load generator failed")
        log("waiting for every workflow to complete")
        n = wait_completed(ids, 240)
        log(f"{n}/{len(ids)} completed per the visibility index; checking "
            "Kafka")
        rep = checker.check(env["CAIRN_BOOTSTRAP_SERVERS"], ids)
        events = ownership_events()
        tk = {}
        for t, node, kind in chaos.disruptions:
            ms = takeover_ms(events, t, node)
            if ms is not None:
                tk.setdefault(kind, []).append(ms)
        for kind, v in sorted(tk.items()):
            log(f"takeover after {kind}: n={len(v)} p50={statistics.median(v):.0f}ms "
                f"max={max(v):.0f}ms")
        fencing_ok = True
        for (t, node, kind) in chaos.disruptions:
            if kind != "SIGSTOP":
                continue
            owned = takeover_ms(events, t, node) is not None
            t_res = next(tr for tr, n in chaos.resumed if n == node and tr > t)
            lost, fenced = fencing_report(t_res, node, owned)
            log(f"fencing: cairnd-{node} owned shards when paused: {owned}; "
                f"after SIGCONT it released them as lost: {lost > 0}; "
                f"commits refused as fenced: {fenced}")
            if owned and not lost:
                fencing_ok = False
        allv = [x for v in tk.values() for x in v]
        p50 = statistics.median(allv) if allv else float("nan")
        mx = max(allv) if allv else float("nan")
        if rep.lost:
            log(f"lost (first 10): {rep.lost[:10]}")
        if rep.duplicated or rep.dup_tasks:
            log(f"duplicated: {rep.duplicated[:10]} tasks: {rep.dup_tasks[:10]}")
        if rep.gaps:
            log(f"gaps: {rep.gaps[:10]}")
        dup = len(set(rep.duplicated)) + len(rep.dup_tasks)
        ok = (rep.completed == rep.started and not rep.lost and not dup
              and not rep.gaps and mx != float("inf") and fencing_ok)
        print(f"cluster: started={rep.started} completed={rep.completed} "
              f"lost={len(rep.lost)} duplicated={dup} gaps={len(rep.gaps)} "
              f"takeover_p50_ms={p50:.0f} takeover_max_ms={mx:.0f}", flush=True)
    finally:
        if not a.keep:
            sh(CLUSTER, "down", check=False)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
