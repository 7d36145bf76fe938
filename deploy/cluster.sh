#!/usr/bin/env bash
# deploy/cluster.sh — the docker-compose topology as local processes on
# 127.0.0.1: Kafka (KRaft), Redis, N cairnd, T cairn-timers, W demo workers.
#
#   deploy/cluster.sh up [--nodes N] [--kafka single|cluster] [--timers T]
#                        [--workers W] [--partitions P]
#   deploy/cluster.sh down                 stop everything it started
#   deploy/cluster.sh status
#   deploy/cluster.sh env                  print the CAIRN_* settings to export
#   deploy/cluster.sh start-node I | stop-node I (SIGTERM) | kill-node I
#                     (SIGKILL) | pause-node I (SIGSTOP) | resume-node I
#   deploy/cluster.sh start-timers I | kill-timers I (SIGKILL)
#
# Process i of kind cairnd has node.id cairnd-I (its static group member
# id) and metrics port 19500+I. Logs: deploy/.run/cluster/*.log.
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR=$CAIRN_RUN/cluster
BIN=$CAIRN_ROOT/build/bin
mkdir -p "$DIR"

state() { # state KEY [DEFAULT]
    if [[ -f $DIR/$1 ]]; then cat "$DIR/$1"; else echo "${2:-}"; fi
}

export_env() {
    local kafka
    kafka=$(state kafka single)
    CAIRN_BOOTSTRAP_SERVERS=$("$CAIRN_ROOT/deploy/kafka.sh" bootstrap --name "$kafka")
    CAIRN_REDIS_URL=redis://127.0.0.1:16379
    CAIRN_PARTITIONS=$(state partitions 12)
    CAIRN_REPLICATION_FACTOR=$([[ $kafka == cluster ]] && echo 3 || echo 1)
    export CAIRN_BOOTSTRAP_SERVERS CAIRN_REDIS_URL CAIRN_PARTITIONS CAIRN_REPLICATION_FACTOR
}

start_proc() { # start_proc NAME CMD...
    local name=$1 pid
    shift
    if pid=$(pidfile_alive "$DIR/$name.pid"); then
        echo "cluster: $name already running (pid $pid)"
        return 0
    fi
    "$@" >>"$DIR/$name.log" 2>&1 &
    echo $! >"$DIR/$name.pid"
}

start_node() {
    local i=$1
    export_env
    CAIRN_NODE_ID=cairnd-$i CAIRN_METRICS_PORT=$((19500 + i)) \
        start_proc "cairnd-$i" "$BIN/cairnd"
}

start_timers() {
    local i=$1
    export_env
    CAIRN_NODE_ID=timers-$i CAIRN_METRICS_PORT=$((19600 + i)) \
        start_proc "timers-$i" "$BIN/cairn-timers"
}

kill_timers() {
    local pid
    pid=$(pidfile_alive "$DIR/timers-$1.pid") || { echo "cluster: timers-$1 not running"; return 0; }
    kill -KILL "$pid"
}

signal_node() { # signal_node SIG I
    local pid
    pid=$(pidfile_alive "$DIR/cairnd-$2.pid") || { echo "cluster: cairnd-$2 not running"; return 0; }
    kill "-$1" "$pid"
}

stop_node() {
    local pid
    pid=$(pidfile_alive "$DIR/cairnd-$1.pid") || { echo "cluster: cairnd-$1 not running"; return 0; }
    stop_pids 60 "$pid"
}

cmd_up() {
    local nodes=3 kafka=single timers=2 workers=1 partitions=12
    while [[ $# -gt 0 ]]; do
        case $1 in
            --nodes) nodes=$2; shift 2 ;;
            --kafka) kafka=$2; shift 2 ;;
            --timers) timers=$2; shift 2 ;;
            --workers) workers=$2; shift 2 ;;
            --partitions) partitions=$2; shift 2 ;;
            *) die "cluster: unknown option $1 (see deploy/cluster.sh --help)" ;;
        esac
    done
    [[ $kafka == single || $kafka == cluster ]] || die "cluster: --kafka is single or cluster"
    for b in cairnd cairn-timers cairn-worker-demo cairn; do
        [[ -x $BIN/$b ]] || die "cluster: $BIN/$b missing: run make build"
    done
    echo "$kafka" >"$DIR/kafka"
    echo "$partitions" >"$DIR/partitions"
    echo "$nodes" >"$DIR/nodes"
    if [[ $kafka == cluster ]]; then
        "$CAIRN_ROOT/deploy/kafka.sh" start --nodes 3 --name cluster
    else
        "$CAIRN_ROOT/deploy/kafka.sh" start --nodes 1 --name single
    fi
    "$CAIRN_ROOT/deploy/redis.sh" start
    export_env
    local i
    for ((i = 1; i <= nodes; i++)); do start_node "$i"; done
    for ((i = 1; i <= timers; i++)); do start_timers "$i"; done
    for ((i = 1; i <= workers; i++)); do
        CAIRN_NODE_ID=worker-$i CAIRN_METRICS_PORT=$((19700 + i)) \
            start_proc "worker-$i" "$BIN/cairn-worker-demo"
    done
    echo "cluster: up: kafka=$kafka cairnd=$nodes timers=$timers workers=$workers partitions=$partitions"
}

cmd_down() {
    local f pids=() name
    for f in "$DIR"/*.pid; do
        [[ -e $f ]] || continue
        name=$(basename "$f" .pid)
        if pid=$(pidfile_alive "$f"); then
            kill -CONT "$pid" 2>/dev/null || true # a paused node must hear SIGTERM
            pids+=("$pid")
        fi
        rm -f "$f"
    done
    if ((${#pids[@]})); then
        stop_pids 60 "${pids[@]}"
        echo "cluster: stopped ${#pids[@]} process(es)"
    else
        echo "cluster: no Cairn processes running"
    fi
    "$CAIRN_ROOT/deploy/kafka.sh" stop --name "$(state kafka single)" || true
    "$CAIRN_ROOT/deploy/redis.sh" stop || true
}

cmd_status() {
    local f name
    for f in "$DIR"/*.pid; do
        [[ -e $f ]] || continue
        name=$(basename "$f" .pid)
        if pid=$(pidfile_alive "$f"); then echo "$name: running (pid $pid)"; else echo "$name: stopped"; fi
    done
    "$CAIRN_ROOT/deploy/kafka.sh" status --name "$(state kafka single)" || true
    "$CAIRN_ROOT/deploy/redis.sh" status || true
}

case ${1:-} in
    up) shift; cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) export_env; env | grep '^CAIRN_' | sed 's/^/export /' ;;
    start-node) start_node "${2:?node number}" ;;
    stop-node) stop_node "${2:?node number}" ;;
    kill-node) signal_node KILL "${2:?node number}" ;;
    pause-node) signal_node STOP "${2:?node number}" ;;
    resume-node) signal_node CONT "${2:?node number}" ;;
    start-timers) start_timers "${2:?instance number}" ;;
    kill-timers) kill_timers "${2:?instance number}" ;;
    -h | --help | help) sed -n '2,15s/^# \{0,1\}//p' "$0" ;;
    *) sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
