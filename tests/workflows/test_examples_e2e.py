"""End-to-end runs of examples/order-saga and examples/approval on the real
local cluster (Kafka, Redis, cairnd, cairn-timers, demo workers).

Both front ends publish: the JSON files with `cairn definitions put`, and
the C programs (the builder API) with cairn_client_put_definition(). With
no options the C programs publish the same body as the JSON files (a
no-op); with options they publish version 2 of each type, a test variant
with timeouts of seconds instead of hours and (order-saga) a default task
queue served by a worker that fails on purpose. So version 1 paths run on
definitions from JSON and version 2 paths on definitions built in C, side
by side: instances stay pinned to the version they started on.

Timers (approval timeouts, retry backoff) are durable timers served by
cairn-timers; a test of a timer path that times out points at
deploy/.run/cluster/timers-*.log.
"""
import json
import os
import time

import pytest

from conftest import BIN, LOGS, ROOT, echo_def, heartbeat_def

ORDER_JSON = os.path.join(ROOT, "examples", "order-saga", "order-saga.json")
APPROVAL_JSON = os.path.join(ROOT, "examples", "approval", "approval.json")
SHORT_MS = 3000  # the test variants' timeouts

TIMERS_HINT = ("(timer paths depend on cairn-timers: see "
               "deploy/.run/cluster/timers-*.log)")


def small(order_id):
    return {"order_id": order_id, "amount": 20, "items": ["sku-1"],
            "address": "Oslo"}


def large(order_id):
    return dict(small(order_id), amount=5000)


def events(history, etype, **match):
    return [e for e in history if e["type"] == etype
            and all(e.get(k) == v for k, v in match.items())]


def scheduled_names(history):
    return [e["activity_name"] for e in events(history, "ActivityScheduled")]


def check_compensated_in_reverse(history):
    """release_inventory (undo of reserve) is scheduled and completes
    before refund_card (undo of charge) is scheduled, and both complete."""
    names = scheduled_names(history)
    assert "release_inventory" in names and "refund_card" in names, names
    assert names.index("release_inventory") < names.index("refund_card"), \
        names
    seq = {e["activity_id"]: e["seq"]
           for e in events(history, "ActivityCompleted")}
    sched = {e["activity_id"]: e["seq"]
             for e in events(history, "ActivityScheduled")}
    assert "undo:reserve" in seq and "undo:charge" in seq, seq
    assert seq["undo:reserve"] < sched["undo:charge"] < seq["undo:charge"]


@pytest.fixture(scope="module")
def published(cluster):
    """Publishes both examples from JSON (v1) and from C (v1 again, and the
    v2 test variants)."""
    out = cluster.cairn("definitions", "put", ORDER_JSON, APPROVAL_JSON)
    assert "published order-saga@1" in out.stdout
    assert "published approval@1" in out.stdout
    c_runs = [
        ["cairn-example-order-saga"],
        ["cairn-example-approval"],
        ["cairn-example-order-saga", "--version", "2", "--default-queue",
         "orders-faulty", "--approval-timeout-ms", str(SHORT_MS)],
        ["cairn-example-approval", "--version", "2", "--timeout-ms",
         str(SHORT_MS), "--escalation-timeout-ms", str(SHORT_MS)],
    ]
    printed = []
    for argv in c_runs:
        p = cluster.run([os.path.join(BIN, argv[0]), *argv[1:]])
        printed.append(p.stdout.strip())
    assert printed == ["published order-saga@1", "published approval@1",
                       "published order-saga@2", "published approval@2"]
    return cluster


def test_definitions_listed(published):
    listed = json.loads(published.cairn("--output", "json", "definitions",
                                        "list").stdout)
    have = {(d["type"], d["version"]) for d in listed}
    for key in [("order-saga", 1), ("order-saga", 2), ("approval", 1),
                ("approval", 2)]:
        assert key in have, listed


def test_c_program_refuses_bad_options(published):
    # A version the registry would refuse is caught before Kafka.
    p = published.run([os.path.join(BIN, "cairn-example-order-saga"),
                       "--version", "0"], check=False)
    assert p.returncode == 2, p.stderr


# ---- order-saga ----------------------------------------------------------


def test_order_small_completes(published):
    c = published
    wf = c.unique("order-small")
    c.start("order-saga", wf, small(wf), version=1)
    done = c.await_(wf)
    assert done["status"] == "completed", done
    # The demo worker echoes the idempotency key it was given.
    payment = done["result"]["payment"]
    assert payment["idempotency_key"] == f"{wf}:charge", payment
    h = c.history(wf)
    assert scheduled_names(h) == ["charge_card", "reserve_inventory",
                                  "ship_order"]
    assert events(h, "WorkflowStarted")[0]["version"] == 1


def test_order_large_approved_by_signal(published):
    c = published
    wf = c.unique("order-approved")
    c.start("order-saga", wf, large(wf), version=1)
    c.wait_state(wf, "approval")
    c.signal(wf, "approve", {"approved": True, "by": "ann"})
    done = c.await_(wf)
    assert done["status"] == "completed", done
    h = c.history(wf)
    assert events(h, "SignalReceived", signal_name="approve")
    assert scheduled_names(h)[-1] == "ship_order"


