#!/usr/bin/env bash
# deploy/kafka.sh — real Apache Kafka (KRaft) brokers on 127.0.0.1.
#
#   deploy/kafka.sh start     [--nodes 1|3] [--name NAME] [--port PORT]
#   deploy/kafka.sh stop      [--name NAME]
#   deploy/kafka.sh status    [--name NAME]    exit 0 up, 1 degraded, 3 down
#   deploy/kafka.sh bootstrap [--name NAME]    prints host:port[,host:port...]
#   deploy/kafka.sh kill-node N [--name NAME]  SIGKILL one node (failure tests)
#   deploy/kafka.sh start-node N [--name NAME] restart a killed node
#
# Names: "single" (1 node, broker 127.0.0.1:19092, controller 19093) and
# "cluster" (3 nodes, brokers 29092/29094/29096, controllers 29093/29095/29097)
# are the defaults for --nodes 1 and 3; --name cluster implies --nodes 3.
# --port sets the first broker port (controllers at +1, next node at +2);
# CAIRN_KAFKA_PORT does the same for one-node instances.
#
# Each instance lives in a fresh mktemp -d folder (configs, data, logs, pids)
# recorded in deploy/.run/kafka-NAME/; stop deletes it (CAIRN_KEEP_LOGS=1
# keeps the logs). Environment: CAIRN_KAFKA_HEAP, CAIRN_KAFKA_JVM_OPTS,
# CAIRN_KAFKA_PROPS (extra server.properties lines, e.g. "a=1 b=2"),
# CAIRN_KAFKA_START_TIMEOUT (s, default 60).
set -euo pipefail

# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START_TIMEOUT=${CAIRN_KAFKA_START_TIMEOUT:-60}
STOP_TIMEOUT=${CAIRN_KAFKA_STOP_TIMEOUT:-30}
# Measured on 2 cores (JVM launch to a served Metadata request, one broker,
# idle machine): Kafka's G1 flags 3.1-3.4 s; serial GC 3.1 s; serial GC + a
# class-data-sharing archive 2.1 s. C1-only JIT (-XX:TieredStopAtLevel=1)
# gains nothing for one idle broker but 2-3 s for three JVMs sharing 2 busy
# cores, so the cluster uses it; the single broker keeps C2 for throughput.
DEFAULT_JVM_OPTS="-XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true"
CLUSTER_JVM_OPTS="$DEFAULT_JVM_OPTS -XX:TieredStopAtLevel=1"
# AppCDS: the first broker started without an archive dumps its loaded classes
# at exit (a clean stop); later JVMs map them. CAIRN_KAFKA_CDS=0 disables.
CDS_ARCHIVE=$KAFKA_HOME/cds/kafka.jsa

usage() {
    sed -n '2,22s/^# \{0,1\}//p' "$0"
    exit "${1:-0}"
}

# ---- arguments -------------------------------------------------------------
cmd=${1:-}
[[ -n $cmd ]] || usage 2 >&2
shift
NAME="" NODES="" PORT="" NODE_ARG=""
while (($#)); do
    case $1 in
        --nodes) NODES=${2:?--nodes needs a value}; shift 2 ;;
        --nodes=*) NODES=${1#*=}; shift ;;
        --name) NAME=${2:?--name needs a value}; shift 2 ;;
        --name=*) NAME=${1#*=}; shift ;;
        --port) PORT=${2:?--port needs a value}; shift 2 ;;
        --port=*) PORT=${1#*=}; shift ;;
        -h | --help) usage 0 ;;
        [0-9]*) NODE_ARG=$1; shift ;;
        *) echo "kafka.sh: unknown argument: $1" >&2; usage 2 >&2 ;;
    esac
done
[[ -z $NODES || $NODES == 1 || $NODES == 3 ]] || die "kafka.sh: --nodes must be 1 or 3"
[[ -z $NAME || $NAME =~ ^[A-Za-z0-9_.-]+$ ]] || die "kafka.sh: bad --name: $NAME"
if [[ -z $NAME ]]; then
    [[ ${NODES:-1} == 3 ]] && NAME=cluster || NAME=single
fi

REC=$CAIRN_RUN/kafka-$NAME
TAG="kafka($NAME)"

