"""Event versioning: a stored payload is read at the version it was written in and upcast to the
current one; what is appended is always the current version (services/common/kit/codec.py).

The real change: PartyClaimDenied v1 kept the registry's holder in three flat fields; v2 nests
them in one ClaimHolder. Rows written as v1 stay as they are (their hashes cover their bytes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.clock import FakeClock
from services.common.events import Actor, TraceContext
from services.common.kit import PayloadCodec, Provenance, UnknownSchemaVersion
from services.common.store import EventStore, sqlite_url
from services.common.store.verify import verify_store
from services.host import Infrastructure
from services.marriage.adapters.payloads import CODEC, EVENT_CLASSES, VALUE_CLASSES
from services.marriage.application import handlers
from services.marriage.bootstrap import bootstrap
from services.marriage.domain.commands import PartyInput, RegisterMarriage
from services.marriage.domain.events import ClaimHolder, PartyClaimDenied
from services.marriage.domain.marriage import Marriage
from tests.unit.marriage.people import DECLARED, clerk, couple
from tongban.marriage.v1 import events_pb2


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    opened = EventStore.open(sqlite_url(tmp_path / "marriage.db"), region="640000", service="marriage",
                             clock=FakeClock())
    yield opened
    opened.close()


def _v1_denial(claim_id: str, citizen_id: str) -> events_pb2.PartyClaimDenied:
    return events_pb2.PartyClaimDenied(claim_id=claim_id, citizen_id=citizen_id, decision_id="d-1", outcome="denied",
                                       holder_case_id="marriage-510000-x", holder_region="510000",
                                       holder_service="marriage")


def test_a_version_1_row_reads_back_as_version_2_and_stays_as_written(store: EventStore) -> None:
    service = bootstrap(Infrastructure.over(store))
    people = couple()
    command = RegisterMarriage(PartyInput(people.husband, "张三", DECLARED), PartyInput(people.wife, "李四", DECLARED))
    case_id = handlers.register_marriage(service.deps, command, clerk())
    marriage = service.deps.store.read_stream(case_id)
    party = CODEC.decode(marriage[0]).party_a
    provenance = Provenance(Actor.system("640000", "test"), case_id, "old-release", store.clock.now(), TraceContext())
    [old] = store.append(case_id, Marriage.stream_type, len(marriage),
                         [provenance.new_event(_v1_denial(party.claim_id, party.citizen_id), schema_version=1)])

    assert CODEC.decode(old) == PartyClaimDenied(party.claim_id, party.citizen_id, "d-1", "denied",
                                                 ClaimHolder("marriage-510000-x", "510000", "marriage"))
    with service.deps.units.begin(provenance) as uow:
        assert uow.load(Marriage, case_id).lost == {party.claim_id: "d-1"}, "the fold sees the upcast event"
    [again] = store.read_stream(case_id, after_version=old.version - 1)
    assert (again.schema_version, again.payload) == (1, old.payload), "the stored row is never rewritten"
    assert verify_store(store).ok


def test_what_is_appended_is_the_current_version() -> None:
    denied = PartyClaimDenied("c-1", "110101199001010011", "d-2", "expired", ClaimHolder("", "", ""))
    provenance = Provenance(Actor.system("640000", "test"), "case", "cause", FakeClock().now(), TraceContext())
    new = CODEC.new_event(denied, provenance)
    assert new.schema_version == 2
    message = events_pb2.PartyClaimDenied.FromString(new.payload)
    assert not message.holder_region and message.HasField("holder"), "deprecated fields are never written"


def test_a_version_this_code_cannot_read_is_refused_not_guessed() -> None:
    with pytest.raises(UnknownSchemaVersion, match="schema version 3"):
        CODEC.upcast(PartyClaimDenied, 3, events_pb2.PartyClaimDenied())
    with pytest.raises(ValueError, match="no upcaster from \\[1\\]"):
        PayloadCodec(events_pb2, EVENT_CLASSES, VALUE_CLASSES, versions={PartyClaimDenied: 2})
