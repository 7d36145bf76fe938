#!/usr/bin/env bash
# bench/timers.sh — the timer service benchmark (make bench-timers).
# Starts a single Kafka broker and Redis on loopback, creates the events
# topic, runs one cairn-timers, and measures: lateness with 100k timers due
# over 30 s, fire throughput with 200k due at once, Redis memory per timer.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=deploy/lib.sh
. deploy/lib.sh
P=${CAIRN_BENCH_PARTITIONS:-12}
RUN=$CAIRN_RUN/bench-timers
mkdir -p "$RUN"
cleanup() {
    [[ -f $RUN/timers.pid ]] && kill "$(cat "$RUN/timers.pid")" 2>/dev/null || true
    deploy/kafka.sh stop >/dev/null 2>&1 || true
    deploy/redis.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
deploy/kafka.sh start >/dev/null
deploy/redis.sh start >/dev/null
BOOT=$(deploy/kafka.sh bootstrap)
$SYS_PYTHON - "$BOOT" "$P" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
fs = a.create_topics([NewTopic("cairn.events", int(sys.argv[2]), 1)])
for f in fs.values():
    try:
        f.result(30)
    except Exception as e:
        if "TOPIC_ALREADY_EXISTS" not in str(e):
            raise
PY
CAIRN_BOOTSTRAP_SERVERS=$BOOT CAIRN_REDIS_URL=redis://127.0.0.1:16379 \
    CAIRN_PARTITIONS=$P build/bin/cairn-timers >"$RUN/timers.log" 2>&1 &
echo $! >"$RUN/timers.pid"
echo "bench-timers: 100000 timers due over 30 s"
$SYS_PYTHON bench/timers_bench.py 16379 "$BOOT" cairn.events "$P" 100000 30000
redis-cli -p 16379 flushall >/dev/null
echo "bench-timers: 200000 timers due at once"
$SYS_PYTHON bench/timers_bench.py 16379 "$BOOT" cairn.events "$P" 200000 0