# Shape of an instance not yet recorded: nodes, first broker port.
shape_defaults() {
    if [[ -z $NODES ]]; then
        [[ $NAME == cluster ]] && NODES=3 || NODES=1
    fi
    if [[ -z $PORT ]]; then
        if ((NODES == 1)); then PORT=${CAIRN_KAFKA_PORT:-19092}; else PORT=29092; fi
    fi
    if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65530)); then
        die "kafka.sh: bad port: $PORT"
    fi
}

broker_port() { echo $((PORT + 2 * ($1 - 1))); }
controller_port() { echo $((PORT + 2 * ($1 - 1) + 1)); }

bootstrap_of() {
    local i out=""
    for ((i = 1; i <= NODES; i++)); do
        out+="${out:+,}127.0.0.1:$(broker_port "$i")"
    done
    echo "$out"
}

# Loads the record of a started instance into DIR NODES PORT BOOTSTRAP.
# Returns 1 if there is none.
load_record() {
    [[ -f $REC/dir && -f $REC/nodes && -f $REC/port ]] || return 1
    DIR=$(<"$REC/dir")
    NODES=$(<"$REC/nodes")
    PORT=$(<"$REC/port")
    BOOTSTRAP=$(bootstrap_of)
}

node_pid() { pidfile_alive "$DIR/node$1/pid"; }

# Lists node numbers that are up / down.
nodes_up() {
    local i
    for ((i = 1; i <= NODES; i++)); do node_pid "$i" >/dev/null && echo "$i"; done
    return 0
}
nodes_down() {
    local i
    for ((i = 1; i <= NODES; i++)); do node_pid "$i" >/dev/null || echo "$i"; done
    return 0
}

forget_instance() {
    if [[ -n ${DIR:-} ]]; then
        if [[ -n ${CAIRN_KEEP_LOGS:-} ]]; then
            rm -rf -- "$DIR"/node*/data
            echo "$TAG: logs kept in $DIR"
        else
            remove_tmpdir "$DIR"
        fi
    fi
    rm -rf -- "$REC"
}

ensure_kafka() {
    if [[ ! -f $KAFKA_MARKER ]]; then
        echo "$TAG: Kafka $KAFKA_VERSION not in $KAFKA_HOME; fetching it"
        "$CAIRN_ROOT/deploy/deps.sh" --kafka
    fi
    command -v java >/dev/null || die "$TAG: java not found; run deploy/deps.sh"
    cds_init
}

# Prints the -XX option that maps the CDS archive, if there is a valid one.
# A damaged or stale archive (other JVM build, other jars) crashes the JVM
# even with -Xshare:auto, so it is checked with -Xshare:on first.
CDS_STATE=none
cds_init() {
    CDS_STATE=none
    if [[ ${CAIRN_KAFKA_CDS:-1} != 0 && -s $CDS_ARCHIVE ]]; then
        if java -Xshare:on -XX:SharedArchiveFile="$CDS_ARCHIVE" -cp "$KAFKA_HOME/libs/*" \
            -version >/dev/null 2>&1; then
            CDS_STATE=ok
        else
            rm -f -- "$CDS_ARCHIVE"
        fi
    fi
}
cds_opt() {
    if [[ $CDS_STATE == ok ]]; then echo "-XX:SharedArchiveFile=$CDS_ARCHIVE"; fi
}

# After node N exited cleanly: install the archive it dumped, once checked.
cds_collect() {
    local f=$DIR/node$1/kafka.jsa tmp
    [[ -s $f ]] || return 0
    if [[ ! -s $CDS_ARCHIVE ]] &&
        java -Xshare:on -XX:SharedArchiveFile="$f" -cp "$KAFKA_HOME/libs/*" -version >/dev/null 2>&1; then
        mkdir -p "$(dirname "$CDS_ARCHIVE")"
        tmp=$CDS_ARCHIVE.$$.tmp
        cp -- "$f" "$tmp" && mv -f -- "$tmp" "$CDS_ARCHIVE"
    fi
    rm -f -- "$f"
}

