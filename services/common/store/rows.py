"""The rows of an append: each new event's stored fields, its stream hash and its store-wide hash,
given where the stream and the log end. Shared by the transactional append (store.py) and the
one-round-trip PostgreSQL append (pg_fast.py), so both chain events exactly alike."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from services.common.events import NewEvent, RecordedEvent, to_micros
from services.common.hashing import canonical_bytes_of, global_hash, hash_of
from services.common.store.decode import DICT_FILL

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Head = tuple[int, bytes, int]  # position, global hash, recorded_at_us of the log's last event
StreamHead = tuple[int, bytes]  # version, hash of the stream's last event


def build_rows(*, region: str, service: str, now: datetime, stream_id: str, stream_type: str,
               stream: StreamHead, head: Head, new_events: Sequence[NewEvent]
               ) -> tuple[list[tuple[Any, ...]], list[RecordedEvent], Head, StreamHead]:
    """(rows in `events` column order, the recorded events, the new head, the new stream head)."""
    version, prev_hash = stream
    position, prev_global, last_recorded = head
    # recorded_at never goes backwards along the log, so "as of" reads agree with its order.
    recorded_us = max(to_micros(now), last_recorded)
    recorded_at = _EPOCH + timedelta(microseconds=recorded_us)
    rows: list[tuple[Any, ...]] = []
    recorded: list[RecordedEvent] = []
    new_object, set_attribute = object.__new__, object.__setattr__
    for new in new_events:
        version += 1
        position += 1
        a, t = new.actor, new.trace
        fields = (new.event_id, stream_id, stream_type, version, new.type, new.schema_version, new.payload,
                  to_micros(new.occurred_at), recorded_us, region, service, a.kind, a.clerk_id,
                  a.office_code, a.region, a.role, new.correlation_id, new.causation_id,
                  t.traceparent, t.tracestate)
        h = hash_of(prev_hash, canonical_bytes_of(fields))
        g = global_hash(prev_global, position, h)
        rows.append((position, *fields, prev_hash, h, g))
        fields_of = {
            "event_id": new.event_id, "stream_id": stream_id, "stream_type": stream_type, "version": version,
            "type": new.type, "schema_version": new.schema_version, "payload": new.payload,
            "occurred_at": new.occurred_at, "recorded_at": recorded_at, "region": region, "service": service,
            "actor": a, "correlation_id": new.correlation_id, "causation_id": new.causation_id, "trace": t,
            "prev_hash": prev_hash, "hash": h, "position": position, "global_hash": g,
        }
        if DICT_FILL:  # the constructor's object, without its 19 object.__setattr__ calls (decode.py)
            event = new_object(RecordedEvent)
            set_attribute(event, "__dict__", fields_of)
            recorded.append(event)
        else:
            recorded.append(RecordedEvent(**fields_of))
        prev_hash, prev_global = h, g
    return rows, recorded, (position, prev_global, recorded_us), (version, prev_hash)