def test_order_rejected_compensates_in_reverse(published):
    c = published
    wf = c.unique("order-rejected")
    c.start("order-saga", wf, large(wf), version=1)
    c.wait_state(wf, "approval")
    c.signal(wf, "approve", {"approved": False, "reason": "too much"})
    done = c.await_(wf)
    assert done["status"] == "failed", done
    h = c.history(wf)
    assert events(h, "WorkflowFailed")[0]["error_type"] == "OrderRolledBack"
    check_compensated_in_reverse(h)
    assert "ship_order" not in scheduled_names(h)


def test_order_canceled_runs_cancel_path(published):
    c = published
    wf = c.unique("order-canceled")
    c.start("order-saga", wf, large(wf), version=1)
    c.wait_state(wf, "approval")
    c.cairn("cancel", wf, "--reason", "customer changed their mind")
    done = c.await_(wf)
    assert done["status"] == "canceled", done
    h = c.history(wf)
    assert events(h, "SignalReceived", signal_name="cairn.cancel")
    check_compensated_in_reverse(h)


def test_order_terminated_without_compensation(published):
    c = published
    wf = c.unique("order-terminated")
    c.start("order-saga", wf, large(wf), version=1)
    c.wait_state(wf, "approval")
    c.cairn("terminate", wf, "--reason", "ops")
    done = c.await_(wf)
    assert done["status"] == "terminated", done
    names = scheduled_names(c.history(wf))
    assert "release_inventory" not in names and "refund_card" not in names


def test_order_approval_timeout_compensates(published):
    """order-saga@2 (built in C): the approval times out after 3 s on a
    durable timer; the saga undoes the reservation, then the payment."""
    c = published
    wf = c.unique("order-timeout")
    c.start("order-saga", wf, large(wf), version=2)
    c.wait_state(wf, "approval")
    done = c.await_(wf, timeout=60)
    assert done["status"] == "failed", f"{done} {TIMERS_HINT}"
    h = c.history(wf)
    assert events(h, "WorkflowStarted")[0]["version"] == 2
    assert events(h, "TimerFired", timer_id="signal:approve"), TIMERS_HINT
    assert events(h, "WorkflowFailed")[0]["error_message"] == \
        '{"type":"ApprovalTimedOut"}'
    check_compensated_in_reverse(h)
    # reserve failed once (--fail reserve_inventory:1) and was retried
    # after a durable backoff timer, with the same idempotency key.
    failed = events(h, "ActivityFailed", activity_id="reserve")
    assert [e["attempt"] for e in failed] == [1], failed
    assert events(h, "TimerFired", timer_id="retry:reserve")
    reserved = events(h, "ActivityCompleted", activity_id="reserve")
    assert reserved[0]["attempt"] == 2
    result = reserved[0]["result"]  # the history embeds JSON results
    if isinstance(result, str):
        result = json.loads(result)
    assert result["idempotency_key"] == f"{wf}:reserve", result


def test_order_ship_failure_compensates(published):
    """order-saga@2: ship_order always fails (--fail): five attempts with
    backoff on durable timers, then the saga in reverse order."""
    c = published
    wf = c.unique("order-shipfail")
    c.start("order-saga", wf, small(wf), version=2)
    done = c.await_(wf, timeout=90)
    assert done["status"] == "failed", f"{done} {TIMERS_HINT}"
    h = c.history(wf)
    failed = events(h, "ActivityFailed", activity_id="ship")
    assert [e["attempt"] for e in failed] == [1, 2, 3, 4, 5], failed
    assert len(events(h, "TimerFired", timer_id="retry:ship")) == 4
    assert events(h, "WorkflowFailed")[0]["error_type"] == "OrderRolledBack"
    check_compensated_in_reverse(h)


def test_versions_pinned(published):
    c = published
    a, b = c.unique("order-v1"), c.unique("order-latest")
    c.start("order-saga", a, large(a), version=1)
    c.start("order-saga", b, large(b))  # no version: the newest
    assert c.wait_state(a, "approval")["version"] == 1
    assert c.wait_state(b, "approval")["version"] == 2
    for wf in (a, b):
        c.cairn("terminate", wf)


# ---- approval ------------------------------------------------------------

ASK = {"approver": "boss", "escalate_to": "ceo", "subject": "new laptop"}


def test_approval_approved(published):
    c = published
    wf = c.unique("approval-ok")
    c.start("approval", wf, ASK, version=1)
    # Possibly before the request email is sent: buffered, not lost.
    c.signal(wf, "approve", {"by": "boss"})
    done = c.await_(wf)
    assert done["status"] == "completed", done
    assert done["result"] == {"approved": True, "by": "boss",
                              "escalated": False}
    assert scheduled_names(c.history(wf)) == ["send_email", "approve_request"]