java_opts() {
    local heap opts
    if ((NODES == 1)); then
        heap="-Xmx512m -Xms256m" opts=$DEFAULT_JVM_OPTS
    else
        heap="-Xmx384m -Xms192m" opts=$CLUSTER_JVM_OPTS
    fi
    # shellcheck disable=SC2206 # word splitting of option strings is intended
    JAVA_OPTS=(${CAIRN_KAFKA_HEAP:-$heap} ${CAIRN_KAFKA_JVM_OPTS:-$opts})
    local cds
    cds=$(cds_opt)
    if [[ -n $cds ]]; then
        JAVA_OPTS+=("$cds")
    elif [[ ${CAIRN_KAFKA_CDS:-1} != 0 && $1 == 1 ]]; then
        JAVA_OPTS+=("-XX:ArchiveClassesAtExit=$DIR/node1/kafka.jsa")
    fi
}

write_configs() {
    local i voters="" rf isr
    for ((i = 1; i <= NODES; i++)); do
        voters+="${voters:+,}$i@127.0.0.1:$(controller_port "$i")"
    done
    if ((NODES == 1)); then rf=1 isr=1; else rf=3 isr=2; fi
    cat >"$DIR/log4j.properties" <<EOF
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.server.ControllerServer=INFO
log4j.logger.kafka.Kafka\$=INFO
# one summary per compaction pass (when, which log, how long; the cleaner
# competes with the request threads for CPU and disk) and a line per segment roll
log4j.logger.kafka.log.LogCleaner=INFO
log4j.logger.kafka.log.LocalLog=INFO
EOF
    for ((i = 1; i <= NODES; i++)); do
        mkdir -p "$DIR/node$i/data"
        {
            cat <<EOF
# generated by deploy/kafka.sh for $TAG node $i
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$i"),CONTROLLER://127.0.0.1:$(controller_port "$i")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$i")
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/node$i/data
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.num.partitions=8
offsets.topic.replication.factor=$rf
transaction.state.log.num.partitions=8
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.max.timeout.ms=900000
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
log.cleaner.dedupe.buffer.size=16777216
EOF
            if ((NODES > 1)); then
                # a killed node is fenced (its partitions move) after 6 s, not 9
                echo "broker.heartbeat.interval.ms=1000"
                echo "broker.session.timeout.ms=6000"
            fi
            local kv
            for kv in ${CAIRN_KAFKA_PROPS:-}; do echo "$kv"; done
        } >"$DIR/node$i/server.properties"
    done
}

random_cluster_id() {
    # Kafka's Uuid: 16 random bytes, URL-safe base64 without padding, and
    # (like Uuid.randomUuid) never starting with '-'.
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        [[ $id != -* ]] && break
    done
    echo "$id"
}

format_storage() {
    local id i pids=() rc=0
    local -a cds=()
    id=$(random_cluster_id)
    mapfile -t cds < <(cds_opt)
    for ((i = 1; i <= NODES; i++)); do
        java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "${cds[@]}" \
            -Dlog4j.configuration="file:$DIR/log4j.properties" \
            -cp "$KAFKA_HOME/libs/*" kafka.tools.StorageTool format -t "$id" \
            -c "$DIR/node$i/server.properties" >"$DIR/node$i/format.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        if ! wait "${pids[$i]}"; then
            rc=1
            echo "$TAG: formatting node $((i + 1)) failed:" >&2
            tail -n 20 "$DIR/node$((i + 1))/format.log" >&2
        fi
    done
    return "$rc"
}

launch_node() {
    local i=$1
    java_opts "$i"
    # setsid: the broker is a daemon, not part of the caller's job.
    # The GC log (pauses with wall-clock times) next to broker.log: a
    # stop-the-world pause stalls every client of the broker at once.
    setsid java "${JAVA_OPTS[@]}" \
        "-Xlog:gc:file=$DIR/node$i/gc.log:time,uptime:filecount=2,filesize=8m" \
        -Dlog4j.configuration="file:$DIR/log4j.properties" \
        -Dkafka.logs.dir="$DIR/node$i" \
        -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$DIR/node$i/server.properties" \
        >>"$DIR/node$i/broker.log" 2>&1 </dev/null &
    echo $! >"$DIR/node$i/pid"
}

