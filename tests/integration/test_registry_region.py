"""A region's side of the registry on SQLite and PostgreSQL, without a broker: recording claims in
the command's transaction, taking the worker's decisions through the inbox, the registry view,
recorded queries, and QueryPerson over a real gRPC server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest

from services.common.errors import ConcurrencyConflict, InvalidArgument, NotFound, RuleViolation
from services.common.events import Actor, TraceContext
from services.common.grpc_context import create_server, error_details
from services.common.identity import make_citizen_id
from services.common.kit.provenance import Provenance
from services.common.registry import (
    CLAIM_MUST_BE_GRANTED,
    ClaimKind,
    RegistryDecision,
    claim_stream_id,
    confirm_claim,
    decision_id,
    decision_reaction,
    query_person,
    read_claim,
    registry_servicer,
    release_claim,
    request_claim,
)
from services.common.registry.adapters import decision_to_proto
from services.common.store import EventStore, StoreTransaction
from tests.fixtures.trust import actor_metadata, authenticator
from tests.support import CLERK, unique_id
from tongban.registry.v1 import registry_pb2, registry_service_pb2, registry_service_pb2_grpc

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # the `clock` fixture's start
DECISION_RECORDED = registry_pb2.RegistryDecisionRecorded.DESCRIPTOR.full_name
QUERIED = registry_pb2.RegistryQueried.DESCRIPTOR.full_name


def person(n: int = 1) -> str:
    return make_citizen_id("640104", date(1990, 1, 1), n)


def claim(store: EventStore, claim_id: str, citizen_id: str, *, kind: ClaimKind = ClaimKind.LIVE_MARRIAGE,
          case_id: str = "marriage-1") -> None:
    with store.transaction() as tx:
        request_claim(tx, claim_id=claim_id, citizen_id=citizen_id, kind=kind, case_id=case_id,
                      provenance=Provenance(actor=CLERK, correlation_id=case_id, causation_id="cmd-1", occurred_at=NOW))


def decision(claim_id: str, citizen_id: str, outcome: str, *, region: str = "640000", service: str = "marriage",
             case_id: str = "marriage-1", kind: ClaimKind = ClaimKind.LIVE_MARRIAGE,
             holder: tuple[str, str, str] = ("", "", ""), at: datetime = NOW) -> RegistryDecision:
    return RegistryDecision(
        decision_id=decision_id(region, service, claim_id, outcome), claim_id=claim_id, citizen_id=citizen_id,
        kind=kind, case_id=case_id, region=region, service=service, outcome=outcome,
        holder_case_id=holder[0], holder_region=holder[1], holder_service=holder[2], decided_at=at,
        correlation_id=case_id, trace=TraceContext(),
    )


def wire(d: RegistryDecision) -> bytes:
    return decision_to_proto(d).SerializeToString()


def recorded_outcomes(store: EventStore, claim_id: str) -> list[str]:
    events = store.read_stream(claim_stream_id(claim_id))
    return [registry_pb2.DecisionOutcome.Name(registry_pb2.RegistryDecisionRecorded.FromString(e.payload)
                                              .decision.outcome).removeprefix("DECISION_OUTCOME_").lower()
            for e in events if e.type == DECISION_RECORDED]


def test_a_claim_is_recorded_in_the_command_transaction_and_bad_input_never_reaches_the_store(
        store: EventStore) -> None:
    """Invariant 7: InvalidArgument names each bad field; nothing is appended."""
    claim(store, "c-1", person())
    [requested] = store.read_stream(claim_stream_id("c-1"))
    message = requested.message()
    assert (message.citizen_id, message.region, message.service) == (person(), "640000", "marriage")
    head = store.head()
    with pytest.raises(InvalidArgument) as bad, store.transaction() as tx:
        request_claim(tx, claim_id="c-2", citizen_id="640104199001010019", kind="bigamy", case_id="",
                      provenance=Provenance(actor=CLERK, correlation_id="x", causation_id="y", occurred_at=NOW))
    assert {v.field for v in bad.value.violations} == {"citizen_id", "kind", "case_id"}
    with pytest.raises(ConcurrencyConflict):
        claim(store, "c-1", person(2))  # a claim id is used once: a retried command does not claim twice
    assert store.head() == head


def test_a_decision_for_this_region_is_recorded_once_and_its_reaction_commits_with_it(store: EventStore) -> None:
    """The reaction confirms the claim in the same transaction, as marriage does on registration."""
    citizen = person()
    claim(store, "c-1", citizen)
    seen: list[str] = []

    def on_decision(tx: StoreTransaction, d: RegistryDecision) -> None:
        seen.append(str(d.outcome))
        confirm_claim(tx, claim_id=d.claim_id, citizen_id=d.citizen_id, kind=d.kind, case_id=d.case_id,
                      provenance=Provenance(actor=Actor.system("640000", "marriage"), correlation_id=d.correlation_id,
                                            causation_id=d.decision_id, occurred_at=d.decided_at))

    react = decision_reaction("640000", "marriage", on_decision)
    granted = wire(decision("c-1", citizen, "granted"))
    assert react(store, granted, None) is True
    assert react(store, granted, None) is False, "a decision sent again after a worker crash has no effect"
    assert seen == ["granted"]
    types = [e.type.rsplit(".", 1)[-1] for e in store.read_stream(claim_stream_id("c-1"))]
    assert types == ["ClaimRequested", "RegistryDecisionRecorded", "ClaimConfirmed"]
    [entry] = query_person(store, citizen, actor=CLERK, reason="marriage registration 640104-2026-001")
    assert (entry.claim_id, entry.status, entry.holding) == ("c-1", "granted", True)


def test_a_reaction_that_fails_leaves_no_trace_and_the_decision_is_taken_on_redelivery(store: EventStore) -> None:
    citizen = person()
    claim(store, "c-1", citizen)
    calls: list[int] = []

    def flaky(tx: StoreTransaction, d: RegistryDecision) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")

    react = decision_reaction("640000", "marriage", flaky)
    denied = wire(decision("c-1", citizen, "denied", holder=("marriage-9", "510000", "marriage")))
    with pytest.raises(RuntimeError):
        react(store, denied, None)
    assert recorded_outcomes(store, "c-1") == []
    assert query_person(store, citizen, actor=CLERK, reason="check") == []
    assert react(store, denied, None) is True
    assert recorded_outcomes(store, "c-1") == ["denied"]


def test_every_regions_decisions_feed_the_view_but_only_ours_are_recorded_and_reacted_to(store: EventStore) -> None:
    citizen = person()
    called: list[RegistryDecision] = []
    react = decision_reaction("640000", "marriage", lambda tx, d: called.append(d))
    head = store.head()
    sichuan = decision("c-9", citizen, "granted", region="510000", case_id="marriage-9")
    relief = decision("d-1", citizen, "granted", region="640000", service="relief", case_id="relief-1",
                      kind=ClaimKind.DIBAO)
    assert react(store, wire(sichuan), None) and react(store, wire(relief), None)
    assert called == [] and store.head()[0] == head[0], "no event recorded for other regions' or services' claims"
    entries = query_person(store, citizen, actor=CLERK, reason="低保 household review")
    assert [(e.kind, e.region, e.service, e.holding) for e in entries] == [
        (ClaimKind.DIBAO, "640000", "relief", True), (ClaimKind.LIVE_MARRIAGE, "510000", "marriage", True)]


def test_the_view_never_moves_a_claim_back(store: EventStore) -> None:
    """A released hold stays released in the view even if a stray earlier decision arrives late."""
    citizen = person()
    react = decision_reaction("640000", "marriage", lambda tx, d: None)
    later = NOW + timedelta(minutes=5)
    assert react(store, wire(decision("c-9", citizen, "released", region="510000", at=later)), None)
    assert react(store, wire(decision("c-9", citizen, "granted", region="510000")), None)
    [entry] = query_person(store, citizen, actor=CLERK, reason="check")
    assert (entry.status, entry.holding, entry.decided_at) == ("released", False, later)


def test_only_a_granted_claim_can_be_confirmed(store: EventStore) -> None:
    """RegistryClaimMustBeGranted: before any decision, or after a denial or expiry, no confirm."""
    citizen = person()
    claim(store, "c-1", citizen)

    def confirm() -> None:
        with store.transaction() as tx:
            confirm_claim(tx, claim_id="c-1", citizen_id=citizen, kind=ClaimKind.LIVE_MARRIAGE, case_id="marriage-1",
                          provenance=Provenance(actor=CLERK, correlation_id="marriage-1", causation_id="cmd-2",
                                                occurred_at=NOW))

    with pytest.raises(RuleViolation) as undecided:
        confirm()
    assert undecided.value.rule == CLAIM_MUST_BE_GRANTED
    react = decision_reaction("640000", "marriage", lambda tx, d: None)
    react(store, wire(decision("c-1", citizen, "granted")), None)
    react(store, wire(decision("c-1", citizen, "expired", at=NOW + timedelta(hours=24))), None)
    with pytest.raises(RuleViolation):
        confirm()
    with pytest.raises(NotFound), store.transaction() as tx:
        confirm_claim(tx, claim_id="never", citizen_id=citizen, kind=ClaimKind.LIVE_MARRIAGE, case_id="marriage-1",
                      provenance=Provenance(actor=CLERK, correlation_id="x", causation_id="y", occurred_at=NOW))


def test_releasing_twice_records_one_release(store: EventStore) -> None:
    citizen = person()
    claim(store, "c-1", citizen, kind=ClaimKind.NURSING_SUBSIDY, case_id="disability-4")

    def release() -> str:
        with store.transaction() as tx:
            return release_claim(tx, claim_id="c-1", citizen_id=citizen, kind=ClaimKind.NURSING_SUBSIDY,
                                 case_id="disability-4", reason="application withdrawn",
                                 provenance=Provenance(actor=CLERK, correlation_id="disability-4",
                                                       causation_id=unique_id("cmd"), occurred_at=NOW)).event_id

    assert release() == release()
    with store.transaction() as tx:
        local = read_claim(tx, "c-1")
    assert local is not None and local.released is not None
    with pytest.raises(InvalidArgument) as wrong, store.transaction() as tx:
        release_claim(tx, claim_id="c-1", citizen_id=citizen, kind=ClaimKind.DIBAO, case_id="disability-4", reason="",
                      provenance=Provenance(actor=CLERK, correlation_id="x", causation_id="y", occurred_at=NOW))
    assert {v.field for v in wrong.value.violations} == {"reason"}


def test_every_query_is_recorded_with_who_asked_and_why(store: EventStore) -> None:
    """个人信息保护法: a look at a person's registry entries leaves a record; without a reason, or
    with a bad citizen id, there is neither an answer nor a record."""
    citizen = person()
    query_person(store, citizen, actor=CLERK, reason="marital status check for case 640104-2026-7")
    [queried] = store.read_stream(f"registry-queries-{citizen}")
    assert queried.type == QUERIED
    assert (queried.message().citizen_id, queried.message().reason) == (citizen,
                                                                       "marital status check for case 640104-2026-7")
    assert queried.actor == CLERK
    head = store.head()
    with pytest.raises(InvalidArgument) as bad:
        query_person(store, "640104199001010019", actor=CLERK, reason="  ")
    assert {v.field for v in bad.value.violations} == {"citizen_id", "reason"}
    assert store.head() == head


@pytest.fixture
def registry_stub(store: EventStore) -> Iterator[registry_service_pb2_grpc.RegistryServiceStub]:
    server, port = create_server("127.0.0.1:0", servicers=[registry_servicer(store)],
                                 authenticator=authenticator("640000"))
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield registry_service_pb2_grpc.RegistryServiceStub(channel)
    finally:
        channel.close()
        server.stop(grace=None)


def test_query_person_over_grpc_answers_from_the_view_and_records_the_calling_clerk(
        store: EventStore, registry_stub: registry_service_pb2_grpc.RegistryServiceStub) -> None:
    citizen = person()
    react = decision_reaction("640000", "marriage", lambda tx, d: None)
    react(store, wire(decision("c-9", citizen, "granted", region="510000", case_id="marriage-9")), None)
    react(store, wire(decision("c-1", citizen, "denied", holder=("marriage-9", "510000", "marriage"))), None)
    window = Actor(kind="clerk", clerk_id="c-0042", office_code="640104-MRO-01", region="640000", role="window")
    answer = registry_stub.QueryPerson(registry_service_pb2.QueryPersonRequest(citizen_id=citizen,
                                                                               reason="registration 2026-001"),
                                       metadata=actor_metadata(window))
    by_claim = {e.claim_id: e for e in answer.entries}
    assert by_claim["c-9"].holding and by_claim["c-9"].status == registry_pb2.DECISION_OUTCOME_GRANTED
    assert by_claim["c-1"].status == registry_pb2.DECISION_OUTCOME_DENIED and by_claim["c-1"].holder_region == "510000"
    [queried] = store.read_stream(f"registry-queries-{citizen}")
    assert queried.actor == window and queried.message().reason == "registration 2026-001"
    with pytest.raises(grpc.RpcError) as refused:
        registry_stub.QueryPerson(registry_service_pb2.QueryPersonRequest(citizen_id="12345", reason="x"),
                                  metadata=actor_metadata(window))
    details = error_details(refused.value)
    assert details.code is grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in details.field_violations] == ["citizen_id"]
