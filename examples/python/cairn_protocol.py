"""cairn_protocol.py — the Cairn wire protocol (docs/PROTOCOL.md) in Python,
with nothing but confluent-kafka and avro (Debian: python3-confluent-kafka,
python3-avro). It shares no code with the C library: the schemas are read
from sdk/schemas/*.avsc and the fingerprints computed here.

    proto = Protocol.from_env()                   # CAIRN_* settings
    proto.send("StartWorkflow", {...})            # one request, acknowledged
    ev = proto.decode(msg)                        # a consumed record

Rules this module follows (docs/PROTOCOL.md, "Sending a request"):
  * topic <prefix>events, key = the workflow id (UTF-8);
  * partitioner murmur2_random (Kafka's Java default), so the record lands on
    the workflow's shard;
  * value = the Avro binary encoding of the record, nothing around it;
  * headers cairn.type = the type name and cairn.fingerprint = 16 lowercase
    hex digits of CRC-64-AVRO over the schema's Parsing Canonical Form;
  * acks=all and enable.idempotence=true.
"""
import io
import json
import os
import time
import uuid

import avro.errors
import avro.io
import avro.schema
from confluent_kafka import KafkaError, KafkaException, Producer

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMAS = os.path.normpath(os.path.join(HERE, "..", "..", "sdk",
                                                "schemas"))

# CRC-64-AVRO (Rabin), as the Avro specification's "Schema Fingerprints".
_EMPTY = 0xC15D213AA4D7A795
_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_EMPTY & -(_fp & 1))
    _TABLE.append(_fp)


def crc64_avro(data: bytes) -> int:
    fp = _EMPTY
    for b in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ b) & 0xFF]
    return fp


def fingerprint(schema) -> str:
    """The cairn.fingerprint header value of a parsed schema."""
    return "%016x" % crc64_avro(schema.canonical_form.encode("utf-8"))


def now_ms() -> int:
    return int(time.time() * 1000)


def new_request_id() -> str:
    return str(uuid.uuid4())


class ProtocolError(Exception):
    """A record that does not follow the protocol, or a send that failed."""