# The metadata probe: succeeds once the brokers answer a Metadata request that
# lists every wanted broker id (registered and unfenced). Fails fast if one of
# the JVMs dies. Exit 0 ready, 1 timeout, 2 a process died. With "fresh", each
# attempt uses a new client bootstrapped from the given brokers only, so the
# answer comes from one of them (a restarted node, not its peers that may not
# have noticed it died).
PROBE_PY='
import os, sys, time
mode, bootstrap, want, timeout = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3].split(",")], float(sys.argv[4])
pids = [int(p) for p in sys.argv[5:]]
from confluent_kafka.admin import AdminClient
conf = {"bootstrap.servers": bootstrap, "log_level": 0, "logger": lambda *a: None,
        "socket.connection.setup.timeout.ms": 1000, "reconnect.backoff.max.ms": 200}
admin = AdminClient(conf)
deadline = time.monotonic() + timeout
def dead():
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return p
        except OSError:
            return p
    return None
while True:
    p = dead()
    if p:
        sys.stderr.write("process %d exited\n" % p); sys.exit(2)
    left = deadline - time.monotonic()
    if left <= 0:
        sys.exit(1)
    try:
        if mode == "fresh":
            admin = AdminClient(conf)
        md = admin.list_topics(timeout=min(1.0, left))
        if all(b in md.brokers for b in want):
            sys.exit(0)
    except Exception:
        time.sleep(0.1)
'

have_probe() {
    [[ -x $SYS_PYTHON ]] && "$SYS_PYTHON" -c 'import confluent_kafka' 2>/dev/null
}

# wait_ready MODE TIMEOUT NODE... — waits until those nodes serve metadata.
# MODE all: ask any broker; fresh: ask only those nodes (see PROBE_PY).
wait_ready() {
    local mode=$1 timeout=$2 i want="" bs=$BOOTSTRAP pids=()
    shift 2
    for i in "$@"; do
        want+="${want:+,}$i"
        pids+=("$(<"$DIR/node$i/pid")")
    done
    if [[ $mode == fresh ]]; then
        bs=""
        for i in "$@"; do bs+="${bs:+,}127.0.0.1:$(broker_port "$i")"; done
    fi
    if have_probe; then
        "$SYS_PYTHON" -c "$PROBE_PY" "$mode" "$bs" "$want" "$timeout" "${pids[@]}"
        return
    fi
    # Fallback without confluent_kafka: processes alive and ports accepting.
    local deadline=$((SECONDS + timeout)) ok
    while ((SECONDS < deadline)); do
        ok=1
        for i in "$@"; do
            node_pid "$i" >/dev/null || return 2
            tcp_open "$(broker_port "$i")" || ok=0
        done
        ((ok)) && { sleep 1; return 0; }
        sleep 0.2
    done
    return 1
}

show_logs() {
    local i
    for i in "$@"; do
        echo "---- $TAG node $i: tail of $DIR/node$i/broker.log" >&2
        tail -n 40 "$DIR/node$i/broker.log" >&2 2>/dev/null || true
    done
}

kill_nodes() {
    local i pids=()
    for i in "$@"; do
        pids+=("$(node_pid "$i" || true)")
    done
    stop_pids "$STOP_TIMEOUT" "${pids[@]}"
    for i in "$@"; do cds_collect "$i"; done
}

check_ports_free() {
    local i p
    for i in "$@"; do
        for p in "$(broker_port "$i")" "$(controller_port "$i")"; do
            if port_listening "$p"; then
                die "$TAG: port $p is already in use ($(port_owner "$p")); stop that or pick another --port"
            fi
        done
    done
}

