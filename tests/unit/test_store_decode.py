"""The store's fast row decoder gives the very events the constructor would (invariant 3: what
an auditor reads is what was recorded): equal, hashed alike, and still immutable."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from services.common.events import Actor, RecordedEvent, TraceContext
from services.common.store.decode import event_to_row, events_from_tuples
from services.common.store.schema import events


def _recorded(version: int) -> RecordedEvent:
    return RecordedEvent(
        event_id=f"evt-{version}", stream_id="case-1", stream_type="marriage", version=version,
        type="google.protobuf.StringValue", schema_version=1, payload=b"\x0a\x03abc",
        occurred_at=datetime(2026, 3, 2, 9, 30, version, 123456, tzinfo=UTC),
        recorded_at=datetime(2026, 3, 2, 9, 31, tzinfo=UTC), region="640000", service="marriage",
        actor=Actor(kind="clerk", clerk_id="c-7", office_code="640104-MRO-01", region="640000", role="clerk"),
        correlation_id="corr-1", causation_id="cmd-1", trace=TraceContext("00-" + "a" * 32 + "-" + "b" * 16 + "-01"),
        prev_hash=bytes(32), hash=bytes([version]) * 32, position=version, global_hash=bytes([version + 1]) * 32,
    )


def test_decoded_rows_equal_the_recorded_events_and_stay_frozen() -> None:
    originals = [_recorded(v) for v in (1, 2, 3)]
    rows = [tuple(event_to_row(e)[c.name] for c in events.columns) for e in originals]
    decoded = events_from_tuples(rows)
    assert decoded == originals
    assert [hash(e) for e in decoded] == [hash(e) for e in originals]
    assert decoded[0].recorded_at is decoded[1].recorded_at  # one instant, built once per page
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded[0].version = 9  # type: ignore[misc]
    assert dataclasses.replace(decoded[0], version=9).version == 9
