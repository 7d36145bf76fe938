#!/usr/bin/env bash
# bench/run.sh — `make bench`: Cairn's figures on this box.
#
# Starts a private local cluster of its own — one Kafka broker (KRaft,
# deploy/kafka.sh --name bench), one Redis (deploy/redis.sh --name bench),
# cairnd, cairn-timers and cairn-worker-demo, all on 127.0.0.1 — so that
# nobody's `deploy/cluster.sh up/down` can join or stop it mid-run, runs the
# measurements, tears it all down, and prints one "bench:" line per figure:
#
#   bench: kafka_txn_records_per_sec=R        the broker's transactional ceiling
#   bench: concurrency=C workflows_per_sec=X p50_ms=Y p99_ms=Z
#                                             the order workflow (three activities),
#                                             C=1 and a sweep up to saturation
#   bench: restore_workflows_per_sec=V bytes_per_idle_workflow=B
#
# "bench:   detail ..." lines say what lies behind each figure (the CPU of
# every process and of everybody else over the window, p90/p999, unfinished
# workflows); "micro:" lines give the CPU cost of each in-process step.
# Everything is kept in build/bench/. docs/BENCHMARKS.md explains the method.
#
# One bench at a time: if another bench cluster is up, waits for it (polls
# every 30 s, gives up after 10 min). Always tears down what it started.
#
# Knobs (environment): CAIRN_BENCH_PARTITIONS (2), CAIRN_BENCH_SECONDS (15,
# window per run), CAIRN_BENCH_CONCURRENCY ("16 64 256 512 768 1024 2048"),
# CAIRN_BENCH_WARMUP (30 s at C = 768 before the first measured run),
# CAIRN_BENCH_IDLE (50000 idle workflows), CAIRN_BENCH_TXN_RECORDS (300000),
# CAIRN_BENCH_KAFKA_PORT (24092), CAIRN_BENCH_REDIS_PORT (26379),
# CAIRN_BENCH_METRICS_PORT (24500: cairnd's /metrics, read after each run;
# the worker's is the next port; both saved as build/bench/metrics-*.txt),
# CAIRN_BENCH_PROFILE=1 (perf record cairnd during one more saturation run),
# CAIRN_BENCH_CAIRND_ARGS (more cairnd arguments, e.g. "-X kafka.debug=eos"),
# CAIRN_BENCH_SLOW_MS (100: cairnd logs every batch slower than this, the
# worker how many results took longer from produce to acknowledgement).
#
# Besides the figures, build/bench/ keeps each run's completion timeline
# (timeline-<n>-c<C>.txt, 100 ms buckets), cairnd's log with every batch
# slower than CAIRN_BENCH_SLOW_MS and its phases, the worker's with its slow
# deliveries, the broker's log (compaction passes, segment rolls) and its GC log
# (kafka-gc.log): what to line up when a p99 looks wrong.
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../deploy/lib.sh"

BIN=$CAIRN_ROOT/build/bin
OUT=$CAIRN_ROOT/build/bench
P=${CAIRN_BENCH_PARTITIONS:-2}
SECS=${CAIRN_BENCH_SECONDS:-15}
WARMUP=${CAIRN_BENCH_WARMUP:-30}
SWEEP=${CAIRN_BENCH_CONCURRENCY:-"16 64 256 512 768 1024 2048"}
IDLE=${CAIRN_BENCH_IDLE:-50000}
TXN_RECORDS=${CAIRN_BENCH_TXN_RECORDS:-300000}
SLOW_MS=${CAIRN_BENCH_SLOW_MS:-100}
# Below Linux's ephemeral range (32768-60999 by default): a port in it
# can be held by any outgoing connection's TIME_WAIT, and cairnd then
# fails to bind its metrics port (it happened: 49500, held by a connection
# of another process on the box).
KAFKA_PORT=${CAIRN_BENCH_KAFKA_PORT:-24092}
REDIS_PORT=${CAIRN_BENCH_REDIS_PORT:-26379}
METRICS_PORT=${CAIRN_BENCH_METRICS_PORT:-24500}
PROFILE=${CAIRN_BENCH_PROFILE:-0}
KAFKA=("$CAIRN_ROOT/deploy/kafka.sh")
REDIS=("$CAIRN_ROOT/deploy/redis.sh")

