#!/usr/bin/python3
"""timers_bench.py — load N timers into Redis, consume TimerFired, report.

Runs against cairn-timers alone (no shard owner): timers are written
straight into the sorted sets the way a shard registers them.

usage: timers_bench.py REDIS_PORT BOOTSTRAP TOPIC PARTITIONS N SPREAD_MS [LEAD_MS]
Timers are due uniformly over [now+LEAD_MS, now+LEAD_MS+SPREAD_MS]
(SPREAD_MS=0: all due at once, LEAD_MS may be negative = already due).
Consumes TOPIC (read_committed, from the end at start) until every timer
fired or 60 s pass without progress; prints counts, duplicates, lateness
(consume time - fire_at), and the fire rate.
"""
import io
import os
import sys
import time
import uuid

import avro.io
import avro.schema
import redis
from confluent_kafka import Consumer, TopicPartition, OFFSET_END


# Kafka's murmur2 partitioner, shared with the end-to-end tests.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "e2e"))
from conftest import murmur2  # noqa: E402


SCHEMA = avro.schema.parse(open(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "sdk", "schemas",
    "TimerFired.avsc")).read())
READER = avro.io.DatumReader(SCHEMA)


def decode_timer_fired(v):
    e = READER.read(avro.io.BinaryDecoder(io.BytesIO(v)))
    return (e["workflow_id"], e["time_ms"], e["timer_id"], e["generation"],
            e["fire_at_ms"])


def main():
    port, bootstrap, topic = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    P, N, spread = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    lead = int(sys.argv[7]) if len(sys.argv) > 7 else 2000
    run = uuid.uuid4().hex[:8]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-" + run,
                  "isolation.level": "read_committed",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    c.assign([TopicPartition(topic, p, OFFSET_END) for p in range(P)])
    c.poll(1.0)
    r = redis.Redis(port=port)
    now = int(time.time() * 1000)
    expect = {}
    pipe = r.pipeline(transaction=False)
    for i in range(N):
        wf = "wf-%s-%d" % (run, i)
        due = now + lead + (spread * i // N if spread else 0)
        p = (murmur2(wf.encode()) & 0x7fffffff) % P
        member = "1|t%d|%s" % (i, wf)
        pipe.zadd("cairn:timers:{%d}" % p, {member: due})
        expect[(wf, "t%d" % i)] = (due, p)
        if i % 5000 == 4999:
            pipe.publish("cairn:timers:wake", str(due))
            pipe.execute()
    pipe.publish("cairn:timers:wake", str(now + lead))
    pipe.execute()
    t_loaded = time.time()
    mem = r.info("memory")["used_memory"]
    print("loaded %d timers in %.2f s; redis used_memory=%d (%.0f B/timer)"
          % (N, t_loaded - now / 1000.0, mem, mem / max(N, 1)), flush=True)
    seen, dup, wrong_part, late = {}, 0, 0, []
    first = last = None
    idle_since = time.time()
    while len(seen) < N and time.time() - idle_since < 60:
        msgs = c.consume(2000, 0.02)
        t = time.time()
        for m in msgs:
            if m.error():
                continue
            wf, tms, tid, gen, fire_at = decode_timer_fired(m.value())
            k = (wf, tid)
            if k not in expect:
                continue
            idle_since = t
            if k in seen:
                dup += 1
                continue
            due, p = expect[k]
            if m.partition() != p:
                wrong_part += 1
            seen[k] = 1
            late.append(t * 1000 - fire_at)
            first = first or t
            last = t
    late.sort()
    pct = lambda q: late[min(len(late) - 1, int(q * len(late)))] if late else -1
    lost = N - len(seen)
    print("timers: scheduled=%d fired=%d lost=%d duplicate=%d wrong_partition=%d "
          "late_p50_ms=%.0f late_p99_ms=%.0f late_max_ms=%.0f"
          % (N, len(seen), lost, dup, wrong_part, pct(0.5), pct(0.99),
             late[-1] if late else -1))
    if first and last and last > first:
        print("fire span %.2f s, %.0f fired/s" % (last - first, len(seen) / (last - first)))
    print("left in redis: due=%d inflight=%d" % (
        sum(r.zcard("cairn:timers:{%d}" % p) for p in range(P)),
        sum(r.zcard("cairn:timers:{%d}:inflight" % p) for p in range(P))))
    c.close()


main()
