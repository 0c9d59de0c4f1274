"""A new service is its domain, its handlers and its wiring — nothing else (issue 9).

tests/kit_sample/ is the smallest service the kit allows: one aggregate, one command, one event,
one read model. This test counts its lines, adds it to the catalogue, and shows that the CLI
(`tongban serve`, `relay`, its operator commands), `tongban up`, the host and the audit tools pick
it up from there, and that it records through a real SQLite store with its read model in step."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from services import catalogue
from services.cli import build_parser
from services.common.audit.projections import service_providers
from services.common.clock import FakeClock
from services.common.errors import RuleViolation
from services.common.events import Actor
from services.common.store import EventStore, sqlite_url
from services.host import Infrastructure
from services.host.cli import load_definition
from services.stack.config import available_services
from tests.kit_sample import bootstrap
from tests.kit_sample.domain import Notebook
from tests.kit_sample.projections import notebooks

SAMPLE = Path(__file__).resolve().parents[1] / "kit_sample"
CLERK = Actor("clerk", "c-1", "640104-MRO-01", "640000", "registrar")


@pytest.fixture
def with_notes(monkeypatch: pytest.MonkeyPatch) -> catalogue.CatalogueEntry:
    entry = catalogue.CatalogueEntry("notes", "笔记 notes (kit sample)", "tests.kit_sample")
    monkeypatch.setattr(catalogue, "SERVICES", (*catalogue.SERVICES, entry))
    return entry


def test_the_sample_service_is_small() -> None:
    lines = {p.relative_to(SAMPLE).as_posix(): len(p.read_text().splitlines()) for p in SAMPLE.rglob("*.py")}
    print("\nkit sample service:", ", ".join(f"{name} {n} lines" for name, n in sorted(lines.items())),
          f"— {sum(lines.values())} in all")
    assert lines["bootstrap.py"] <= 40, "wiring a service is a few lines"
    assert sum(lines.values()) <= 150


def test_the_catalogue_is_how_the_cli_up_the_host_and_the_audit_find_a_service(
        with_notes: catalogue.CatalogueEntry) -> None:
    assert "notes" in available_services(), "tongban up hosts every catalogued service"
    assert load_definition("notes", None).name == "notes", "tongban serve --service notes"
    args = build_parser().parse_args(["relay", "--db", "x.db", "--service", "notes", "--region", "640000",
                                      "--kafka", "127.0.0.1:9"])
    assert args.service == "notes", "tongban relay takes the catalogue's services"
    assert "tests.kit_sample.projections:register_projections" in service_providers(), "audit replay finds it"
    with pytest.raises(KeyError, match=r"marriage, (.*, )?notes"):  # the catalogue lists every service
        catalogue.entry("nothing")


def test_the_sample_records_through_the_unit_of_work_with_its_read_model(tmp_path: Path) -> None:
    definition = bootstrap.definition()
    store = EventStore.open(sqlite_url(tmp_path / "notes.db"), region="640000", service="notes", clock=FakeClock(),
                            tables=definition.tables)
    try:
        units = bootstrap.bootstrap(Infrastructure.over(store))
        for text in ("一", "二", "三"):
            bootstrap.take_note(units, "notebook-1", text, CLERK)
        with pytest.raises(RuleViolation, match="NotebookHasRoom"):
            bootstrap.take_note(units, "notebook-1", "四", CLERK)
        stream = store.read_stream("notebook-1")
        assert [e.version for e in stream] == [1, 2, 3], "the refused fourth note recorded nothing"
        assert {e.actor for e in stream} == {CLERK} and stream[0].correlation_id == "notebook-1"
        with store.engine.connect() as conn:
            assert conn.execute(select(notebooks.c.notes)).scalar() == 3, "the read model moved with the log"
        assert Notebook.fold((bootstrap.CODEC.decode(e), e.recorded_at) for e in stream).notes == ["一", "二", "三"]
    finally:
        store.close()
