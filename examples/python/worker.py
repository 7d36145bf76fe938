#!/usr/bin/python3
"""worker.py — a Cairn activity worker in Python (confluent-kafka + avro).

    worker.py [--task-queue python] [--group G] [--bootstrap-servers H:P]
              [--topic-prefix P] [--partitions N]

Consumes <prefix>tasks.<queue> (read_committed, manual commits), runs the
activity each ActivityTask names, produces ActivityCompleted or
ActivityFailed to <prefix>events keyed by the workflow id, and commits the
task's offset only after Kafka acknowledged the result: at least once. The
idempotency key (workflow_id:activity_id, the same on every attempt) is
what makes the side effect exactly once: charge_card below remembers the
charge it made for a key and returns it again instead of charging twice.

A record that is not a valid ActivityTask goes to <prefix>dlq with the
header cairn.reason and is skipped. SIGTERM or SIGINT: the task in hand
finishes, its offset is committed, the consumer leaves the group.

Activities: charge_card (declines amounts over 1000 without retry; fails
its first `flaky` attempts with a retryable error), reserve_inventory,
ship_order, send_email, archive, echo.
"""
import argparse
import json
import os
import signal
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from cairn_protocol import Protocol, ProtocolError, now_ms


class ActivityError(Exception):
    def __init__(self, error_type, message, non_retryable=False):
        super().__init__(message)
        self.error_type = error_type
        self.non_retryable = non_retryable


# Side effects already made, by idempotency key (a real worker would keep
# this in the target system, e.g. as the payment provider's idempotency key).
CHARGES = {}


def charge_card(task, inp):
    amount = inp.get("amount", 0) if isinstance(inp, dict) else 0
    if isinstance(inp, dict) and task["attempt"] <= inp.get("flaky", 0):
        raise ActivityError("CardNetworkError",
                            f"attempt {task['attempt']}: network error")
    if amount > 1000:
        raise ActivityError("CardDeclined", f"amount {amount} is over the "
                            "limit of 1000", non_retryable=True)
    key = task["idempotency_key"]
    charge = CHARGES.setdefault(key, "ch-" + uuid.uuid4().hex[:12])
    return {"charge_id": charge, "amount": amount}


def reserve_inventory(task, inp):
    return {"reservation": "rs-" + task["workflow_id"]}


def ship_order(task, inp):
    return {"tracking": "tr-" + task["workflow_id"]}


def send_email(task, inp):
    to = inp.get("to") if isinstance(inp, dict) else None
    return {"sent_to": to}


def archive(task, inp):
    return {"archived": True}


def echo(task, inp):
    return inp


ACTIVITIES = {f.__name__: f for f in (charge_card, reserve_inventory,
                                      ship_order, send_email, archive, echo)}


def log(msg):
    print(f"worker: {msg}", file=sys.stderr, flush=True)


def run_activity(task):
    """The (event type, record) that reports the task's outcome."""
    base = {"workflow_id": task["workflow_id"], "time_ms": now_ms(),
            "seq": None, "activity_id": task["activity_id"],
            "attempt": task["attempt"]}
    fn = ACTIVITIES.get(task["activity_name"])
    try:
        if fn is None:
            raise ActivityError("UnknownActivity",
                                f"no function for activity "
                                f"\"{task['activity_name']}\" in worker.py",
                                non_retryable=True)
        inp = json.loads(task["input"]) if task["input"] is not None else None
        result = fn(task, inp)
        if isinstance(result, dict):
            result = dict(result, worker="python",
                          activity=task["activity_name"],
                          idempotency_key=task["idempotency_key"],
                          attempt=task["attempt"])
        return "ActivityCompleted", dict(base, result=json.dumps(result))
    except ActivityError as e:
        return "ActivityFailed", dict(base, error_type=e.error_type,
                                      error_message=str(e),
                                      non_retryable=1 if e.non_retryable
                                      else None)
    except Exception as e:  # a bug in an activity: report it, retryable
        return "ActivityFailed", dict(base, error_type=type(e).__name__,
                                      error_message=str(e),
                                      non_retryable=None)


def ensure_topic(bootstrap, topic, partitions, replication):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic in admin.list_topics(timeout=10).topics:
        return
    fut = admin.create_topics([NewTopic(topic, partitions, replication)])
    for f in fut.values():
        try:
            f.result(30)
        except Exception as e:  # created meanwhile by someone else
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def main():
    ap = argparse.ArgumentParser(description="A Cairn activity worker.")
    ap.add_argument("--task-queue", default=os.environ.get("CAIRN_TASK_QUEUE",
                                                           "python"))
    ap.add_argument("--group", help="consumer group (default "
                    "<prefix>workers.<queue>)")
    ap.add_argument("--bootstrap-servers")
    ap.add_argument("--topic-prefix")
    ap.add_argument("--partitions", type=int,
                    default=int(os.environ.get("CAIRN_PARTITIONS", "12")),
                    help="partitions of the task topic if it must be created")
    a = ap.parse_args()
    proto = Protocol.from_env(bootstrap=a.bootstrap_servers,
                              prefix=a.topic_prefix)
    topic = proto.topic("tasks." + a.task_queue)
    ensure_topic(proto.bootstrap, topic, a.partitions,
                 int(os.environ.get("CAIRN_REPLICATION_FACTOR", "1")))
    consumer = Consumer({
        "bootstrap.servers": proto.bootstrap,
        "group.id": a.group or proto.topic("workers." + a.task_queue),
        "isolation.level": "read_committed",  # tasks are transactional
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
    })
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(1))

    def on_assign(c, parts):
        log(f"assigned {len(parts)} partition(s) of {topic}")

    consumer.subscribe([topic], on_assign=on_assign)
    log(f"consuming {topic} with activities {', '.join(sorted(ACTIVITIES))}")
    while not stopping:
        m = consumer.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                log(f"consumer: {m.error()}")
            continue
        try:
            type_name, task = proto.decode(m)
            if type_name != "ActivityTask":
                raise ProtocolError(f"{type_name} is not an ActivityTask")
        except ProtocolError as e:
            proto.producer.produce(proto.topic("dlq"), key=m.key(),
                                   value=m.value(),
                                   headers=[("cairn.reason", str(e).encode()),
                                            ("cairn.source.topic",
                                             topic.encode())])
            proto.producer.flush(30)
            consumer.commit(message=m, asynchronous=False)
            log(f"{topic}[{m.partition()}]@{m.offset()} to dlq: {e}")
            continue
        result_type, result = run_activity(task)
        try:
            proto.send(result_type, result)
        except ProtocolError as e:
            # Not delivered: do not commit; run the task again.
            log(f"{e}; retrying the task")
            consumer.seek(TopicPartition(m.topic(), m.partition(),
                                         m.offset()))
            time.sleep(1)
            continue
        consumer.commit(message=m, asynchronous=False)
        log(f"{task['activity_name']} {task['idempotency_key']} attempt "
            f"{task['attempt']}: {result_type}")
    consumer.close()
    proto.close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
