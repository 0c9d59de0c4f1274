"""One trace per case journey (invariant 8), as an auditor sees it: a window's gRPC call in
640000 records the application, the relay publishes it, a consumer in 510000 decides; the
in-memory exporter holds one trace from the window's request to the decision, and `audit case`
prints that same trace id for both regions' events."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.wrappers_pb2 import StringValue
from kafka import KafkaConsumer, TopicPartition
from opentelemetry.trace import SpanKind

from services.common.audit.datadir import store_path
from services.common.consumer import consume
from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.grpc_context import create_server, current_actor
from services.common.kafka_settings import ensure_topics
from services.common.relay import OutboxRelay
from services.common.relay_producer import kafka_producer
from services.common.store import EventStore, StoreTransaction, sqlite_url
from services.common.telemetry import TracingClientInterceptor, current_trace_context, memory_tracing, tracer
from tests.fixtures.stores import COMPONENT_TABLES
from tests.fixtures.trust import actor_metadata, authenticator
from tests.integration.test_audit_helpers import run
from tests.support import wait_until

pytestmark = pytest.mark.kafka
CLERK = Actor(kind="clerk", clerk_id="c-0042", office_code="640104-DPF-01", region="640000", role="window")
METHOD = "/tongban.test.v1.Window/ApplyForSubsidy"


def test_audit_case_shows_one_trace_from_a_window_in_one_region_to_a_decision_in_another(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kafka_broker: Any, kafka_topic_prefix: str) -> None:
    memory = memory_tracing().memory
    assert memory is not None
    for region in ("640000", "510000"):
        store_path(tmp_path, region, "disability").parent.mkdir(parents=True)
    residence = EventStore.open(sqlite_url(store_path(tmp_path, "640000", "disability")), region="640000",
                                service="disability", tables=COMPONENT_TABLES)
    hukou = EventStore.open(sqlite_url(store_path(tmp_path, "510000", "disability")), region="510000",
                            service="disability", tables=COMPONENT_TABLES)
    case_id = f"disability-{uuid.uuid4().hex[:8]}"

    def apply(request: StringValue, context: grpc.ServicerContext) -> StringValue:
        event = NewEvent.from_message(request, event_id=str(uuid.uuid4()), actor=current_actor(),
                                      correlation_id=case_id, occurred_at=residence.clock.now(),
                                      trace=current_trace_context())
        residence.append(case_id, "test.Application", 0, [event])
        return StringValue(value=event.event_id)

    handler = grpc.method_handlers_generic_handler("tongban.test.v1.Window", {
        "ApplyForSubsidy": grpc.unary_unary_rpc_method_handler(
            apply, request_deserializer=StringValue.FromString, response_serializer=StringValue.SerializeToString)})
    server, port = create_server("127.0.0.1:0", servicers=[lambda s: s.add_generic_rpc_handlers((handler,))],
                                 authenticator=authenticator("640000"))
    server.start()
    topic = f"{kafka_topic_prefix}.disability"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=2)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as raw_channel:
            channel = grpc.intercept_channel(raw_channel, TracingClientInterceptor())
            call = channel.unary_unary(METHOD, request_serializer=StringValue.SerializeToString,
                                       response_deserializer=StringValue.FromString)
            with tracer("tongban.window").start_as_current_span("window: living subsidy application") as root:
                call(StringValue(value="困难残疾人生活补贴 application"), metadata=actor_metadata(CLERK))
    finally:
        server.stop(grace=None)
    trace_id = f"{root.get_span_context().trace_id:032x}"

    producer = kafka_producer(kafka_broker.bootstrap)
    OutboxRelay(residence, producer, topic).publish_pending()
    producer.close()

    def decide(tx: StoreTransaction, event: RecordedEvent) -> None:
        tx.append(f"{event.stream_id}-decision", "test.Decision", None, [NewEvent.from_message(
            StringValue(value="approved by the county"), event_id=str(uuid.uuid4()),
            actor=Actor.system("510000", "living-subsidy-review"), correlation_id=event.correlation_id,
            occurred_at=event.occurred_at, causation_id=event.event_id, trace=current_trace_context())])

    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(2)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    handled: list[bool] = []

    def poll() -> bool:
        for batch in consumer.poll(timeout_ms=200).values():
            handled.extend(consume(hukou, "decide", r.value, r.headers, decide) for r in batch)
        return bool(handled)

    wait_until(poll, what="the hukou region to decide")
    consumer.close()
    residence.close()
    hukou.close()

    spans = [s for s in memory.get_finished_spans() if f"{s.context.trace_id:032x}" == trace_id]
    kinds = {s.kind for s in spans}
    assert {SpanKind.CLIENT, SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.CONSUMER} <= kinds, "one trace end to end"

    code, out, err = run(capsys, "case", case_id, "--data", tmp_path, "--auditor", "A-17", "--reason", "trace check")
    assert code == 0, err
    history = out.split("HISTORY", 1)[1]
    traces = dict(re.findall(r"^  \S+  (\d{6})/disability  .*\n      by .*; trace ([0-9a-f]{32});", history, re.M))
    assert traces == {"640000": trace_id, "510000": trace_id}, history
