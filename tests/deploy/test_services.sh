#!/usr/bin/env bash
# tests/deploy/test_services.sh — deploy/kafka.sh and deploy/redis.sh against
# real servers: start/stop idempotence, a transactional produce and a
# read_committed consume, Redis flushall/restart. With --cluster it also runs
# a 3-node cluster and kills/restarts a node.
#
# Uses its own instance names and ports (Kafka 19192, Redis 16479; override
# with CAIRN_TEST_KAFKA_PORT / CAIRN_TEST_REDIS_PORT) so it never touches the
# default instances other work may be using. Leaves no process behind.
# Last line: "services: N passed, M failed"; exit 1 if M > 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KAFKA=$ROOT/deploy/kafka.sh
REDIS=$ROOT/deploy/redis.sh
PY=/usr/bin/python3
KNAME=svc-test
KPORT=${CAIRN_TEST_KAFKA_PORT:-19192}
RNAME=svc-test
RPORT=${CAIRN_TEST_REDIS_PORT:-16479}
CNAME=svc-test-cluster
CPORT=${CAIRN_TEST_CLUSTER_PORT:-29192}
CLUSTER=0
[[ ${1:-} == --cluster ]] && CLUSTER=1

PASSED=0 FAILED=0
LOG=$(mktemp)
cleanup() {
    "$KAFKA" stop --name "$KNAME" >/dev/null 2>&1 || true
    "$KAFKA" stop --name "$CNAME" >/dev/null 2>&1 || true
    "$REDIS" stop --name "$RNAME" >/dev/null 2>&1 || true
    rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}
not_ok() {
    FAILED=$((FAILED + 1))
    echo "FAIL - $1"
    sed 's/^/    | /' "$LOG"
}

# check DESC CMD... — passes if CMD exits 0.
check() {
    local desc=$1
    shift
    if "$@" >"$LOG" 2>&1; then ok "$desc"; else not_ok "$desc"; fi
}

# expect DESC STATUS REGEX CMD... — passes if CMD exits STATUS and its output
# (stdout+stderr) matches the extended REGEX.
expect() {
    local desc=$1 want=$2 re=$3 rc=0
    shift 3
    "$@" >"$LOG" 2>&1 || rc=$?
    if [[ $rc == "$want" ]] && grep -Eq -- "$re" "$LOG"; then
        ok "$desc"
    else
        echo "    (exit $rc, wanted $want; output should match /$re/)" >>"$LOG"
        not_ok "$desc"
    fi
}

# kafka_roundtrip BOOTSTRAP RF TOPIC — creates TOPIC (3 partitions) unless it
# exists, produces records in an aborted and then a committed transaction,
# consumes this run's records read_committed in a new group and commits.
kafka_roundtrip() {
    "$PY" - "$@" <<'EOF'
import sys, time, uuid
from confluent_kafka import Producer, Consumer, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, rf, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3]
run = uuid.uuid4().hex[:8].encode()
n, t = 20, 60
admin = AdminClient({"bootstrap.servers": bootstrap})
if topic not in admin.list_topics(timeout=t).topics:
    for f in admin.create_topics([NewTopic(topic, 3, rf)]).values():
        f.result(t)
    print("created", topic)

p = Producer({"bootstrap.servers": bootstrap, "transactional.id": topic + "-" + run.decode(),
              "enable.idempotence": True, "acks": "all"})
p.init_transactions(t)
p.begin_transaction()
for i in range(5):
    p.produce(topic, key=b"k%d" % i, value=run + b":aborted")
p.abort_transaction(t)
p.begin_transaction()
for i in range(n):
    p.produce(topic, key=b"k%d" % i, value=run + b":v%d" % i)
p.commit_transaction(t)
print("committed", n)

c = Consumer({"bootstrap.servers": bootstrap, "group.id": topic + "-" + run.decode(),
              "auto.offset.reset": "earliest", "enable.auto.commit": False,
              "isolation.level": "read_committed", "session.timeout.ms": 6000})
c.subscribe([topic])
got, deadline = [], time.time() + t
while len(got) < n and time.time() < deadline:
    m = c.poll(0.5)
    if m is None:
        continue
    if m.error():
        raise KafkaException(m.error())
    if m.value().startswith(run + b":"):
        got.append(m.value())
c.commit(asynchronous=False)
c.close()
assert run + b":aborted" not in got, "read_committed returned aborted records"
assert sorted(got) == sorted(run + b":v%d" % i for i in range(n)), got
print("consumed", len(got))
EOF
}

# Producing to a topic that does not exist must not create it.
kafka_no_autocreate() {
    "$PY" - "$1" <<'EOF'
import sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
b = sys.argv[1]
p = Producer({"bootstrap.servers": b, "message.timeout.ms": 3000})
p.produce("svc-test-missing", b"x")
p.flush(5)
md = AdminClient({"bootstrap.servers": b}).list_topics(timeout=10)
assert "svc-test-missing" not in md.topics, "topic was auto-created"
print("not auto-created")
EOF
}

