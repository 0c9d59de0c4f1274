"""The fast canonical encoder writes exactly the bytes of the reference definition (compact,
sorted-key JSON of `canonical_document`), so hashes recorded before it still verify after it."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.events import Actor, RecordedEvent, TraceContext, from_micros
from services.common.hashing import CANONICAL_FIELDS, canonical_bytes, canonical_json, event_hash
from services.common.store.schema import events

# Any text json can encode: quotes, backslashes, control characters, CJK, astral characters.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
MICROS = st.integers(min_value=-62_135_596_800_000_000, max_value=253_402_300_799_999_999)


def recorded(**fields: object) -> RecordedEvent:
    base: dict[str, object] = dict(
        event_id="e-1", stream_id="marriage-1", stream_type="marriage.Marriage", version=1,
        type="tongban.marriage.v1.MarriageRegistered", schema_version=1, payload=b"\x00\x01payload",
        occurred_at=datetime(2026, 12, 1, 8, 30, tzinfo=UTC), recorded_at=datetime(2026, 12, 1, 8, 30, 1, tzinfo=UTC),
        region="640000", service="marriage",
        actor=Actor(kind="clerk", clerk_id="c-7", office_code="640104-MRO-01", region="640000", role="clerk"),
        correlation_id="corr", causation_id="cmd", trace=TraceContext("00-ab-cd-01", "k=v"),
        prev_hash=bytes(32), hash=b"", position=1, global_hash=b"",
    )
    base.update(fields)
    return RecordedEvent(**base)  # type: ignore[arg-type]


def test_fields_are_the_event_columns_in_table_order() -> None:
    # The store hashes rows straight from the database: columns 1..20 must be CANONICAL_FIELDS.
    assert tuple(c.name for c in events.columns)[1:21] == CANONICAL_FIELDS


def test_a_known_event_hashes_as_before() -> None:
    e = recorded()
    assert canonical_bytes(e) == canonical_json(e)
    # Pinned: the hash of this event as every earlier release computed it.
    assert event_hash(bytes(32), e).hex() == EXPECTED_HASH


@settings(max_examples=300, deadline=None)
@given(text=TEXT, other=TEXT, payload=st.binary(max_size=64), micros=MICROS, later=MICROS,
       version=st.integers(min_value=1, max_value=2**62), schema=st.integers(min_value=0, max_value=2**31))
def test_same_bytes_as_json_dumps(text: str, other: str, payload: bytes, micros: int, later: int, version: int,
                                  schema: int) -> None:
    e = recorded(
        event_id=text, stream_id=other + text, stream_type=text, version=version, type=other,
        schema_version=schema, payload=payload, occurred_at=from_micros(micros), recorded_at=from_micros(later),
        region=text, service=other,
        actor=Actor(kind="system", clerk_id=text, office_code=other, region=text, role=other),
        correlation_id=other, causation_id=text, trace=TraceContext(text, other),
    )
    assert canonical_bytes(e) == canonical_json(e)


# Computed by the json.dumps implementation before the fast encoder existed.
EXPECTED_HASH = "d017d0b0f2d4ebf7f470218a4b425c9d519302b1ee210c3427dfb1ea0ae05786"
