"""The fast canonical encoder writes exactly the bytes of the reference definition (compact,
sorted-key JSON of `canonical_document`), so hashes recorded before it still verify after it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.events import Actor, RecordedEvent, TraceContext, from_micros
from services.common.hashing import (
    CANONICAL_FIELDS,
    canonical_bytes,
    canonical_bytes_of,
    canonical_fields,
    canonical_json,
    event_hash,
    hash_of,
    stored_row_hasher,
)
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


# One hasher for every example below, as verify_pages uses one for a whole log: what it remembered
# from earlier rows must never change what a later row hashes to.
ROW_HASH = stored_row_hasher()


def row_of(e: RecordedEvent) -> tuple[object, ...]:
    """The stored row of `e`: every `events` column in table order."""
    return (e.position, *canonical_fields(e), bytes(32), b"", b"")


def reference_hash(row: tuple[object, ...]) -> bytes:
    return hash_of(row[21], canonical_bytes_of(row[1:21]))  # type: ignore[arg-type]


# The stored row's columns (table order) that hold the ten fields the row hasher remembers.
REPEATING = (3, 5, 10, 11, 12, 13, 14, 15, 16, 20)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(TEXT, min_size=15, max_size=15), other=TEXT, payload=st.binary(max_size=64),
       micros=MICROS, version=st.integers(min_value=1, max_value=2**62),
       schema=st.integers(min_value=0, max_value=2**31),
       which=st.sampled_from(REPEATING), prev=st.binary(min_size=32, max_size=32))
def test_the_row_hasher_hashes_canonical_bytes(texts: list[str], other: str, payload: bytes, micros: int,
                                               version: int, schema: int, which: int, prev: bytes) -> None:
    """Any text in any column (a tampered store can hold anything): rows that share the repeating
    fields (remembered) but differ in the others, and a row that differs from the first in just one
    repeating field, each hash as the reference says."""
    (event_id, stream_id, stream_type, type_, region, service, kind, clerk, office, a_region, role,
     correlation_id, causation_id, traceparent, tracestate) = texts
    first = (1, event_id, stream_id, stream_type, version, type_, schema, payload, micros, micros + 1, region,
             service, kind, clerk, office, a_region, role, correlation_id, causation_id, traceparent, tracestate,
             prev, b"", b"")
    rows = [first]
    for column in (1, 2, 17, 18, 19):  # the fields that are not remembered, one at a time
        rows.append((*first[:column], other, *first[column + 1:]))
    rows.append((*first[:4], version + 1, *first[5:7], payload + b"!", -micros, micros, *first[10:]))
    rows.append((*first[:which], other, *first[which + 1:]))
    for row in rows:
        assert ROW_HASH(row) == reference_hash(row)


def test_the_row_hasher_treats_types_as_the_reference_does() -> None:
    row = row_of(recorded())
    assert ROW_HASH(row) == reference_hash(row)
    # A number where a string belongs is refused by both, even after the string was remembered.
    numeric = list(row)
    numeric[13] = 7  # actor_clerk_id
    with pytest.raises(TypeError):
        reference_hash(tuple(numeric))
    with pytest.raises(TypeError):
        ROW_HASH(tuple(numeric))
    # Numbers are never remembered: 1.0 is not 1 (equal in Python, different bytes).
    as_float = list(row)
    as_float[6] = 1.0  # schema_version
    assert ROW_HASH(tuple(as_float)) == reference_hash(tuple(as_float)) != ROW_HASH(row)
