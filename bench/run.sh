#!/usr/bin/env bash
# bench/run.sh — `make bench`: Cairn's figures on this box.
#
# Starts its own local cluster (deploy/cluster.sh up: one Kafka broker in
# KRaft mode, Redis, cairnd, cairn-timers, cairn-worker-demo, all on
# 127.0.0.1), then prints one "bench:" line per figure:
#
#   bench: kafka_txn_records_per_sec=R        the broker's transactional ceiling
#   bench: concurrency=C workflows_per_sec=X p50_ms=Y p99_ms=Z
#                                             the order workflow (three activities),
#                                             C=1 and a sweep up to saturation
#   bench: restore_workflows_per_sec=V bytes_per_idle_workflow=B
#
# and "bench:   detail ..." lines with what lies behind each figure (CPU of
# every process over the window, p90/p999, unfinished workflows). Everything
# is also kept in build/bench/. docs/BENCHMARKS.md explains the method.
#
# If somebody else's cluster is up, waits for it to go away (polls every
# 30 s, gives up after 10 min): it never tears down a cluster it did not
# start, and always tears down its own.
#
# Knobs (environment): CAIRN_BENCH_NODES (1), CAIRN_BENCH_WORKERS (1),
# CAIRN_BENCH_TIMERS (1), CAIRN_BENCH_SECONDS (15, window per run),
# CAIRN_BENCH_CONCURRENCY ("8 32 128 512", the sweep), CAIRN_BENCH_IDLE
# (50000 idle workflows), CAIRN_BENCH_TXN_RECORDS (500000),
# CAIRN_BENCH_PROFILE=1 (perf record cairnd during one more saturation run).
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../deploy/lib.sh"

CLUSTER=$CAIRN_ROOT/deploy/cluster.sh
BIN=$CAIRN_ROOT/build/bin
RUN=$CAIRN_RUN/cluster
OUT=$CAIRN_ROOT/build/bench
NODES=${CAIRN_BENCH_NODES:-1}
WORKERS=${CAIRN_BENCH_WORKERS:-1}
TIMERS=${CAIRN_BENCH_TIMERS:-1}
SECONDS_PER_RUN=${CAIRN_BENCH_SECONDS:-15}
SWEEP=${CAIRN_BENCH_CONCURRENCY:-"8 32 128 512"}
IDLE=${CAIRN_BENCH_IDLE:-50000}
TXN_RECORDS=${CAIRN_BENCH_TXN_RECORDS:-500000}
PROFILE=${CAIRN_BENCH_PROFILE:-0}

mkdir -p "$OUT"
LOG=$OUT/bench.log
: >"$LOG"
started=0

say() { echo "$*" | tee -a "$LOG"; }
note() { echo "[$(date +%H:%M:%S)] $*" >>"$LOG"; echo "[$(date +%H:%M:%S)] $*" >&2; }