# Only our settings reach the processes (a stray CAIRN_CONFIG would skew).
for v in $(compgen -e); do
    case $v in
        CAIRN_BENCH_* | CAIRN_KAFKA_* | CAIRN_REDIS_START_TIMEOUT | CAIRN_CACHE) ;;
        CAIRN_*) unset "$v" ;;
    esac
done
export CAIRN_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
export CAIRN_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export CAIRN_PARTITIONS=$P CAIRN_REPLICATION_FACTOR=1 CAIRN_TOPIC_PREFIX=cairn.

mkdir -p "$OUT"
rm -f "$OUT"/timeline-*.txt "$OUT"/*-1.log "$OUT"/kafka-*.log # this run's only
LOG=$OUT/bench.log
: >"$LOG"
started=0
RUNS=0
PIDS=()

say() { echo "$*" | tee -a "$LOG"; }
note() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

cleanup() {
    local pids=() f pid
    for f in "$OUT"/*.pid; do
        [[ -e $f ]] || continue
        pid=$(pidfile_alive "$f") && pids+=("$pid")
        rm -f "$f"
    done
    ((${#pids[@]})) && stop_pids 60 "${pids[@]}"
    if ((started)); then
        local rec=$CAIRN_ROOT/deploy/.run/kafka-bench/dir
        if [[ -f $rec ]]; then
            cp "$(<"$rec")/node1/gc.log" "$OUT/kafka-gc.log" 2>/dev/null
            cp "$(<"$rec")/node1/broker.log" "$OUT/kafka-broker.log" 2>/dev/null
        fi
        note "tearing down the bench cluster"
        "${KAFKA[@]}" stop --name bench >>"$LOG" 2>&1 || true
        "${REDIS[@]}" stop --port "$REDIS_PORT" --name bench >>"$LOG" 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

busy() {
    "${KAFKA[@]}" status --name bench >/dev/null 2>&1 ||
        port_listening "$KAFKA_PORT" || port_listening "$REDIS_PORT" ||
        port_listening "$METRICS_PORT"
}

wait_free() {
    local waited=0
    while busy; do
        ((waited < 600)) ||
            die "bench: another bench cluster has been up for 10 min (ports $KAFKA_PORT/$REDIS_PORT); not touching it"
        note "another bench cluster is up (not ours): waiting ($waited s so far)"
        sleep 30 # polling someone else's cluster, as agreed
        waited=$((waited + 30))
    done
}

# start_proc NAME CMD... — one of our processes, logged to build/bench/NAME.log
start_proc() {
    local name=$1
    shift
    "$@" >>"$OUT/$name.log" 2>&1 &
    echo $! >"$OUT/$name.pid"
    disown $! # its death (the restore's SIGKILL) is ours to report
}

# Batches slower than SLOW_MS are logged with their phases (cairnd-1.log),
# so that a run's slowest workflows can be matched with what stalled.
start_cairnd() {
    CAIRN_NODE_ID=bench-cairnd-1 CAIRN_METRICS_PORT=$METRICS_PORT \
        CAIRN_LOG_SLOW_BATCH_MS=$SLOW_MS \
        start_proc cairnd-1 "$BIN/cairnd" ${CAIRN_BENCH_CAIRND_ARGS:-}
}

# cairnd's own view from /metrics: batch events sum and count, commit
# seconds sum and count, aborts (zeros if the endpoint does not answer).
scrape() {
    curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null |
        awk '/^cairn_batch_events_sum /{bs=$2} /^cairn_batch_events_count /{bc=$2}
             /^cairn_transaction_commit_seconds_sum /{cs=$2}
             /^cairn_transaction_commit_seconds_count /{cc=$2}
             /^cairn_transactions_aborted_total /{ab=$2}
             /^cairn_shard_seconds_total\{phase="wait"\}/{pw=$2}
             /^cairn_shard_seconds_total\{phase="apply"\}/{pa=$2}
             /^cairn_shard_seconds_total\{phase="snapshot"\}/{ps=$2}
             /^cairn_shard_seconds_total\{phase="commit"\}/{pc=$2}
             /^cairn_shard_seconds_total\{phase="index"\}/{pi=$2}
             END {printf "%s %s %s %s %s %s %s %s %s %s\n", bs+0, bc+0, cs+0, cc+0, ab+0,
                         pw+0, pa+0, ps+0, pc+0, pi+0}'
}

# workflows C ARGS... — one run, then what cairnd saw during it.
workflows() {
    local c=$1 m0 m1
    shift
    m0=$(scrape)
    RUNS=$((RUNS + 1))
    bench workflows --concurrency "$c" "$@" \
        --timeline "$OUT/timeline-$RUNS-c$c.txt"
    m1=$(scrape)
    # Both processes' whole /metrics after the run (cumulative), for a
    # closer look at the histograms.
    curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" \
        >"$OUT/metrics-cairnd-c$c.txt" 2>/dev/null || true
    curl -sf --max-time 5 "http://127.0.0.1:$((METRICS_PORT + 1))/metrics" \
        >"$OUT/metrics-worker-c$c.txt" 2>/dev/null || true
    awk -v a="$m0" -v b="$m1" -v c="$c" 'BEGIN {
        split(a, x); split(b, y); n = y[2] - x[2]
        if (n > 0)
            printf "bench:   detail cairnd concurrency=%s transactions=%d events_per_transaction=%.1f commit_avg_ms=%.1f aborts=%d\n",
                c, n, (y[1] - x[1]) / n, 1000 * (y[3] - x[3]) / (y[4] - x[4] > 0 ? y[4] - x[4] : 1), y[5] - x[5]
        if (n > 0)
            printf "bench:   detail cairnd concurrency=%s ms_per_transaction wait=%.1f apply=%.1f snapshot=%.1f commit=%.1f index=%.1f\n",
                c, 1000 * (y[6] - x[6]) / n, 1000 * (y[7] - x[7]) / n, 1000 * (y[8] - x[8]) / n,
                1000 * (y[9] - x[9]) / n, 1000 * (y[10] - x[10]) / n
    }' | tee -a "$LOG"
}

alive() { # alive NAME... — dies with a clear message if one is gone
    local n
    for n in "$@"; do
        pidfile_alive "$OUT/$n.pid" >/dev/null ||
            die "bench: $n died (see $OUT/$n.log); the figures would be meaningless"
    done
}

# Waits until the cairnd log past byte OFF shows every shard owned.
wait_owned() { # wait_owned OFF TIMEOUT
    local deadline=$((SECONDS + $2)) n
    while ((SECONDS < deadline)); do
        n=$(tail -c +$(($1 + 1)) "$OUT/cairnd-1.log" | grep -c 'msg="shard owned"' || true)
        ((n >= P)) && return 0
        alive cairnd-1
        sleep 0.5 # waiting for the group to settle
    done
    die "bench: shards not owned within $2 s (see $OUT/cairnd-1.log)"
}

log_end() { if [[ -f $1 ]]; then stat -c %s "$1"; else echo 0; fi; }
pid_of() { pidfile_alive "$OUT/$1.pid"; }

bench() { # bench ARGS... — runs cairn-bench, keeps its lines
    "$BIN/cairn-bench" "$@" 2>>"$LOG" | tee -a "$LOG"
}

# ---- cluster -------------------------------------------------------------
for b in cairnd cairn-timers cairn-worker-demo cairn cairn-bench cairn-bench-micro; do
    [[ -x $BIN/$b ]] || die "bench: $BIN/$b missing: run make build"
done
wait_free
note "starting the bench cluster (Kafka :$KAFKA_PORT, Redis :$REDIS_PORT, P=$P)"
started=1
t_up=$(date +%s.%N)
"${KAFKA[@]}" start --name bench --port "$KAFKA_PORT" >>"$LOG" 2>&1
"${REDIS[@]}" start --port "$REDIS_PORT" --name bench >>"$LOG" 2>&1
off=$(log_end "$OUT/cairnd-1.log")
start_cairnd
CAIRN_NODE_ID=bench-timers-1 start_proc timers-1 "$BIN/cairn-timers"
CAIRN_NODE_ID=bench-worker-1 CAIRN_METRICS_PORT=$((METRICS_PORT + 1)) \
    CAIRN_LOG_SLOW_BATCH_MS=$SLOW_MS start_proc worker-1 "$BIN/cairn-worker-demo"
wait_owned "$off" 120
"$BIN/cairn" definitions put "$CAIRN_ROOT/examples/demo/order.json" \
    "$CAIRN_ROOT/bench/idle.json" >>"$LOG" 2>&1
note "cluster up in $(elapsed_since "$t_up") s"

kafka_pid=$("${KAFKA[@]}" status --name bench | sed -n 's/.*pid \([0-9]*\),.*/\1/p' | head -1)
redis_pid=$("${REDIS[@]}" status --port "$REDIS_PORT" --name bench |
    sed -n 's/.*(pid \([0-9]*\),.*/\1/p' | head -1)
