#!/usr/bin/python3
"""signaller.py — signal a Cairn workflow from Python (confluent-kafka + avro).

    signaller.py ID NAME [--payload JSON] [--request-id R]
                 [--start TYPE [--input JSON] [--start-request-id R]]
                 [--bootstrap-servers H:P] [--topic-prefix P]

With --start it is signal-with-start: a StartWorkflow with start_policy
use_existing (a no-op if ID exists) is produced and acknowledged first, then
the SignalWorkflow; both are keyed ID, so they reach the same shard in that
order. Sending again with the same request ids is a no-op.
Exit status: 0 sent, 1 not delivered, 2 bad usage.
"""
import argparse
import json
import sys

from cairn_protocol import Protocol, ProtocolError
from starter import json_arg


def main():
    ap = argparse.ArgumentParser(description="Signal a Cairn workflow.")
    ap.add_argument("id", help="workflow id")
    ap.add_argument("name", help="signal name, e.g. decision")
    ap.add_argument("--payload", type=json_arg, help="JSON payload")
    ap.add_argument("--request-id", help="idempotency id of the signal")
    ap.add_argument("--start", metavar="TYPE",
                    help="signal-with-start: start a TYPE workflow unless ID "
                         "exists")
    ap.add_argument("--input", type=json_arg, help="JSON input for --start")
    ap.add_argument("--start-request-id", help="idempotency id of the start")
    ap.add_argument("--bootstrap-servers", help="Kafka (CAIRN_BOOTSTRAP_SERVERS)")
    ap.add_argument("--topic-prefix", help="topic prefix (CAIRN_TOPIC_PREFIX)")
    a = ap.parse_args()
    if (a.input is not None or a.start_request_id) and not a.start:
        ap.error("--input and --start-request-id need --start TYPE")
    proto = Protocol.from_env(bootstrap=a.bootstrap_servers,
                              prefix=a.topic_prefix)
    out = {"workflow_id": a.id, "signal": a.name}
    try:
        if a.start:
            out["start_request_id"], out["request_id"] = \
                proto.signal_with_start(a.start, a.id, a.name, a.payload,
                                        a.input, None, a.start_request_id,
                                        a.request_id)
        else:
            out["request_id"] = proto.signal(a.id, a.name, a.payload,
                                             a.request_id)
    except ProtocolError as e:
        print(f"signaller: {e}", file=sys.stderr)
        return 1
    finally:
        proto.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