# ---- commands --------------------------------------------------------------
cmd_start() {
    local t0 rc i
    t0=$(date +%s.%N)
    if load_record; then
        local -a up down
        mapfile -t up < <(nodes_up)
        mapfile -t down < <(nodes_down)
        if ((${#down[@]} == 0)); then
            echo "$TAG: already running at $BOOTSTRAP"
            return 0
        fi
        if ((${#up[@]} > 0)); then
            echo "$TAG: nodes ${down[*]} down; restarting them"
            for i in "${down[@]}"; do cmd_start_node "$i"; done
            return 0
        fi
        echo "$TAG: removing stale state of a dead instance"
        forget_instance
    fi
    [[ -e $REC ]] && forget_instance
    shape_defaults
    BOOTSTRAP=$(bootstrap_of)
    ensure_kafka
    local all=()
    for ((i = 1; i <= NODES; i++)); do all+=("$i"); done
    check_ports_free "${all[@]}"

    mkdir -p "$REC"
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/cairn-kafka-$NAME.XXXXXX")
    echo "$DIR" >"$REC/dir"
    echo "$NODES" >"$REC/nodes"
    echo "$PORT" >"$REC/port"
    echo "$BOOTSTRAP" >"$REC/bootstrap"
    ln -sfn "$DIR" "$REC/runtime"

    write_configs
    if ! format_storage; then
        forget_instance
        exit 1
    fi
    for i in "${all[@]}"; do launch_node "$i"; done
    rc=0
    wait_ready all "$START_TIMEOUT" "${all[@]}" || rc=$?
    if ((rc != 0)); then
        if ((rc == 1)); then
            echo "$TAG: not ready after ${START_TIMEOUT}s" >&2
        else
            echo "$TAG: a broker exited during start" >&2
        fi
        show_logs "${all[@]}"
        kill_nodes "${all[@]}"
        forget_instance
        exit 1
    fi
    echo "$TAG: ready at $BOOTSTRAP in $(elapsed_since "$t0") s"
}

cmd_stop() {
    local t0
    t0=$(date +%s.%N)
    if ! load_record; then
        [[ -e $REC ]] && rm -rf -- "$REC"
        echo "$TAG: not running"
        return 0
    fi
    local -a up
    mapfile -t up < <(nodes_up)
    if ((${#up[@]} == 0)); then
        forget_instance
        echo "$TAG: not running"
        return 0
    fi
    kill_nodes "${up[@]}"
    forget_instance
    echo "$TAG: stopped in $(elapsed_since "$t0") s"
}

cmd_status() {
    if ! load_record; then
        echo "$TAG: not running"
        return 3
    fi
    local -a up down pids=()
    local i
    mapfile -t up < <(nodes_up)
    mapfile -t down < <(nodes_down)
    for i in "${up[@]}"; do pids+=("$(node_pid "$i")"); done
    if ((${#up[@]} == 0)); then
        echo "$TAG: not running (stale record; stop or start cleans it)"
        return 3
    fi
    if ((${#down[@]} > 0)); then
        echo "$TAG: degraded at $BOOTSTRAP: nodes up ${up[*]}, down ${down[*]} (dir $DIR)"
        return 1
    fi
    echo "$TAG: running at $BOOTSTRAP ($NODES node$( ((NODES > 1)) && echo s), pid ${pids[*]}, dir $DIR)"
}

cmd_bootstrap() {
    if load_record; then
        echo "$BOOTSTRAP"
    else
        shape_defaults
        bootstrap_of
    fi
}

node_arg() {
    [[ -n $NODE_ARG ]] || die "kafka.sh: $cmd needs a node number"
    load_record || die "$TAG: not running"
    ((NODE_ARG >= 1 && NODE_ARG <= NODES)) || die "$TAG: no node $NODE_ARG (nodes 1..$NODES)"
}

cmd_kill_node() {
    node_arg
    local pid
    if ! pid=$(node_pid "$NODE_ARG"); then
        echo "$TAG: node $NODE_ARG not running"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        pid_alive "$pid" || break
        sleep 0.05
    done
    echo "$TAG: node $NODE_ARG killed (pid $pid)"
}

cmd_start_node() {
    local n=${1:-$NODE_ARG} t0 rc=0
    NODE_ARG=$n
    node_arg
    t0=$(date +%s.%N)
    if node_pid "$n" >/dev/null; then
        echo "$TAG: node $n already running"
        return 0
    fi
    ensure_kafka
    check_ports_free "$n"
    echo "---- restarted by deploy/kafka.sh at $(date -u +%FT%TZ)" >>"$DIR/node$n/broker.log"
    launch_node "$n"
    wait_ready fresh "$START_TIMEOUT" "$n" || rc=$?
    if ((rc != 0)); then
        echo "$TAG: node $n did not come back" >&2
        show_logs "$n"
        kill_nodes "$n"
        exit 1
    fi
    echo "$TAG: node $n ready at 127.0.0.1:$(broker_port "$n") in $(elapsed_since "$t0") s"
}

case $cmd in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    bootstrap) cmd_bootstrap ;;
    kill-node) cmd_kill_node ;;
    start-node) cmd_start_node ;;
    -h | --help | help) usage 0 ;;
    *) echo "kafka.sh: unknown command: $cmd" >&2; usage 2 >&2 ;;
esac
