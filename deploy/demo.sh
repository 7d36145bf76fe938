#!/usr/bin/env bash
# deploy/demo.sh [--keep] — the main job. Brings up the local cluster
# (Kafka, Redis, three cairnd, two cairn-timers, a demo worker), publishes
# the demo workflow definitions, runs the demo workflows and prints each
# outcome. Then the workflow examples (examples/order-saga,
# examples/approval), published both from JSON and from C: orders with and
# without a human approval (a signal), approvals decided at once and after
# an escalation (a durable timer); a second demo worker serves the
# "payments" queue. With --keep (make run) the cluster stays up until Ctrl-C; without
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

payments_pid=
down() {
    if [[ -n $payments_pid ]]; then
        kill -TERM "$payments_pid" 2>/dev/null || true
        wait "$payments_pid" 2>/dev/null || true
        payments_pid=
    fi
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

# ---- the workflow examples: the same definitions from JSON and from C ----
BIN=$CAIRN_ROOT/build/bin
"$CAIRN" definitions put "$CAIRN_ROOT"/examples/order-saga/order-saga.json \
    "$CAIRN_ROOT"/examples/approval/approval.json
"$BIN/cairn-example-order-saga" # order-saga@1 built in C: the same body, a no-op
"$BIN/cairn-example-approval" --version 2 --timeout-ms 2000 # escalates after 2 s
CAIRN_NODE_ID=demo-payments "$BIN/cairn-worker-demo" --task-queue payments \
    >>"$CAIRN_RUN/demo-payments.log" 2>&1 &
payments_pid=$!

# Polls until workflow $1 is in FSM state $2 (60 s); 1 if it never is.
wait_state() {
    local deadline=$((SECONDS + 60)) state
    while ((SECONDS < deadline)); do
        state=$("$CAIRN" --output json describe "$1" 2>/dev/null |
            "$SYS_PYTHON" -c 'import json,sys; print(json.load(sys.stdin).get("state",""))' \
                2>/dev/null || true)
        [[ $state == "$2" ]] && return 0
        sleep 0.2
    done
    echo "demo: $1 did not reach state $2 within 60 s"
    return 1
}

example() { # example TYPE VERSION INPUT: starts one, records its id
    local id="demo-$1-v$2-$run_id-${#ids[@]}"
    "$CAIRN" start "$1" --version "$2" --id "$id" --input "$3" >/dev/null
    ids+=("$id")
    types+=("$1@$2")
}
order='{"order_id":"o-%d","amount":%d,"items":["sku-1"],"address":"Oslo"}'
ask='{"approver":"boss","escalate_to":"ceo","subject":"demo"}'
example order-saga 1 "$(printf "$order" 1 20)"   # small: no approval
example order-saga 1 "$(printf "$order" 2 5000)" # large: needs approval
big=${ids[-1]}
example approval 1 "$ask"
ask1=${ids[-1]}
example approval 2 "$ask"
ask2=${ids[-1]}
"$CAIRN" signal "$ask1" approve --payload '{"by":"boss"}' # may arrive early: buffered
if wait_state "$big" approval; then
    "$CAIRN" signal "$big" approve --payload '{"approved":true,"by":"ann"}'
fi
if wait_state "$ask2" escalated; then # nobody answered within 2 s
    "$CAIRN" signal "$ask2" approve --payload '{"by":"ceo"}'
fi
echo "demo: started 4 example workflows (order-saga, approval)"

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
