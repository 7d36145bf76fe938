#!/usr/bin/env bash
# deploy/demo.sh [--keep] — the main job. Brings up the local cluster
# (Kafka, Redis, three cairnd, two cairn-timers, a demo worker), publishes
# the demo workflow definitions, runs the demo workflows and prints each
# outcome. With --keep (make run) the cluster stays up until Ctrl-C; without
# (make demo) it is torn down and the last line is
#   demo: N/N workflows completed
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

keep=0
[[ ${1:-} == --keep ]] && keep=1
CAIRN=$CAIRN_ROOT/build/bin/cairn
LOG=$CAIRN_RUN/demo.log
mkdir -p "$CAIRN_RUN"
: >"$LOG"

down() {
    "$CAIRN_ROOT/deploy/cluster.sh" down >>"$LOG" 2>&1 || true
}

trap 'echo; echo "demo: stopping the cluster"; down; exit 130' INT TERM
"$CAIRN_ROOT/deploy/cluster.sh" up --nodes 3 --timers 2 --workers 1
eval "$("$CAIRN_ROOT/deploy/cluster.sh" env)"

"$CAIRN" definitions put "$CAIRN_ROOT"/examples/demo/*.json

run_id=$(date +%s)
ids=()
types=()
for t in order onboarding greeting order onboarding greeting; do
    id="demo-$t-$run_id-${#ids[@]}"
    input=$(printf '{"customer":"c-%d","amount":%d,"sku":"sku-%d"}' \
        "${#ids[@]}" $((10 * (${#ids[@]} + 1))) "${#ids[@]}")
    "$CAIRN" start "$t" --id "$id" --input "$input" >/dev/null
    ids+=("$id")
    types+=("$t")
done
echo "demo: started ${#ids[@]} workflows"

completed=0
for i in "${!ids[@]}"; do
    id=${ids[$i]}
    if out=$("$CAIRN" await "$id" --timeout 60 2>&1); then
        completed=$((completed + 1))
        echo "demo: ${types[$i]} $id completed"
    else
        echo "demo: ${types[$i]} $id NOT completed: $out"
    fi
done

echo
echo "demo: history of ${ids[0]}:"
"$CAIRN" history "${ids[0]}" || true
echo

if ((keep)); then
    echo "demo: the cluster is up. Try, in another shell:"
    echo "  eval \"\$(deploy/cluster.sh env)\""
    echo "  build/bin/cairn start order --id my-order --input '{\"amount\":5}'"
    echo "  build/bin/cairn describe my-order; build/bin/cairn history my-order"
    echo "demo: ${completed}/${#ids[@]} workflows completed; press Ctrl-C to stop"
    while true; do sleep 3600; done
fi
down
echo "demo: ${completed}/${#ids[@]} workflows completed"
((completed == ${#ids[@]}))