redis_no_persistence() {
    [[ $(redis-cli -h 127.0.0.1 -p "$RPORT" config get save | sed -n 2p) == "" ]] &&
        [[ $(redis-cli -h 127.0.0.1 -p "$RPORT" config get appendonly | sed -n 2p) == no ]]
}
redis_set() { redis-cli -h 127.0.0.1 -p "$RPORT" set svc-test-key 1; }
redis_dbsize_is() { [[ $(redis-cli -h 127.0.0.1 -p "$RPORT" dbsize) == "$1" ]]; }

tmpdir_of() { cat "$ROOT/deploy/.run/$1/dir"; }

if ! "$PY" -c 'import confluent_kafka' 2>/dev/null; then
    echo "services: needs $PY with confluent_kafka (run deploy/deps.sh)"
    echo "services: 0 passed, 1 failed"
    exit 1
fi

# ---- Kafka, one node -----------------------------------------------------
"$KAFKA" stop --name "$KNAME" >/dev/null 2>&1 || true
expect "kafka: stopped instance reports not running" 3 "not running" \
    "$KAFKA" status --name "$KNAME"
expect "kafka: start" 0 "ready at 127.0.0.1:$KPORT in" \
    "$KAFKA" start --name "$KNAME" --port "$KPORT"
expect "kafka: start twice" 0 "already running at 127.0.0.1:$KPORT" \
    "$KAFKA" start --name "$KNAME" --port "$KPORT"
expect "kafka: status" 0 "running at 127.0.0.1:$KPORT" "$KAFKA" status --name "$KNAME"
expect "kafka: bootstrap" 0 "^127.0.0.1:$KPORT\$" "$KAFKA" bootstrap --name "$KNAME"
check "kafka: transactional produce, read_committed consume" \
    kafka_roundtrip "127.0.0.1:$KPORT" 1 svc-test
check "kafka: no topic auto-creation" kafka_no_autocreate "127.0.0.1:$KPORT"
KDIR=$(tmpdir_of "kafka-$KNAME" 2>/dev/null || echo /nonexistent)
expect "kafka: stop" 0 "stopped" "$KAFKA" stop --name "$KNAME"
check "kafka: stop removed the data folder" test ! -e "$KDIR"
check "kafka: broker port closed" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$KPORT) 2>/dev/null"
expect "kafka: stop twice" 0 "not running" "$KAFKA" stop --name "$KNAME"

# ---- Redis ---------------------------------------------------------------
"$REDIS" stop --name "$RNAME" >/dev/null 2>&1 || true
expect "redis: start" 0 "ready at redis://127.0.0.1:$RPORT" \
    "$REDIS" start --name "$RNAME" --port "$RPORT"
expect "redis: start twice" 0 "already running at redis://127.0.0.1:$RPORT" \
    "$REDIS" start --name "$RNAME" --port "$RPORT"
expect "redis: status" 0 "running at redis://127.0.0.1:$RPORT" "$REDIS" status --name "$RNAME"
check "redis: no persistence" redis_no_persistence
check "redis: write" redis_set
expect "redis: flushall" 0 "flushed" "$REDIS" flushall --name "$RNAME"
check "redis: empty after flushall" redis_dbsize_is 0
check "redis: write again" redis_set
expect "redis: restart" 0 "ready at redis://127.0.0.1:$RPORT" "$REDIS" restart --name "$RNAME" --port "$RPORT"
check "redis: empty after restart" redis_dbsize_is 0
RDIR=$(tmpdir_of "redis-$RNAME" 2>/dev/null || echo /nonexistent)
expect "redis: stop" 0 "stopped" "$REDIS" stop --name "$RNAME"
check "redis: stop removed its folder" test ! -e "$RDIR"
expect "redis: stop twice" 0 "not running" "$REDIS" stop --name "$RNAME"

# ---- Kafka, three nodes (--cluster) --------------------------------------
if ((CLUSTER)); then
    CBS="127.0.0.1:$CPORT,127.0.0.1:$((CPORT + 2)),127.0.0.1:$((CPORT + 4))"
    expect "cluster: start" 0 "ready at $CBS in" \
        "$KAFKA" start --nodes 3 --name "$CNAME" --port "$CPORT"
    check "cluster: produce and consume, RF 3" kafka_roundtrip "$CBS" 3 svc-test
    expect "cluster: kill node 2" 0 "node 2 killed" "$KAFKA" kill-node 2 --name "$CNAME"
    expect "cluster: degraded status" 1 "down 2" "$KAFKA" status --name "$CNAME"
    check "cluster: produce and consume with a node down" kafka_roundtrip "$CBS" 3 svc-test
    expect "cluster: restart node 2" 0 "node 2 ready" "$KAFKA" start-node 2 --name "$CNAME"
    expect "cluster: status" 0 "running at $CBS" "$KAFKA" status --name "$CNAME"
    expect "cluster: stop" 0 "stopped" "$KAFKA" stop --name "$CNAME"
    expect "cluster: stop twice" 0 "not running" "$KAFKA" stop --name "$CNAME"
fi

echo "services: $PASSED passed, $FAILED failed"
((FAILED == 0))
