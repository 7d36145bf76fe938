"""Fixtures for end-to-end tests against a real Kafka broker and Redis.

The session fixture brings up the local topology with deploy/cluster.sh
(KRaft broker, redis-server, cairnd nodes, cairn-timers, the demo worker) and
tears it down at the end, whatever happened.
"""
import json
import os
import subprocess
import time
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "build", "bin")
CLUSTER = os.path.join(ROOT, "deploy", "cluster.sh")
CLUSTER_LOGS = os.path.join(ROOT, "deploy", ".run", "cluster")
# Where each cluster log file ended before this session's cluster came up
# (cluster.sh appends): a test reads this session's lines from there.
LOG_START = {}


def murmur2(data: bytes) -> int:
    """Kafka's Java murmur2, as the default partitioner uses it."""
    seed, m, r = 0x9747B28C, 0x5BD1E995, 24
    length = len(data)
    h = (seed ^ length) & 0xFFFFFFFF
    i = 0
    while length - i >= 4:
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
        i += 4
    rest = length - i
    if rest == 3:
        h ^= data[i + 2] << 16
    if rest >= 2:
        h ^= data[i + 1] << 8
    if rest >= 1:
        h ^= data[i]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_for(key: str, partitions: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def dlq_all(cluster, want_keys, count=1, timeout=60):
    """Reads the DLQ until every key in want_keys has `count` records;
    returns key -> the headers of each of its records, in order."""
    c = Consumer({"bootstrap.servers": cluster.bootstrap,
                  "group.id": "e2e-dlq-reader", "enable.auto.commit": False,
                  "isolation.level": "read_committed",
                  "auto.offset.reset": "earliest"})
    md = c.list_topics("cairn.dlq", timeout=10)
    parts = [TopicPartition("cairn.dlq", p, 0)
             for p in md.topics["cairn.dlq"].partitions]
    c.assign(parts)
    found = {}
    deadline = time.time() + timeout
    while time.time() < deadline and \
            any(len(found.get(k, [])) < count for k in want_keys):
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        key = m.key().decode() if m.key() else ""
        if key in want_keys:
            found.setdefault(key, []).append(
                dict((k, v.decode()) for k, v in (m.headers() or [])))
    c.close()
    return found


def dlq_records(cluster, want_keys, timeout=60):
    """Reads the DLQ until every key in want_keys was seen; returns the
    headers of each key's last record."""
    return {k: v[-1] for k, v in
            dlq_all(cluster, want_keys, 1, timeout).items()}


def scrape(port, path="/metrics"):
    """(HTTP status, body) of a GET on a local metrics port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                timeout=10) as r:
        return r.status, r.read().decode()


def metric_total(ports, name, labels=""):
    """The sum of the samples `name{...labels...}` over the ports' /metrics
    (cluster.sh: cairnd i on 19500 + i, cairn-timers i on 19600 + i)."""
    s = 0.0
    for port in ports:
        for line in scrape(port)[1].splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            if key.split("{")[0] == name and labels in key:
                s += float(value)
    return s


class Cluster:
    def __init__(self, env):
        self.env = env
        self.bootstrap = env["CAIRN_BOOTSTRAP_SERVERS"]
        self.partitions = int(env["CAIRN_PARTITIONS"])

    def cairn(self, *args, check=True, timeout=120):
        p = subprocess.run([os.path.join(BIN, "cairn"), *args], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"cairn {' '.join(args)} exited {p.returncode}:"
                                 f"\n{p.stdout}\n{p.stderr}")
        return p

    def put_definition(self, doc, tmp_path):
        """Publishes a definition given as a dict (through a file named
        after its type in tmp_path, as `cairn definitions put` reads one)."""
        path = tmp_path / f"{doc['type']}.json"
        path.write_text(json.dumps(doc))
        self.cairn("definitions", "put", str(path))

    def start(self, wf_type, wf_id, payload=None):
        self.cairn("start", wf_type, "--id", wf_id, "--input",
                   json.dumps(payload or {}))

    def await_(self, wf_id, timeout=60):
        p = self.cairn("--output", "json", "await", wf_id, "--timeout",
                       str(timeout), check=False, timeout=timeout + 30)
        assert p.returncode in (0, 5), p.stderr
        return json.loads(p.stdout)

    def history(self, wf_id):
        return json.loads(self.cairn("--output", "json", "history",
                                     wf_id).stdout)

    def describe(self, wf_id):
        p = self.cairn("--output", "json", "describe", wf_id, check=False)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def wait_state(self, wf_id, state, timeout=60):
        """Polls describe until the workflow is in FSM state `state`."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.describe(wf_id)
            if last and last.get("state") == state:
                return last
            time.sleep(0.2)  # polling the index, bounded by the deadline
        raise AssertionError(f"{wf_id} not in state {state} after "
                             f"{timeout} s; last {last!r}")

    def unique(self, prefix):
        return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def cluster():
    env = dict(os.environ)
    # Never borrow (and then stop) a cluster someone else started.
    st = subprocess.run([CLUSTER, "status"], capture_output=True, text=True,
                        timeout=60).stdout
    if ": running" in st:
        pytest.fail("a local cluster is already running (deploy/cluster.sh "
                    "status):\n" + st + "wait for it, or stop it with "
                    "deploy/cluster.sh down if it is yours", pytrace=False)
    if os.path.isdir(CLUSTER_LOGS):
        for name in os.listdir(CLUSTER_LOGS):
            if name.endswith(".log"):
                LOG_START[name] = os.path.getsize(
                    os.path.join(CLUSTER_LOGS, name))
    # Shards repair Redis drift every 2 s here (default: every minute), so
    # that test_repair.py sees a repair pass within its deadline.
    up = subprocess.run([CLUSTER, "up", "--nodes", "3", "--timers", "2",
                         "--workers", "1"], capture_output=True, text=True,
                        timeout=300,
                        env=dict(os.environ,
                                 CAIRN_TIMERS_REPAIR_INTERVAL_MS="2000"))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        out = subprocess.run([CLUSTER, "env"], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            k, v = line.replace("export ", "", 1).split("=", 1)
            env[k] = v
        c = Cluster(env)
        c.cairn("definitions", "put",
                *sorted(os.path.join(ROOT, "examples", "demo", f)
                        for f in os.listdir(os.path.join(ROOT, "examples",
                                                         "demo"))
                        if f.endswith(".json")))
        yield c
    finally:
        subprocess.run([CLUSTER, "down"], capture_output=True, timeout=300)
