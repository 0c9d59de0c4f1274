"""The projection registry `audit replay` draws on, and the pure pieces of a case trail."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.engine import Connection

from services.common.audit.projections import (
    FoldProjection,
    ProjectionRegistry,
    default_registry,
    load_provider,
)
from services.common.audit.trail import event_kind, parse_as_of
from services.common.events import RecordedEvent

_md = MetaData()
_rows = Table("unit_rows", _md, Column("id", String(20), primary_key=True), Column("n", Integer))
_keyless = Table("unit_keyless", _md, Column("n", Integer))


class Rows(FoldProjection):
    name = "unit.rows"
    tables = (_rows,)

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        pass


def test_projections_register_per_service_and_names_are_unique() -> None:
    registry = ProjectionRegistry()
    registry.register(Rows(), services=["relief"])
    registry.register(Rows(), services=["relief"])  # the same read model twice: harmless
    assert [p.name for p in registry.for_service("relief")] == ["unit.rows"]
    assert registry.for_service("marriage") == []

    class Impostor(Rows):
        pass

    with pytest.raises(ValueError, match="two different projections"):
        registry.register(Impostor())

    class Keyless(Rows):
        name = "unit.keyless"
        tables = (_keyless,)

    with pytest.raises(ValueError, match="no primary key"):
        registry.register(Keyless())
    with pytest.raises(TypeError):
        registry.register(object())  # type: ignore[arg-type]


def test_the_default_registry_holds_the_deadlines_table_and_named_providers() -> None:
    registry = default_registry([f"{__name__}:provider"], discover=False)
    assert {"deadlines", "unit.rows"} <= set(registry.names())
    assert "deadlines" in [p.name for p in registry.for_service("any-service")]
    with pytest.raises(ValueError, match="module:function"):
        load_provider("no-colon")


def provider(registry: ProjectionRegistry) -> None:
    registry.register(Rows(), services=["relief"])


def test_trail_labels_and_as_of_times() -> None:
    assert parse_as_of("2026-03-02T18:00") == datetime(2026, 3, 2, 10, 0, tzinfo=UTC), "China Standard Time"
    assert parse_as_of("2026-03-02T18:00Z") == datetime(2026, 3, 2, 18, 0, tzinfo=UTC)

    def kind(stream_id: str, stream_type: str, type_: str) -> str:
        event = SimpleNamespace(stream_id=stream_id, stream_type=stream_type, type=type_)
        return event_kind(event)  # type: ignore[arg-type]

    assert kind("handoff-1", "handoff.Handoff", "tongban.handoff.v1.HandoffSent") == "handoff"
    assert kind("claim-1", "registry.Claim", "tongban.registry.v1.ClaimRequested") == "registry"
    assert kind("deadline-x", "common.Deadline", "tongban.common.v1.DeadlineFired") == "deadline"
    assert kind("audit-reads-c", "audit.AuditorReads", "tongban.audit.v1.AuditorRead") == "audit"
    assert kind("c-1", "marriage.Registration", "tongban.marriage.v1.MarriageRegistered") == "case"