say "bench: host nproc=$(nproc) cpu=\"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)\" mem_gib=$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo) load1=$(cut -d' ' -f1 /proc/loadavg) topology=\"1 Kafka broker (KRaft), 1 Redis, 1 cairnd, 1 cairn-timers, 1 cairn-worker-demo, partitions=$P\""

# ---- the broker's ceiling ---------------------------------------------------
note "kafka-txn: $TXN_RECORDS records of 200 B in transactions of 1000"
best=0
for k in 1 4; do
    out=$("$BIN/cairn-bench" kafka-txn --records "$TXN_RECORDS" --size 200 \
        --txn 1000 --producers "$k" 2>>"$LOG")
    grep detail <<<"$out" | tee -a "$LOG"
    r=$(sed -n 's/^bench: kafka_txn_records_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
    if ((${r:-0} > best)); then best=$r; fi
done
say "bench: kafka_txn_records_per_sec=$best"
"$BIN/cairn-bench" kafka-latency --records 300 2>>"$LOG" |
    sed 's/^bench: /bench:   detail /' | tee -a "$LOG"

# ---- idle workflows: memory, then restore ------------------------------------
alive cairnd-1 worker-1 timers-1
note "idle: $IDLE workflows waiting for a signal"
idle_out=$(bench idle --workflows "$IDLE" --pid "$(pid_of cairnd-1)")
bpw=$(sed -n 's/^bench: bytes_per_idle_workflow=\([0-9]*\).*/\1/p' <<<"$idle_out")

note "restore: SIGKILL cairnd-1, start it again, time the restore of its shards"
off=$(log_end "$OUT/cairnd-1.log")
kill -KILL "$(pid_of cairnd-1)"
# SIGKILL is asynchronous, and a killed process's leader can show as a
# zombie while its other threads still hold its sockets (metrics.port).
while pid_of cairnd-1 >/dev/null || port_listening "$METRICS_PORT"; do sleep 0.1; done
start_cairnd
deadline=$((SECONDS + 240))
while (($(tail -c +$((off + 1)) "$OUT/cairnd-1.log" | grep -c 'msg="restored ' || true) < P)); do
    ((SECONDS < deadline)) || die "bench: cairnd-1 did not restore within 240 s"
    alive cairnd-1
    sleep 0.5 # waiting for the restore to finish
done
restore=$(tail -c +$((off + 1)) "$OUT/cairnd-1.log" | "$SYS_PYTHON" -c '
import datetime, re, sys
pat = re.compile(r"^ts=(\S+) .*? shard=(\d+) msg=\"restored (\d+) workflows from (\d+) state records in (\d+) ms")
rows = []
for line in sys.stdin:
    m = pat.match(line)
    if m:
        end = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        rows.append((end, int(m.group(3)), int(m.group(4)), int(m.group(5)) / 1000.0))
n = sum(r[1] for r in rows); recs = sum(r[2] for r in rows)
wall = max(r[0] for r in rows) - min(r[0] - r[3] for r in rows)
print(f"{n / wall:.0f} {n} {recs} {recs / wall:.0f} {wall * 1000:.0f} {len(rows)}")
')
read -r rate n recs rps wall_ms nshards <<<"$restore"
say "bench:   detail restore shards=$nshards workflows=$n state_records=$recs records_per_sec=$rps wall_ms=$wall_ms rss_after_restore_kb=$(awk '/VmRSS/ {print $2}' "/proc/$(pid_of cairnd-1)/status")"
say "bench: restore_workflows_per_sec=$rate bytes_per_idle_workflow=${bpw:-unknown}"
wait_owned "$off" 120

# ---- the order workflow ---------------------------------------------------------
WATCH=(--watch "kafka=$kafka_pid" --watch "redis=$redis_pid"
    --watch "cairnd=$(pid_of cairnd-1)" --watch "worker=$(pid_of worker-1)"
    --watch "timers=$(pid_of timers-1)")
# Warms every shard's producer (its first transaction learns topic metadata,
# about a second) and the broker's JIT, at the loads measured next; not
# reported. CAIRN_BENCH_WARMUP seconds at C = 768, then 10 s at C = 1: with
# 5 s at C = 64 the broker's compiler threads still took ~40 % of a core
# through the C = 1 run (docs/BENCHMARKS.md, "Fifth session").
note "warm-up: ${WARMUP}s at concurrency 768, 10s at concurrency 1"
for wc in "768 $WARMUP" "1 10"; do
    read -r wc_c wc_s <<<"$wc"
    "$BIN/cairn-bench" workflows --concurrency "$wc_c" --duration "$wc_s" --warmup 1 \
        --linger 1 >>"$LOG" 2>&1 || note "warm-up reported a problem (see $LOG)"
done
note "concurrency 1 for ${SECS}s"
workflows 1 --duration "$SECS" --warmup 2 "${WATCH[@]}"
for c in $SWEEP; do
    alive cairnd-1 worker-1 timers-1
    note "concurrency $c for ${SECS}s"
    workflows "$c" --duration "$SECS" --warmup 3 --linger 1 "${WATCH[@]}"
done

if [[ $PROFILE == 1 ]] && command -v perf >/dev/null; then
    c=$(echo "$SWEEP" | awk '{print $NF}')
    note "profile: perf record cairnd-1 at concurrency $c"
    perf record -F 499 --call-graph dwarf,16384 -p "$(pid_of cairnd-1)" \
        -o "$OUT/cairnd.perf.data" -- sleep $((SECS + 3)) >>"$LOG" 2>&1 &
    perf_pid=$!
    bench workflows --concurrency "$c" --duration "$SECS" --warmup 3 \
        --linger 1 "${WATCH[@]}"
    wait "$perf_pid" || true
    perf report -i "$OUT/cairnd.perf.data" --children --sort sym --stdio \
        -g none 2>/dev/null | grep -E '^ +[0-9]' | head -80 >"$OUT/cairnd.perf.txt" || true
    note "profile: $OUT/cairnd.perf.txt"
fi
alive cairnd-1 worker-1 timers-1
cleanup
started=0
trap - EXIT

# ---- in-process cost per step (no Kafka; the box is quieter now) -----------------
(cd "$CAIRN_ROOT" && "$BIN/cairn-bench-micro" --workflows 20000 --idle "$IDLE") | tee -a "$LOG"
note "done; everything is in $OUT"
