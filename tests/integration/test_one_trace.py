"""One trace per journey (invariant 8): a window's gRPC call, the append it causes, the relay's
publish and a consumer's handling in another region all belong to one OpenTelemetry trace."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.wrappers_pb2 import StringValue
from kafka import KafkaConsumer, TopicPartition
from opentelemetry.trace import SpanKind

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
from tests.support import wait_until

pytestmark = pytest.mark.kafka
CLERK = Actor(kind="clerk", clerk_id="c-0042", office_code="640104-MRO-01", region="640000", role="window")
METHOD = "/tongban.test.v1.Window/OpenCase"


def test_one_trace_runs_from_a_window_call_to_a_consumer_in_another_region(
        tmp_path: Path, kafka_broker: Any, kafka_topic_prefix: str) -> None:
    memory = memory_tracing().memory
    assert memory is not None
    yinchuan = EventStore.open(sqlite_url(tmp_path / "640000.db"), region="640000", service="marriage",
                               tables=COMPONENT_TABLES)
    guangyuan = EventStore.open(sqlite_url(tmp_path / "510000.db"), region="510000", service="marriage",
                                tables=COMPONENT_TABLES)

    def open_case(request: StringValue, context: grpc.ServicerContext) -> StringValue:
        # What every command handler does: the actor from the interceptor, the trace of the call.
        event = NewEvent.from_message(request, event_id=str(uuid.uuid4()), actor=current_actor(),
                                      correlation_id=request.value, occurred_at=yinchuan.clock.now(),
                                      trace=current_trace_context())
        yinchuan.append(request.value, "test.Case", 0, [event])
        return StringValue(value=event.event_id)

    handler = grpc.method_handlers_generic_handler("tongban.test.v1.Window", {
        "OpenCase": grpc.unary_unary_rpc_method_handler(
            open_case, request_deserializer=StringValue.FromString,
            response_serializer=StringValue.SerializeToString)})
    server, port = create_server("127.0.0.1:0", servicers=[lambda s: s.add_generic_rpc_handlers((handler,))],
                                 authenticator=authenticator("640000"))
    server.start()
    topic = f"{kafka_topic_prefix}.marriage"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=2)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as raw_channel:
            channel = grpc.intercept_channel(raw_channel, TracingClientInterceptor())
            call = channel.unary_unary(METHOD, request_serializer=StringValue.SerializeToString,
                                       response_deserializer=StringValue.FromString)
            with tracer("tongban.window").start_as_current_span("window: open case") as root:
                event_id = call(StringValue(value="case-yc-1"), metadata=actor_metadata(CLERK)).value
        trace_id = root.get_span_context().trace_id

        [stored] = yinchuan.read_stream("case-yc-1")
        assert stored.event_id == event_id
        assert stored.actor == CLERK
        assert int(stored.trace.traceparent.split("-")[1], 16) == trace_id, "the event remembers its trace"

        producer = kafka_producer(kafka_broker.bootstrap)
        OutboxRelay(yinchuan, producer, topic).publish_pending()
        producer.close()

        def record(tx: StoreTransaction, event: RecordedEvent) -> None:
            tx.append(f"mirror-{event.stream_id}", "test.Mirror", None, [NewEvent.from_message(
                StringValue(value=event.event_id), event_id=str(uuid.uuid4()),
                actor=Actor.system("510000", "consumer"), correlation_id=event.correlation_id,
                occurred_at=event.occurred_at, causation_id=event.event_id, trace=current_trace_context())])

        consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, enable_auto_commit=False)
        tps = [TopicPartition(topic, p) for p in range(2)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        handled: list[bool] = []

        def poll() -> bool:
            for batch in consumer.poll(timeout_ms=200).values():
                handled.extend(consume(guangyuan, "mirror", r.value, r.headers, record) for r in batch)
            return bool(handled)

        wait_until(poll, what="the consumer in 510000 to handle the event")
        consumer.close()
        assert handled == [True]
    finally:
        server.stop(grace=None)

    spans = [s for s in memory.get_finished_spans() if s.context.trace_id == trace_id]
    kinds = {(s.kind, s.name.split(" ")[0]) for s in spans}
    assert any(s.kind == SpanKind.CLIENT for s in spans), "the window's call"
    assert any(s.kind == SpanKind.SERVER for s in spans), "the service handling the call"
    assert (SpanKind.PRODUCER, "publish") in kinds, "the relay's publish"
    assert (SpanKind.CONSUMER, "consume") in kinds, "the consumer's handling"
    consume_span = next(s for s in spans if s.kind == SpanKind.CONSUMER)
    publish_span = next(s for s in spans if s.kind == SpanKind.PRODUCER)
    assert consume_span.parent is not None and consume_span.parent.span_id == publish_span.context.span_id
    [mirror] = guangyuan.read_stream("mirror-case-yc-1")
    assert int(mirror.trace.traceparent.split("-")[1], 16) == trace_id, "the effect in 510000 joins the trace"
    yinchuan.close()
    guangyuan.close()
