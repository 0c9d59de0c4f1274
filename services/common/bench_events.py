"""The synthetic events every store benchmark writes (`tongban bench store` and its growth,
concurrency and snapshot measures): a case-record-like payload of a fixed serialized size, with a
trace context like every event recorded inside a gRPC request."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from google.protobuf.wrappers_pb2 import StringValue

from services.common.events import Actor, NewEvent, TraceContext

PAYLOAD_BYTES = 200  # a typical serialized domain event payload (a few ids, a name, an address)
# Events are built this many at a time outside the timed sections: memory stays flat however large
# --streams is, and the clock only sees store work.
BUILD_CHUNK = 1_000

REGION = "640000"
STREAM_TYPE = "bench"
CLERK = Actor(kind="clerk", clerk_id="clerk-007", office_code="640104-MRO-01", region=REGION, role="clerk")


def payload_text(seq: int) -> str:
    # Mixed Chinese and ASCII like a real case record, padded to a fixed serialized size so every run
    # stores the same bytes per event.
    text = (f"结婚登记申请 #{seq:09d}; 申请人 640104199001011234 / 640104199203154321; "
            f"办理机关 银川市兴庆区民政局婚姻登记处; 材料: 户口簿, 身份证, 照片; ")
    size = len(StringValue(value=text).SerializeToString())
    return text + "." * max(0, PAYLOAD_BYTES - size)


def new_event(seq: int, correlation_id: str) -> NewEvent:
    # A traceparent like every event recorded inside a gRPC request carries: the relay then takes its
    # real path (one producer span per event) rather than the untraced shortcut.
    trace = TraceContext(traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01")
    return NewEvent.from_message(
        StringValue(value=payload_text(seq)),
        event_id=str(uuid.uuid4()),
        actor=CLERK,
        correlation_id=correlation_id,
        occurred_at=datetime.now(UTC),
        causation_id=f"cmd-{seq}",
        trace=trace,
    )


def chunks(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(start + size, total))


def payload_bytes(seq: int) -> bytes:
    """The serialized payload of event `seq`: what the baselines (raw sqlite3, eventsourcing,
    pgbench) store, so every column of the table writes the same bytes."""
    return StringValue(value=payload_text(seq)).SerializeToString()
