"""The direct envelope writer gives exactly protobuf's deterministic bytes, so what the relay
publishes (and what a region signs and a receiver verifies, invariant 8) is unchanged."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.envelope_wire import envelope_bytes, signature_fields, stored_envelope_bytes
from services.common.events import Actor, RecordedEvent, TraceContext, from_micros
from services.common.store.decode import event_to_row
from services.common.store.schema import events
from tongban.common.v1 import envelope_pb2

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
BLOB = st.binary(max_size=300)
UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
# Year 1 to 9999, microseconds: before 1970 too (negative seconds on the wire).
MICROS = st.integers(min_value=-62_135_596_800_000_000, max_value=253_402_300_799_999_999)

EVENTS = st.builds(
    RecordedEvent,
    event_id=TEXT, stream_id=TEXT, stream_type=TEXT, version=UINT64, type=TEXT,
    schema_version=st.integers(min_value=0, max_value=2**32 - 1), payload=BLOB,
    occurred_at=MICROS.map(from_micros), recorded_at=MICROS.map(from_micros), region=TEXT, service=TEXT,
    actor=st.builds(Actor, kind=st.sampled_from(["clerk", "system", "auditor"]), clerk_id=TEXT,
                    office_code=TEXT, region=TEXT, role=TEXT),
    correlation_id=TEXT, causation_id=TEXT, trace=st.builds(TraceContext, TEXT, TEXT),
    prev_hash=BLOB, hash=BLOB, position=UINT64, global_hash=BLOB,
)


@settings(max_examples=400)
@given(EVENTS)
def test_envelope_bytes_are_protobufs_deterministic_bytes(event: RecordedEvent) -> None:
    assert envelope_bytes(event) == event.to_envelope().SerializeToString(deterministic=True)
    assert RecordedEvent.from_bytes(envelope_bytes(event)) == event


@settings(max_examples=400)
@given(EVENTS)
def test_an_envelope_written_from_the_stored_row_has_the_same_bytes(event: RecordedEvent) -> None:
    row = event_to_row(event)
    assert stored_envelope_bytes(tuple(row[c.name] for c in events.columns)) == envelope_bytes(event)


@settings(max_examples=100)
@given(EVENTS, BLOB, TEXT)
def test_signature_fields_appended_give_the_signed_envelopes_bytes(event: RecordedEvent, signature: bytes,
                                                                   key_id: str) -> None:
    envelope = event.to_envelope()
    envelope.signature, envelope.signing_key_id = signature, key_id
    assert envelope_bytes(event) + signature_fields(signature, key_id) == envelope.SerializeToString(
        deterministic=True)


def test_every_envelope_field_is_written() -> None:
    # A field added to the proto and not to the writer would be silently dropped from Kafka.
    numbers = [f.number for f in envelope_pb2.EventEnvelope.DESCRIPTOR.fields]
    assert numbers == list(range(1, 22))
