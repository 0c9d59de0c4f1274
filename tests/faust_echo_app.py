"""A faust worker for the end-to-end test: consumes a relay topic and, for each stored event,
appends a "seen" event to its own store through the inbox. Configured by environment:
TONGBAN_KAFKA, ECHO_TOPIC, ECHO_STORE (SQLAlchemy URL), ECHO_DATADIR, ECHO_GROUP.

Run: python -m tests.faust_echo_app worker --without-web --loglevel=warn"""

from __future__ import annotations

import asyncio
import os
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from google.protobuf.wrappers_pb2 import StringValue

from services.common.consumer import consume
from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.faust_app import create_app, raw_topic
from services.common.store import EventStore, StoreTransaction
from services.common.telemetry import current_trace_context

app = create_app(f"tongban-echo-{os.environ.get('ECHO_GROUP', 'x')}", os.environ.get("TONGBAN_KAFKA", "localhost:9092"),
                 datadir=Path(os.environ.get("ECHO_DATADIR", "/tmp/tongban-echo")))
topic = raw_topic(app, os.environ.get("ECHO_TOPIC", "tongban.test.events.v1"))


@cache
def store() -> EventStore:
    return EventStore.open(os.environ["ECHO_STORE"], region="510000", service="echo")


def record_seen(tx: StoreTransaction, event: RecordedEvent) -> None:
    seen = NewEvent.from_message(
        StringValue(value=event.event_id), event_id=str(uuid.uuid4()),
        actor=Actor.system("510000", "echo"), correlation_id=event.correlation_id,
        occurred_at=event.recorded_at, causation_id=event.event_id, trace=current_trace_context(),
    )
    tx.append(f"seen-{event.stream_id}", "test.Seen", None, [seen])


@app.agent(topic)
async def echo(stream: Any) -> None:
    async for event in stream.events():
        applied = await asyncio.to_thread(consume, store(), "echo", event.value, event.headers, record_seen)
        print(f"{'applied' if applied else 'duplicate'} {event.message.key.decode()}", flush=True)


if __name__ == "__main__":
    app.main()
