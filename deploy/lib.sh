# shellcheck shell=bash
# deploy/lib.sh — helpers shared by deploy/*.sh and tests/deploy/*.sh.
# Source it; it defines functions and a few variables, runs nothing.
# shellcheck disable=SC2034 # the variables are used by the sourcing scripts

CAIRN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CAIRN_CACHE=${CAIRN_CACHE:-$CAIRN_ROOT/.cache}
CAIRN_RUN=$CAIRN_ROOT/deploy/.run
KAFKA_VERSION=3.9.1
KAFKA_HOME=$CAIRN_CACHE/kafka-$KAFKA_VERSION
KAFKA_MARKER=$KAFKA_HOME/.complete
# Debian's python carries python3-confluent-kafka; the pyenv one on PATH may not.
SYS_PYTHON=/usr/bin/python3

die() {
    echo "$*" >&2
    exit 1
}

# True if the process exists and is not a zombie.
pid_alive() {
    local pid=$1 state
    [[ -n $pid ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    [[ -n $state && $state != Z* ]]
}

# Reads a pid file; prints the pid if the process is alive.
pidfile_alive() {
    local f=$1 pid
    [[ -f $f ]] || return 1
    pid=$(<"$f")
    pid_alive "$pid" || return 1
    echo "$pid"
}

# True if something listens on 127.0.0.1:PORT (or any address:PORT).
port_listening() {
    local port=$1
    ss -Hltn "sport = :$port" 2>/dev/null | grep -q .
}

# Who listens on PORT, for error messages.
port_owner() {
    local port=$1
    ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -1
}

# TCP connect to 127.0.0.1:PORT succeeds.
tcp_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# SIGTERM each pid, wait up to TIMEOUT seconds for all to exit, then SIGKILL.
# Usage: stop_pids TIMEOUT PID...
stop_pids() {
    local timeout=$1 pid deadline left
    shift
    for pid in "$@"; do
        if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
    deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        left=0
        for pid in "$@"; do
            pid_alive "$pid" && left=1
        done
        ((left)) || return 0
        sleep 0.2
    done
    for pid in "$@"; do
        if pid_alive "$pid"; then
            echo "  pid $pid did not stop within ${timeout}s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for pid in "$@"; do
        for _ in $(seq 50); do
            pid_alive "$pid" || break
            sleep 0.1
        done
    done
}

# Elapsed seconds since a `date +%s.%N` stamp, one decimal.
elapsed_since() {
    awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

# Removes a runtime temp dir, but only one that mktemp made for us.
remove_tmpdir() {
    local d=$1
    [[ -n $d && -d $d && $d == "${TMPDIR:-/tmp}"/cairn-* ]] && rm -rf -- "$d"
    return 0
}