class Protocol:
    def __init__(self, bootstrap="127.0.0.1:19092", prefix="cairn.",
                 schemas_dir=DEFAULT_SCHEMAS, timeout_s=15.0):
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.schemas = {}
        for name in sorted(os.listdir(schemas_dir)):
            if name.endswith(".avsc"):
                with open(os.path.join(schemas_dir, name)) as f:
                    s = avro.schema.parse(f.read())
                self.schemas[s.name] = (s, fingerprint(s))
        if "StartWorkflow" not in self.schemas:
            raise ProtocolError(f"no Cairn schemas in {schemas_dir}")
        self._producer = None

    @classmethod
    def from_env(cls, **over):
        """Settings from the CAIRN_* environment (deploy/cluster.sh env)."""
        kw = {"bootstrap": os.environ.get("CAIRN_BOOTSTRAP_SERVERS",
                                          "127.0.0.1:19092"),
              "prefix": os.environ.get("CAIRN_TOPIC_PREFIX", "cairn.")}
        kw.update({k: v for k, v in over.items() if v is not None})
        return cls(**kw)

    def topic(self, suffix):
        return self.prefix + suffix

    # ---- encoding ------------------------------------------------------
    def encode(self, type_name, record):
        """(value bytes, headers) for a record of type_name."""
        if type_name not in self.schemas:
            raise ProtocolError(f"unknown event type {type_name}")
        schema, fp = self.schemas[type_name]
        buf = io.BytesIO()
        try:
            avro.io.DatumWriter(schema).write(record,
                                              avro.io.BinaryEncoder(buf))
        except avro.errors.AvroTypeException as e:
            raise ProtocolError(f"{type_name} does not match its schema: {e}")
        return buf.getvalue(), [("cairn.type", type_name.encode()),
                                ("cairn.fingerprint", fp.encode())]

    def decode(self, msg):
        """The (type name, record dict) of a consumed Cairn record."""
        hdrs = dict((k, v.decode() if v is not None else None)
                    for k, v in (msg.headers() or []))
        type_name = hdrs.get("cairn.type")
        if type_name not in self.schemas:
            raise ProtocolError(f"unknown or missing cairn.type {type_name!r}")
        schema, fp = self.schemas[type_name]
        if hdrs.get("cairn.fingerprint") not in (None, fp):
            raise ProtocolError(f"{type_name} fingerprint "
                                f"{hdrs.get('cairn.fingerprint')} is not "
                                f"the current schema's {fp}")
        try:
            rec = avro.io.DatumReader(schema, schema).read(
                avro.io.BinaryDecoder(io.BytesIO(msg.value())))
        except Exception as e:  # truncated or garbage bytes
            raise ProtocolError(f"{type_name} does not decode: {e}")
        return type_name, rec

    # ---- producing -------------------------------------------------------
    def producer_config(self):
        return {"bootstrap.servers": self.bootstrap, "acks": "all",
                "enable.idempotence": True,
                "partitioner": "murmur2_random", "linger.ms": 0}

    @property
    def producer(self):
        if self._producer is None:
            self._producer = Producer(self.producer_config())
        return self._producer

    def send(self, type_name, record, topic=None):
        """Produces one event keyed by its workflow id and waits until Kafka
        has it; raises ProtocolError if it was not delivered in time.

        A producer that hits a fatal error (librdkafka: the idempotent
        producer lost its sequence with the broker) cannot be used again:
        it is replaced and the same record sent again. That is safe because
        the record carries its request id (or activity id and attempt), so
        the engine ignores a second copy."""
        value, headers = self.encode(type_name, record)
        deadline = time.monotonic() + self.timeout_s
        last = None
        while time.monotonic() < deadline:
            result = {}

            def on_delivery(err, msg):
                result["err"] = err
                result["partition"] = msg.partition() if msg else None

            try:
                self.producer.produce(
                    topic or self.topic("events"),
                    key=record["workflow_id"].encode("utf-8"), value=value,
                    headers=headers, on_delivery=on_delivery)
                while "err" not in result and time.monotonic() < deadline:
                    self.producer.poll(0.1)
            except KafkaException as e:
                result["err"] = e.args[0] if e.args else e
            err = result.get("err")
            if "err" in result and err is None:
                return result["partition"]
            if "err" not in result:
                break
            last = err
            if not (isinstance(err, KafkaError) and
                    (err.fatal() or err.code() == KafkaError._FATAL or
                     err.retriable())):
                break
            self._producer = None  # fatal: a new producer, a new PID
            time.sleep(0.1)
        raise ProtocolError(f"{type_name} not delivered to {self.bootstrap} "
                            f"within {self.timeout_s} s: "
                            f"{last or 'no acknowledgement'}")

    # ---- requests --------------------------------------------------------
    def start(self, wf_type, wf_id, input=None, version=None, policy=None,
              request_id=None):
        rid = request_id or new_request_id()
        self.send("StartWorkflow", {
            "workflow_id": wf_id, "time_ms": now_ms(), "request_id": rid,
            "workflow_type": wf_type, "version": version,
            "input": None if input is None else json.dumps(input),
            "start_policy": policy, "parent_workflow_id": None})
        return rid

    def signal(self, wf_id, name, payload=None, request_id=None):
        rid = request_id or new_request_id()
        self.send("SignalWorkflow", {
            "workflow_id": wf_id, "time_ms": now_ms(), "request_id": rid,
            "signal_name": name,
            "payload": None if payload is None else json.dumps(payload)})
        return rid

    def signal_with_start(self, wf_type, wf_id, name, payload=None,
                          input=None, version=None, start_request_id=None,
                          signal_request_id=None):
        """StartWorkflow (use_existing), acknowledged, then SignalWorkflow:
        same key, same partition, so the shard applies them in order."""
        srid = self.start(wf_type, wf_id, input, version, "use_existing",
                          start_request_id)
        return srid, self.signal(wf_id, name, payload, signal_request_id)

    def close(self):
        if self._producer is not None:
            self._producer.flush(self.timeout_s)
            self._producer = None