def test_approval_rejected(published):
    c = published
    wf = c.unique("approval-no")
    c.start("approval", wf, ASK, version=1)
    c.wait_state(wf, "waiting")
    c.signal(wf, "reject", {"by": "boss", "reason": "no budget"})
    done = c.await_(wf)
    assert done["status"] == "completed", done
    assert done["result"] == {"approved": False, "by": "boss",
                              "reason": "no budget", "escalated": False}


def test_approval_escalates_then_approved(published):
    """approval@2 (built in C): no decision within 3 s escalates to the
    escalation contact, who approves."""
    c = published
    wf = c.unique("approval-esc")
    c.start("approval", wf, ASK, version=2)
    c.wait_state(wf, "escalated", timeout=60)
    c.signal(wf, "approve", {"by": "ceo"})
    done = c.await_(wf)
    assert done["status"] == "completed", done
    assert done["result"] == {"approved": True, "by": "ceo",
                              "escalated": True}
    h = c.history(wf)
    assert scheduled_names(h) == ["send_email", "notify", "approve_request"]


def test_approval_expires(published):
    c = published
    wf = c.unique("approval-exp")
    c.start("approval", wf, ASK, version=2)
    done = c.await_(wf, timeout=60)
    assert done["status"] == "failed", f"{done} {TIMERS_HINT}"
    h = c.history(wf)
    assert events(h, "WorkflowFailed")[0]["error_type"] == "ApprovalExpired"
    assert len(events(h, "TimerFired", timer_id="signal:approve")) == 2


# ---- a result that cannot be recorded -------------------------------------

BAD_RESULT = {
    "type": "e2e-bad-result", "version": 1, "task_queue": "bad-results",
    "initial": "ask",
    "states": [
        {"name": "ask",
         "on_enter": [{"activity": "echo", "id": "ask", "input": "$.vars",
                       "retry": {"maximum_attempts": 5}}],
         "on": [{"event": "activity_completed", "activity": "ask",
                 "target": "done"},
                {"event": "activity_failed", "activity": "ask",
                 "target": "failed"}]},
        {"name": "done", "on_enter": [{"complete": "$.vars"}]},
        {"name": "failed",
         "on_enter": [{"fail": {"error_type": "AskFailed"}}]},
    ],
}


def test_result_that_is_not_json_fails_the_activity_once(published,
                                                         tmp_path):
    """An activity function that returns something that is not JSON: the
    worker cannot record it as ActivityCompleted, so it reports the attempt
    as failed (InvalidResult, not retryable) instead of trying to deliver
    it for ever; the workflow takes its failure path."""
    c = published
    c.put_definition(BAD_RESULT, tmp_path)
    wf = c.unique("bad-result")
    c.start("e2e-bad-result", wf, {"n": 1})
    done = c.await_(wf, timeout=60)
    assert done["status"] == "failed", done
    h = c.history(wf)
    failed = events(h, "ActivityFailed")
    assert len(failed) == 1, failed
    assert failed[0]["error_type"] == "InvalidResult", failed
    assert failed[0]["non_retryable"], failed
    assert "not JSON" in failed[0]["error_message"], failed
    assert len(events(h, "ActivityScheduled")) == 1
    assert events(h, "WorkflowFailed")[0]["error_type"] == "AskFailed"


# ---- a long activity beside quick ones --------------------------------------

SLOW = heartbeat_def("e2e-slow", "long", {"ms": 15000, "every": 500}, 5000)
QUICK = echo_def("e2e-quick", "long")


def test_long_activity_holds_up_no_other_result(published, tmp_path):
    """The "long" worker has two runners and max.poll.interval.ms=10000. A
    15 s activity runs on one; quick workflows started after it complete
    while it still runs (a worker that delivered results in rounds held
    them until the slowest task of the round returned), and the worker
    keeps polling all along, so it never leaves its group for being slow:
    the long activity runs once."""
    c = published
    for doc in (SLOW, QUICK):
        c.put_definition(doc, tmp_path)
    slow = c.unique("slow")
    c.start("e2e-slow", slow, {})

    def beats():
        p = c.cairn("--output", "json", "history", slow, check=False)
        return events(json.loads(p.stdout), "ActivityHeartbeat") \
            if p.returncode == 0 else []

    deadline = time.monotonic() + 60
    while not beats() and time.monotonic() < deadline:
        time.sleep(0.2)  # polling the history until the activity runs
    assert beats(), "the slow activity never heartbeated"
    for i in range(3):
        quick = c.unique("quick")
        c.start("e2e-quick", quick, {"i": i})
        assert c.await_(quick, timeout=60)["status"] == "completed"
        h = c.history(slow)
        assert not events(h, "ActivityCompleted"), \
            "the quick workflow waited for the slow activity"
    done = c.await_(slow, timeout=90)
    assert done["status"] == "completed", done
    assert done["result"]["work"]["heartbeats"] == 30, done
    with open(os.path.join(LOGS, "workflows-worker-long.log"),
              errors="replace") as f:
        log = f.read()
    assert "maximum poll interval" not in log, log[-2000:]
    assert "run again" not in log, log[-2000:]
