"""Reads Cairn's history and task topics and checks exactly-once outcomes.

Every record is decoded with python-avro from sdk/schemas, so the checker
shares no code with the C implementation it checks.
"""
import io
import json
import os
import time

import avro.io
import avro.schema
from confluent_kafka import Consumer, TopicPartition

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def load_schemas():
    d = os.path.join(ROOT, "sdk", "schemas")
    out = {}
    for f in os.listdir(d):
        if f.endswith(".avsc"):
            s = avro.schema.parse(open(os.path.join(d, f)).read())
            out[s.name] = avro.io.DatumReader(s)
    return out


SCHEMAS = load_schemas()


def decode(msg):
    hdrs = dict((k, v) for k, v in (msg.headers() or []))
    t = hdrs.get("cairn.type", b"").decode()
    rec = SCHEMAS[t].read(avro.io.BinaryDecoder(io.BytesIO(msg.value())))
    rec["type"] = t
    return rec


def read_topic(bootstrap, topic, on_record, timeout=120):
    """Reads every committed record of topic up to its current end."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cairn-checker",
                  "enable.auto.commit": False,
                  "isolation.level": "read_committed",
                  "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=30)
    ends = {}
    parts = []
    for p in md.topics[topic].partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        if hi > lo:
            ends[p] = hi
            parts.append(TopicPartition(topic, p, lo))
    c.assign(parts)
    done = set()
    deadline = time.time() + timeout
    while len(done) < len(ends) and time.time() < deadline:
        msgs = c.consume(10000, 0.5)
        for m in msgs:
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    if m.offset() >= ends[m.partition()]:
                        done.add(m.partition())
                continue
            on_record(m)
            if m.offset() + 1 >= ends[m.partition()]:
                done.add(m.partition())
    c.close()
    if len(done) < len(ends):
        raise RuntimeError(f"could not read {topic} to its end")


class Report:
    def __init__(self):
        self.started = 0
        self.completed = 0
        self.lost = []
        self.duplicated = []
        self.gaps = []
        self.dup_tasks = []


def check(bootstrap, ids, prefix="cairn."):
    """Checks workflows `ids` in history and tasks.* topics."""
    want = set(ids)
    hist = {}

    def on_hist(m):
        key = m.key().decode()
        if key in want:
            hist.setdefault(key, []).append(decode(m))

    read_topic(bootstrap, prefix + "history", on_hist)
    tasks = {}

    def on_task(m):
        key = m.key().decode()
        if key in want:
            r = decode(m)
            k = (key, r["activity_id"], r["attempt"])
            tasks[k] = tasks.get(k, 0) + 1

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "x"})
    topics = [t for t in c.list_topics(timeout=30).topics
              if t.startswith(prefix + "tasks.")]
    c.close()
    for t in topics:
        read_topic(bootstrap, t, on_task)

    rep = Report()
    rep.started = len(ids)
    for wf in ids:
        evs = hist.get(wf, [])
        seqs = [e["seq"] for e in evs]
        done = [e for e in evs if e["type"] == "WorkflowCompleted"]
        starts = [e for e in evs if e["type"] == "WorkflowStarted"]
        if len(done) == 1:
            rep.completed += 1
        if not done:
            rep.lost.append(wf)
        if len(done) > 1 or len(starts) > 1 or len(set(seqs)) != len(seqs):
            rep.duplicated.append(wf)
        if sorted(set(seqs)) != list(range(1, len(set(seqs)) + 1)) or \
                seqs != sorted(seqs):
            rep.gaps.append(wf)
        sched = [(e["activity_id"], e["attempt"]) for e in evs
                 if e["type"] == "ActivityScheduled"]
        if len(sched) != len(set(sched)):
            rep.duplicated.append(wf)
    rep.dup_tasks = [k for k, n in tasks.items() if n > 1]
    return rep
