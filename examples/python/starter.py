#!/usr/bin/python3
"""starter.py — start a Cairn workflow from Python (confluent-kafka + avro).

    starter.py TYPE --id ID [--input JSON] [--version N]
               [--policy reject_duplicate|use_existing|terminate_existing]
               [--request-id R] [--bootstrap-servers H:P] [--topic-prefix P]

Prints {"workflow_id", "request_id", "partition"} once Kafka has the
StartWorkflow record. Sending it again with the same --request-id is a no-op.
Follow the workflow with `cairn await ID` or `cairn describe ID`.
Exit status: 0 sent, 1 not delivered, 2 bad usage.
"""
import argparse
import json
import sys

from cairn_protocol import Protocol, ProtocolError


def json_arg(text):
    try:
        return json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e}); quote it, "
                                         "e.g. --input '{\"amount\": 42}'")


def main():
    ap = argparse.ArgumentParser(description="Start a Cairn workflow.")
    ap.add_argument("type", help="workflow type, e.g. py_order")
    ap.add_argument("--id", required=True, help="workflow id")
    ap.add_argument("--input", type=json_arg, help="JSON input")
    ap.add_argument("--version", type=int, help="type version (default latest)")
    ap.add_argument("--policy", choices=["reject_duplicate", "use_existing",
                                         "terminate_existing"])
    ap.add_argument("--request-id", help="idempotency id (default a UUID)")
    ap.add_argument("--bootstrap-servers", help="Kafka (CAIRN_BOOTSTRAP_SERVERS)")
    ap.add_argument("--topic-prefix", help="topic prefix (CAIRN_TOPIC_PREFIX)")
    a = ap.parse_args()
    proto = Protocol.from_env(bootstrap=a.bootstrap_servers,
                              prefix=a.topic_prefix)
    try:
        rid = proto.start(a.type, a.id, a.input, a.version, a.policy,
                          a.request_id)
    except ProtocolError as e:
        print(f"starter: {e}", file=sys.stderr)
        return 1
    finally:
        proto.close()
    print(json.dumps({"workflow_id": a.id, "type": a.type, "request_id": rid}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