cleanup() {
    if ((started)); then
        note "tearing down the bench cluster"
        "$CLUSTER" down >>"$LOG" 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

busy() { "$CLUSTER" status 2>/dev/null | grep -q ': running'; }

wait_free() {
    local waited=0
    while busy; do
        if ((waited >= 600)); then
            die "bench: another cluster has been up for 10 min; not touching it (deploy/cluster.sh status)"
        fi
        note "another cluster is up (not ours): waiting ($waited s so far)"
        sleep 30 # polling someone else's cluster, as agreed
        waited=$((waited + 30))
    done
}

# Byte offset of the end of a log (for reading only what comes next).
log_end() { if [[ -f $1 ]]; then stat -c %s "$1"; else echo 0; fi; }

# Waits until the lines of the cairnd logs after the given offsets show
# `shard owned` for all P partitions. Usage: wait_owned P TIMEOUT
declare -A OFF
wait_owned() {
    local p=$1 timeout=$2 i n deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        n=0
        for ((i = 1; i <= NODES; i++)); do
            n=$((n + $(tail -c +$((${OFF[$i]:-0} + 1)) "$RUN/cairnd-$i.log" 2>/dev/null |
                grep -c 'msg="shard owned"' || true)))
        done
        ((n >= p)) && return 0
        sleep 0.5 # waiting for the group to settle
    done
    die "bench: shards not owned within ${timeout}s (see $RUN/cairnd-*.log)"
}

pid_of() { pidfile_alive "$RUN/$1.pid"; }

watch_args() {
    local a=() pid
    pid=$("$CAIRN_ROOT/deploy/kafka.sh" status --name single 2>/dev/null |
        sed -n 's/.*pid \([0-9]*\),.*/\1/p' | head -1)
    [[ -n $pid ]] && a+=(--watch "kafka=$pid")
    pid=$("$CAIRN_ROOT/deploy/redis.sh" status 2>/dev/null |
        sed -n 's/.*(pid \([0-9]*\),.*/\1/p' | head -1)
    [[ -n $pid ]] && a+=(--watch "redis=$pid")
    local i
    for ((i = 1; i <= NODES; i++)); do
        pid=$(pid_of "cairnd-$i") && a+=(--watch "cairnd$i=$pid")
    done
    for ((i = 1; i <= WORKERS; i++)); do
        pid=$(pid_of "worker-$i") && a+=(--watch "worker$i=$pid")
    done
    for ((i = 1; i <= TIMERS; i++)); do
        pid=$(pid_of "timers-$i") && a+=(--watch "timers$i=$pid")
    done
    echo "${a[@]}"
}

bench() { # bench ARGS... — runs cairn-bench, keeps its lines
    "$BIN/cairn-bench" "$@" 2>>"$LOG" | tee -a "$LOG"
}

# ---- cluster -------------------------------------------------------------
for b in cairnd cairn-timers cairn-worker-demo cairn cairn-bench; do
    [[ -x $BIN/$b ]] || die "bench: $BIN/$b missing: run make build"
done
wait_free
for ((i = 1; i <= NODES; i++)); do OFF[$i]=$(log_end "$RUN/cairnd-$i.log"); done
note "starting the bench cluster: nodes=$NODES workers=$WORKERS timers=$TIMERS"
started=1
t_up=$(date +%s.%N)
"$CLUSTER" up --kafka single --nodes "$NODES" --workers "$WORKERS" \
    --timers "$TIMERS" >>"$LOG" 2>&1
eval "$("$CLUSTER" env)"
P=$CAIRN_PARTITIONS
wait_owned "$P" 120
note "cluster up in $(elapsed_since "$t_up") s; $P shards owned"
"$BIN/cairn" definitions put "$CAIRN_ROOT/examples/demo/order.json" >>"$LOG" 2>&1
"$BIN/cairn" definitions put "$CAIRN_ROOT/bench/idle.json" >>"$LOG" 2>&1

say "bench: host nproc=$(nproc) cpu=\"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)\" mem_gib=$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo) topology=\"kafka=1 broker, cairnd=$NODES, workers=$WORKERS, timers=$TIMERS, partitions=$P\""

# Warm the broker's JIT and every client's connections; not reported.
note "warm-up"
"$BIN/cairn-bench" workflows --concurrency 64 --duration 5 --warmup 1 \
    --drain 20 >>"$LOG" 2>&1 || note "warm-up run reported a problem (see $LOG)"

# ---- the broker's ceiling ---------------------------------------------------
note "kafka-txn: $TXN_RECORDS records of 200 B in transactions of 1000"
best=0
for k in 1 4; do
    out=$("$BIN/cairn-bench" kafka-txn --records "$TXN_RECORDS" --size 200 \
        --txn 1000 --producers "$k" 2>>"$LOG")
    grep detail <<<"$out" | tee -a "$LOG"
    r=$(sed -n 's/^bench: kafka_txn_records_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
    ((${r:-0} > best)) && best=$r
done
say "bench: kafka_txn_records_per_sec=$best"

# ---- idle workflows: memory, then restore ------------------------------------
cairnd_pid=$(pid_of cairnd-1)
note "idle: $IDLE workflows waiting for a signal (cairnd-1 pid $cairnd_pid)"
# With several nodes only cairnd-1's share would be measured: the figure
# then comes from the sum of every node's growth instead.
if ((NODES == 1)); then
    idle_out=$(bench idle --workflows "$IDLE" --pid "$cairnd_pid")
else
    idle_out=$(bench idle --workflows "$IDLE")
fi
bpw=$(sed -n 's/^bench: bytes_per_idle_workflow=\([0-9]*\).*/\1/p' <<<"$idle_out")

note "restore: SIGKILL cairnd-1, start it again, time the restore of its shards"
OFF[1]=$(log_end "$RUN/cairnd-1.log")
"$CLUSTER" kill-node 1 >>"$LOG" 2>&1
sleep 1 # the kill is asynchronous; let the process die
"$CLUSTER" start-node 1 >>"$LOG" 2>&1
want=$P
((NODES > 1)) && want=$(((P + NODES - 1) / NODES))
deadline=$((SECONDS + 240))
while (($(tail -c +$((OFF[1] + 1)) "$RUN/cairnd-1.log" | grep -c 'msg="restored ' || true) < want)); do
    ((SECONDS < deadline)) || die "bench: cairnd-1 did not restore within 240 s"
    sleep 0.5 # waiting for the restore to finish
done
restore=$(tail -c +$((OFF[1] + 1)) "$RUN/cairnd-1.log" | "$SYS_PYTHON" -c '
import datetime, re, sys
pat = re.compile(r"^ts=(\S+) .*? shard=(\d+) msg=\"restored (\d+) workflows from (\d+) state records in (\d+) ms\"")
rows = []
for line in sys.stdin:
    m = pat.match(line)
    if m:
        end = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        rows.append((end, int(m.group(3)), int(m.group(4)), int(m.group(5)) / 1000.0))
n = sum(r[1] for r in rows); recs = sum(r[2] for r in rows)
wall = max(r[0] for r in rows) - min(r[0] - r[3] for r in rows)
busy = sum(r[3] for r in rows)
print(f"{n / wall:.0f} {n} {recs} {wall * 1000:.0f} {busy * 1000:.0f} {len(rows)}")
')
read -r rate n recs wall_ms busy_ms nshards <<<"$restore"
say "bench:   detail restore shards=$nshards workflows=$n state_records=$recs wall_ms=$wall_ms shard_ms_sum=$busy_ms"
say "bench: restore_workflows_per_sec=$rate bytes_per_idle_workflow=${bpw:-unknown}"
wait_owned "$P" 120

# ---- the order workflow ---------------------------------------------------------
read -r -a WATCH <<<"$(watch_args)"
note "concurrency 1 for ${SECONDS_PER_RUN}s"
bench workflows --concurrency 1 --duration "$SECONDS_PER_RUN" --warmup 2 "${WATCH[@]}"
for c in $SWEEP; do
    note "concurrency $c for ${SECONDS_PER_RUN}s"
    bench workflows --concurrency "$c" --duration "$SECONDS_PER_RUN" --warmup 3 \
        --linger 1 "${WATCH[@]}"
done

if [[ $PROFILE == 1 ]] && command -v perf >/dev/null; then
    c=$(echo "$SWEEP" | awk '{print $NF}')
    pid=$(pid_of cairnd-1)
    note "profile: perf record cairnd-1 at concurrency $c"
    perf record -F 999 -g -p "$pid" -o "$OUT/cairnd.perf.data" -- \
        sleep $((SECONDS_PER_RUN + 3)) >>"$LOG" 2>&1 &
    perf_pid=$!
    bench workflows --concurrency "$c" --duration "$SECONDS_PER_RUN" --warmup 3 \
        --linger 1 "${WATCH[@]}"
    wait "$perf_pid" || true
    perf report -i "$OUT/cairnd.perf.data" --no-children --sort dso,sym \
        --stdio 2>/dev/null | head -120 >"$OUT/cairnd.perf.txt" || true
    note "profile: $OUT/cairnd.perf.txt"
fi
note "done; everything is in $LOG"
