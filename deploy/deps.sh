#!/usr/bin/env bash
# deploy/deps.sh — install what Cairn needs to build and test (`make deps`).
#
#   deploy/deps.sh           install missing Debian packages, fetch Kafka
#   deploy/deps.sh --check   exit 0 if everything is present, else list the
#                            missing pieces and exit 1 (changes nothing)
#   deploy/deps.sh --kafka   only fetch Kafka (no apt; used by kafka.sh)
#
# Idempotent and silent when nothing is missing; prints one line per thing it
# installs or fetches. Kafka $KAFKA_VERSION comes from Maven Central as jars
# (deploy/kafka/pom.xml) into $CAIRN_CACHE (default <repo>/.cache, git-ignored);
# a marker file is written last so an interrupted download is retried.
set -euo pipefail

# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(
    # build
    build-essential pkg-config librdkafka-dev libhiredis-dev libavro-dev
    libjansson-dev libmicrohttpd-dev libjemalloc-dev libcmocka-dev clang
    libclang-rt-14-dev
    # services and tests
    redis-server redis-tools python3-pytest python3-confluent-kafka
    python3-avro python3-redis python3-yaml docker-compose
    openjdk-17-jre-headless maven curl procps iproute2
)

usage() {
    sed -n '2,12s/^# \{0,1\}//p' "$0"
    exit "${1:-0}"
}

mode=install
case ${1:-} in
    "") ;;
    --check) mode=check ;;
    --kafka) mode=kafka ;;
    -h | --help) usage 0 ;;
    *) usage 2 >&2 ;;
esac

missing_packages() {
    local p status
    for p in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
        [[ $status == ii* ]] || echo "$p"
    done
}

kafka_present() {
    [[ -f $KAFKA_MARKER ]] && compgen -G "$KAFKA_HOME/libs/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null
}

install_packages() {
    local -a missing
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]})) || return 0
    local -a sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "deps: need root or sudo to install: ${missing[*]}"
        sudo=(sudo)
    fi
    local log
    log=$(mktemp)
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 ||
        ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -f "$log"
        die "deps: apt-get failed installing: ${missing[*]}"
    fi
    rm -f "$log"
    local p
    for p in "${missing[@]}"; do
        echo "deps: installed $p"
    done
}

fetch_kafka() {
    kafka_present && return 0
    command -v mvn >/dev/null || die "deps: mvn not found (apt-get install maven, or run deploy/deps.sh)"
    command -v java >/dev/null || die "deps: java not found (apt-get install openjdk-17-jre-headless)"
    mkdir -p "$CAIRN_CACHE"
    local tmp log
    tmp=$KAFKA_HOME.partial
    log=$CAIRN_CACHE/kafka-fetch.log
    rm -rf -- "$tmp"
    if ! mvn -q -B -Dstyle.color=never -f "$CAIRN_ROOT/deploy/kafka/pom.xml" \
        dependency:copy-dependencies -DoutputDirectory="$tmp/libs" \
        -DincludeScope=runtime >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -rf -- "$tmp"
        die "deps: fetching Kafka $KAFKA_VERSION with Maven failed (log: $log)"
    fi
    [[ -f $tmp/libs/kafka_2.13-$KAFKA_VERSION.jar ]] ||
        die "deps: Maven did not produce kafka_2.13-$KAFKA_VERSION.jar (log: $log)"
    rm -rf -- "$KAFKA_HOME"
    mv -- "$tmp" "$KAFKA_HOME"
    rm -f -- "$log"
    date -u +%Y-%m-%dT%H:%M:%SZ >"$KAFKA_MARKER"
    echo "deps: fetched Apache Kafka $KAFKA_VERSION ($(find "$KAFKA_HOME/libs" -name '*.jar' | wc -l) jars) into $KAFKA_HOME"
}

case $mode in
    check)
        rc=0
        mapfile -t missing < <(missing_packages)
        if ((${#missing[@]})); then
            echo "deps: missing packages: ${missing[*]}"
            rc=1
        fi
        if ! kafka_present; then
            echo "deps: missing Apache Kafka $KAFKA_VERSION in $KAFKA_HOME"
            rc=1
        fi
        exit "$rc"
        ;;
    kafka)
        fetch_kafka
        ;;
    install)
        install_packages
        fetch_kafka
        ;;
esac
