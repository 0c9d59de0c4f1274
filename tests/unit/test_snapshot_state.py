"""Snapshot state encoding (issue 15): an aggregate's fields survive the bytes unchanged, a change
of shape changes the stamp, and a value the encoder does not know is refused (no snapshot taken)
rather than guessed. Every catalogued service's aggregates are encodable."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import ClassVar

import pytest

from services.catalogue import SERVICES
from services.common.kit import Aggregate
from services.common.kit.snapshots import aggregate_types, shape
from services.common.kit.state_codec import decode_state, encode_state, shape_of


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Party:
    name: str
    born: date | None = None


@dataclass
class Ledger(Aggregate):
    stream_type: ClassVar[str] = "tests.Ledger"
    parties: tuple[Party, ...] = ()
    colour: Colour | None = None
    amounts: dict[str, Decimal] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)
    raw: bytes = b""
    ratio: float = 0.0


def test_every_kind_of_field_survives_the_snapshot_bytes() -> None:
    ledger = Ledger(version=7, opened_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
                    updated_at=datetime(2026, 3, 2, tzinfo=UTC),
                    parties=(Party("张三", date(1990, 1, 1)), Party("李四")), colour=Colour.BLUE,
                    amounts={"基本": Decimal("1234.50")}, tags=frozenset({"b", "a"}), notes=["x"], raw=b"\x00\xff",
                    ratio=0.25)
    assert decode_state(Ledger, encode_state(ledger)) == ledger


def test_a_value_the_encoder_does_not_know_is_refused() -> None:
    @dataclass
    class Odd(Aggregate):
        thing: object = None

    with pytest.raises(TypeError):
        encode_state(Odd(thing=complex(1, 2)))


def test_the_stamp_changes_with_the_fields_and_with_the_snapshot_version() -> None:
    @dataclass
    class Before(Aggregate):
        count: int = 0

    @dataclass
    class After(Aggregate):
        count: int = 0
        extra: str = ""

    @dataclass
    class Bumped(Aggregate):
        snapshot_version: ClassVar[int] = 2
        count: int = 0

    assert shape_of(Before) != shape_of(After)
    assert shape(Before).startswith("1.") and shape(Bumped).startswith("2.")


def test_every_catalogued_aggregate_round_trips_through_a_snapshot() -> None:
    for entry in SERVICES:
        importlib.import_module(f"{entry.package}.bootstrap")
    found = [cls for cls in aggregate_types().values() if cls.__module__.startswith("services.")]
    assert found
    for cls in found:
        state = cls()
        assert decode_state(cls, encode_state(state)) == state, cls.__name__
        assert all(f.name in encode_state(state).decode() for f in dataclasses.fields(cls))
