"""Two regions, each a real host process (services.host) with its own SQLite store, on
the session broker: cases and requests handed between Ningxia (640000) and Sichuan (510000) over
Kafka, driven through each region's gRPC front door (architecture invariants 1, 4, 6, 7).

The two hosts are started once for the module; each test works on its own cases. The hosts
share a data directory, so one controlled clock moves both (services.common.clock_control)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.wrappers_pb2 import StringValue

from services.common import clock_control
from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.grpc_context import ErrorDetails, error_details
from services.common.handoff import adapters
from services.common.handoff import projections as tables
from services.common.handoff.topics import handoff_route
from services.common.kafka_settings import events_topic
from services.common.relay import OutboxRelay
from services.common.relay_producer import kafka_producer
from services.common.store import EventStore, sqlite_url
from tests.fixtures.stores import COMPONENT_TABLES
from tests.fixtures.trust import actor_metadata, install_idp
from tests.handoff_region_app import ADD_NOTE, SERVICE
from tests.support import unique_id, wait_until
from tongban.handoff.v1 import events_pb2
from tongban.handoff.v1 import handoff_service_pb2 as api
from tongban.handoff.v1 import handoff_service_pb2_grpc as api_grpc

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]
NINGXIA, SICHUAN, SHAANXI = "640000", "510000", "610000"
LONG = dict(accept_within=Duration(seconds=10 * 86_400), answer_within=Duration(seconds=20 * 86_400))
WAIT = 60.0  # seconds: a message crosses relay → broker → the other host's agent in well under a second


@dataclass
class Region:
    code: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    channel: grpc.Channel | None = None

    @cached_property
    def stub(self) -> api_grpc.HandoffServiceStub:
        return api_grpc.HandoffServiceStub(self.channel)

    @cached_property
    def store(self) -> EventStore:
        """The region's store, opened read-side from the test process (SQLite WAL allows it)."""
        url = sqlite_url(self.data_dir / self.code / f"{SERVICE}.db")
        return EventStore.open(url, region=self.code, service=SERVICE, create=False)

    @property
    def meta(self) -> list[tuple[str, str]]:
        return actor_metadata(Actor(kind="clerk", clerk_id=f"clerk-{self.code}", office_code=f"{self.code}-W1",
                                    region=self.code, role="clerk"))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def add_note(self, case_id: str, text: str) -> None:
        assert self.channel is not None
        call = self.channel.unary_unary(ADD_NOTE, request_serializer=StringValue.SerializeToString,
                                        response_deserializer=StringValue.FromString)
        call(StringValue(value=f"{case_id}|{text}"), metadata=self.meta)

    def refused(self, call: Any, request: Any) -> ErrorDetails:
        with pytest.raises(grpc.RpcError) as failed:
            call(request, metadata=self.meta)
        return error_details(failed.value)

    def handoff(self, handoff_id: str) -> api.Handoff | None:
        try:
            return self.stub.GetHandoff(api.GetHandoffRequest(handoff_id=handoff_id), metadata=self.meta).handoff
        except grpc.RpcError as missing:
            if missing.code() is grpc.StatusCode.NOT_FOUND:
                return None
            raise

    def wait_state(self, handoff_id: str, state: int) -> api.Handoff:
        def reached() -> api.Handoff | None:
            self.alive()
            found = self.handoff(handoff_id)
            return found if found is not None and found.state == state else None

        return wait_until(reached, timeout=WAIT, what=f"{self.code} to record {handoff_id} as "
                                                      f"{api.HandoffState.Name(state)}")

    def types(self, handoff_id: str) -> list[str]:
        return [e.type.rsplit(".", 1)[-1] for e in self.store.read_stream(f"handoff-{handoff_id}")]

    def alive(self) -> None:
        assert self.proc.poll() is None, f"host {self.code} died:\n{self.log()[-4000:]}"


@dataclass
class Regions:
    ningxia: Region
    sichuan: Region
    data_dir: Path
    topic: str
    bootstrap: str


def _start(code: str, data_dir: Path, bootstrap: str, prefix: str) -> Region:
    log_path = data_dir / f"host-{code}.log"
    install_idp(data_dir, code)
    argv = [sys.executable, "-m", "services.host", "--definition", "tests.handoff_region_app:definition",
            "--region", code, "--kafka", bootstrap, "--data-dir", str(data_dir), "--clock", "controlled",
            "--topic-prefix", prefix, "--scheduler-interval", "0.2", "--loglevel", "info"]
    env = {k: v for k, v in os.environ.items() if k not in ("TONGBAN_TRACING",)}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Region(code, data_dir, proc, log_path)


@pytest.fixture(scope="module")
def regions(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Regions]:
    data_dir = tmp_path_factory.mktemp("regions")
    prefix = f"t.handoff-regions.{uuid.uuid4().hex[:10]}"
    both = [_start(code, data_dir, kafka_broker.bootstrap, prefix) for code in (NINGXIA, SICHUAN)]
    try:
        for region in both:
            endpoint = data_dir / region.code / f"{SERVICE}.endpoint"

            def up(r: Region = region, e: Path = endpoint) -> bool:
                r.alive()
                return e.exists() and e.read_text().strip() != ""

            wait_until(up, timeout=90, what=f"host {region.code} to serve gRPC")
            region.channel = grpc.insecure_channel(endpoint.read_text().strip())
        yield Regions(both[0], both[1], data_dir, f"{prefix}.{events_topic(SERVICE)}", kafka_broker.bootstrap)
    finally:
        for region in both:
            if region.channel is not None:
                region.channel.close()
            if "store" in region.__dict__:
                region.store.close()
            if region.proc.poll() is None:
                region.proc.kill()
                region.proc.wait(timeout=10)


def test_a_case_handed_back_and_forth_moves_owner_only_on_acceptance_and_outcomes_return(regions: Regions) -> None:
    """异地代收代办 both ways: ownership moves only when the acceptance is recorded; until then the
    sender owns the case and the other region refuses writes, naming the owner."""
    nx, sc = regions.ningxia, regions.sichuan
    case = unique_id("disability")
    nx.add_note(case, "application received at the Yinchuan window")
    there = nx.stub.ForwardCase(api.ForwardCaseRequest(case_id=case, to_region=SICHUAN, work="户籍地审核决定",
                                                       **LONG), metadata=nx.meta).handoff
    assert (there.direction, there.state) == (api.DIRECTION_OUTGOING, api.HANDOFF_STATE_PENDING)

    received = sc.wait_state(there.handoff_id, api.HANDOFF_STATE_PENDING)
    latest_at_origin = nx.store.read_stream(case)[-1]
    assert (received.direction, received.from_region, received.case_id) == (api.DIRECTION_INCOMING, NINGXIA, case)
    assert received.origin_latest_hash == latest_at_origin.hash
    assert StringValue.FromString(received.case_snapshot.data).value == "application received at the Yinchuan window"
    for call, request in ((sc.add_note, None),
                          (sc.stub.ForwardCase, api.ForwardCaseRequest(case_id=case, to_region=SHAANXI, **LONG))):
        if request is None:
            with pytest.raises(grpc.RpcError) as failed:
                sc.add_note(case, "a note from the wrong region")
            denied = error_details(failed.value)
        else:
            denied = sc.refused(call, request)
        assert (denied.code, denied.owner_region) == (grpc.StatusCode.PERMISSION_DENIED, NINGXIA)

    accepted = sc.stub.AcceptHandoff(api.AcceptHandoffRequest(handoff_id=there.handoff_id), metadata=sc.meta).handoff
    assert accepted.state == api.HANDOFF_STATE_ACCEPTED
    nx.wait_state(there.handoff_id, api.HANDOFF_STATE_ACCEPTED)
    with pytest.raises(grpc.RpcError) as moved:
        nx.add_note(case, "too late: the case is Sichuan's now")
    assert (error_details(moved.value).code, error_details(moved.value).owner_region) == (
        grpc.StatusCode.PERMISSION_DENIED, SICHUAN)

    decision = StringValue(value="approved: 110 yuan/month from March")
    sc.stub.CompleteHandoff(api.CompleteHandoffRequest(handoff_id=there.handoff_id, outcome=events_pb2.TypedMessage(
        type=decision.DESCRIPTOR.full_name, data=decision.SerializeToString())), metadata=sc.meta)
    answered = nx.wait_state(there.handoff_id, api.HANDOFF_STATE_ANSWERED)
    assert StringValue.FromString(answered.outcome.data) == decision
    assert nx.store.read_stream(case)[-1].message() == StringValue(
        value="outcome from 510000: approved: 110 yuan/month from March"), "recorded in the origin case"

    # And back: Sichuan, now the owner, forwards the case to Ningxia.
    back = sc.stub.ForwardCase(api.ForwardCaseRequest(case_id=case, to_region=NINGXIA, **LONG),
                               metadata=sc.meta).handoff
    nx.wait_state(back.handoff_id, api.HANDOFF_STATE_PENDING)
    nx.stub.AcceptHandoff(api.AcceptHandoffRequest(handoff_id=back.handoff_id), metadata=nx.meta)
    sc.wait_state(back.handoff_id, api.HANDOFF_STATE_ACCEPTED)
    nx.add_note(case, "back home")
    with pytest.raises(grpc.RpcError) as gone:
        sc.add_note(case, "no longer ours")
    assert error_details(gone.value).owner_region == NINGXIA

    assert nx.types(there.handoff_id) == ["HandoffSent", "HandoffAccepted", "HandoffOutcomeReceived"]
    assert sc.types(there.handoff_id) == ["HandoffReceived", "HandoffAccepted", "HandoffOutcome"]
    assert nx.types(back.handoff_id) == ["HandoffReceived", "HandoffAccepted"]
    assert sc.types(back.handoff_id) == ["HandoffSent", "HandoffAccepted"]
    outgoing = nx.stub.ListHandoffs(api.ListHandoffsRequest(direction=api.DIRECTION_OUTGOING), metadata=nx.meta)
    incoming = nx.stub.ListHandoffs(api.ListHandoffsRequest(direction=api.DIRECTION_INCOMING,
                                                            state=api.HANDOFF_STATE_ACCEPTED), metadata=nx.meta)
    assert there.handoff_id in [h.handoff_id for h in outgoing.handoffs]
    assert back.handoff_id in [h.handoff_id for h in incoming.handoffs]


def test_a_refusal_travels_back_and_the_sender_keeps_the_case(regions: Regions) -> None:
    nx, sc = regions.ningxia, regions.sichuan
    case = unique_id("disability")
    nx.add_note(case, "application")
    sent = nx.stub.ForwardCase(api.ForwardCaseRequest(case_id=case, to_region=SICHUAN, **LONG),
                               metadata=nx.meta).handoff
    sc.wait_state(sent.handoff_id, api.HANDOFF_STATE_PENDING)
    sc.stub.RefuseHandoff(api.RefuseHandoffRequest(handoff_id=sent.handoff_id, reason="户籍不在四川"),
                          metadata=sc.meta)
    refused = nx.wait_state(sent.handoff_id, api.HANDOFF_STATE_REFUSED)
    assert refused.refusal_reason == "户籍不在四川"
    nx.add_note(case, "still ours: tell the applicant")
    with pytest.raises(grpc.RpcError) as denied:
        sc.add_note(case, "never ours")
    assert error_details(denied.value).owner_region == NINGXIA


def test_requested_work_is_answered_without_moving_ownership(regions: Regions) -> None:
    """多地联办: the residence region asks the hukou region for the family economic check."""
    nx, sc = regions.ningxia, regions.sichuan
    case = unique_id("relief")
    nx.add_note(case, "低保 application by a residence-permit holder")
    asked = nx.stub.RequestWork(api.RequestWorkRequest(case_id=case, to_region=SICHUAN, work="家庭经济状况核对",
                                                       **LONG), metadata=nx.meta).handoff
    sc.wait_state(asked.handoff_id, api.HANDOFF_STATE_PENDING)
    sc.stub.AcceptHandoff(api.AcceptHandoffRequest(handoff_id=asked.handoff_id), metadata=sc.meta)
    check = StringValue(value="per-capita monthly income 420 yuan; no vehicle")
    sc.stub.CompleteHandoff(api.CompleteHandoffRequest(handoff_id=asked.handoff_id, outcome=events_pb2.TypedMessage(
        type=check.DESCRIPTOR.full_name, data=check.SerializeToString())), metadata=sc.meta)
    nx.wait_state(asked.handoff_id, api.HANDOFF_STATE_ANSWERED)
    assert nx.store.read_stream(case)[-1].message().value.endswith("420 yuan; no vehicle")  # type: ignore[attr-defined]
    nx.add_note(case, "the case never left Ningxia")
    with pytest.raises(grpc.RpcError) as denied:
        sc.add_note(case, "work done, case not ours")
    assert error_details(denied.value).owner_region == NINGXIA


def _snapshot(store: EventStore) -> tuple[Any, ...]:
    with store.engine.connect() as conn:
        handoffs = sorted(tuple(r) for r in conn.execute(tables.handoffs.select()))
        owners = sorted(tuple(r) for r in conn.execute(tables.case_owners.select()))
    return store.head(), handoffs, owners


def _addressed_to(store: EventStore, region: str) -> list[RecordedEvent]:
    found = []
    for event in store.iter_log():
        if event.type in adapters.MESSAGE_TYPES and event.region == store.region:
            message = adapters.from_payload(event.type, event.payload)
            addressee = message.to_region if event.type == adapters.SENT else message.from_region  # type: ignore[union-attr]
            if addressee == region:
                found.append(event)
    return found


class _NoProducer:
    """The relay is only used here to move its cursor; the host's own relay publishes."""

    def send(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("not used")

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


def test_republishing_every_event_of_both_stores_changes_nothing(regions: Regions) -> None:
    """At-least-once (invariant 1): each region gets every message addressed to it again, and
    neither store, table nor owner changes."""
    nx, sc = regions.ningxia, regions.sichuan
    case = unique_id("relief")
    nx.add_note(case, "application")
    asked = nx.stub.RequestWork(api.RequestWorkRequest(case_id=case, to_region=SICHUAN, work="核对", **LONG),
                                metadata=nx.meta).handoff
    sc.wait_state(asked.handoff_id, api.HANDOFF_STATE_PENDING)
    sc.stub.RefuseHandoff(api.RefuseHandoffRequest(handoff_id=asked.handoff_id, reason="no record"), metadata=sc.meta)
    nx.wait_state(asked.handoff_id, api.HANDOFF_STATE_REFUSED)
    before = (_snapshot(nx.store), _snapshot(sc.store))
    to_sichuan, to_ningxia = _addressed_to(nx.store, SICHUAN), _addressed_to(sc.store, NINGXIA)
    assert to_sichuan and to_ningxia

    for region in (nx, sc):
        relay = OutboxRelay(region.store, _NoProducer(), regions.topic)  # the host's relay, by name
        # Rewind only once the host's relay is idle: a batch in flight would save its cursor over
        # the rewind (OutboxRelay._save_cursor only refuses to go backwards, not to overwrite one).
        wait_until(lambda r=region, rl=relay: rl.cursor() == r.store.head()[0], timeout=WAIT,
                   what=f"{region.code}'s relay to publish everything")
        relay.republish_from(0)

    for region, expected in ((sc, to_sichuan), (nx, to_ningxia)):
        def all_seen_again(r: Region = region, events: list[RecordedEvent] = expected) -> bool:
            r.alive()
            log = r.log()
            return all(f"duplicate {e.type} {e.event_id}" in log for e in events)

        wait_until(all_seen_again, timeout=WAIT, what=f"{region.code} to receive its {len(expected)} messages again")
    assert (_snapshot(nx.store), _snapshot(sc.store)) == before


def test_a_message_whose_declared_sender_cannot_have_sent_it_is_rejected(regions: Regions, tmp_path: Path) -> None:
    """A region acts only on messages addressed to it, from the region that declares to send
    them: a Shaanxi store posing as Ningxia, or answering a hand-off sent to Sichuan, is ignored
    and nothing is recorded."""
    nx, sc = regions.ningxia, regions.sichuan
    case = unique_id("disability")
    nx.add_note(case, "application")
    genuine = nx.stub.ForwardCase(api.ForwardCaseRequest(case_id=case, to_region=SICHUAN, **LONG),
                                  metadata=nx.meta).handoff
    sc.wait_state(genuine.handoff_id, api.HANDOFF_STATE_PENDING)

    forger = EventStore.open(sqlite_url(tmp_path / "forger.db"), region=SHAANXI, service=SERVICE,
                             tables=COMPONENT_TABLES)
    actor = Actor.system(SHAANXI, "forger")
    now = forger.clock.now()
    poses_as_ningxia = events_pb2.HandoffSent(
        handoff_id=unique_id("forged"), kind=events_pb2.HANDOFF_KIND_FORWARD_CASE, case_id=case, from_region=NINGXIA,
        to_region=SICHUAN, sent_at=adapters.timestamp(now), accept_within=Duration(seconds=60),
        answer_within=Duration(seconds=60), sent_by=actor.to_proto())
    answers_for_sichuan = events_pb2.HandoffAccepted(
        handoff_id=genuine.handoff_id, kind=events_pb2.HANDOFF_KIND_FORWARD_CASE, case_id=case, from_region=NINGXIA,
        to_region=SHAANXI, accepted_by=actor.to_proto(), accepted_at=adapters.timestamp(now))
    forged = []
    for message in (poses_as_ningxia, answers_for_sichuan):
        [event] = forger.append(f"handoff-{message.handoff_id}", adapters.STREAM_TYPE, None, [NewEvent.from_message(
            message, event_id=str(uuid.uuid4()), actor=actor, correlation_id=case, occurred_at=now)])
        forged.append(event)
    producer = kafka_producer(regions.bootstrap)
    try:
        # Published as a region's relay publishes: each message also to its addressee's hand-off topic.
        OutboxRelay(forger, producer, regions.topic, name="forger",
                    extra_topics=handoff_route(regions.topic)).publish_pending()
    finally:
        producer.close()
        forger.close()

    wait_until(lambda: f"rejected {forged[0].type} {forged[0].event_id}" in sc.log(), timeout=WAIT,
               what="Sichuan to reject the message posing as Ningxia's")
    wait_until(lambda: f"rejected {forged[1].type} {forged[1].event_id}" in nx.log(), timeout=WAIT,
               what="Ningxia to reject Shaanxi's answer to a hand-off sent to Sichuan")
    assert sc.handoff(poses_as_ningxia.handoff_id) is None
    assert nx.wait_state(genuine.handoff_id, api.HANDOFF_STATE_PENDING).state == api.HANDOFF_STATE_PENDING
    for region, event in ((sc, forged[0]), (nx, forged[1])):
        assert not any(region.store.is_processed(c, event.event_id) for c in ("handoff",)), "no inbox row either"


def test_an_unanswered_request_shows_as_overdue_when_the_clock_passes_its_limit(regions: Regions) -> None:
    """Limits are deadlines fired from the (controlled) clock of each host: nothing is silently
    lost. Moving the shared clock 3 hours on leaves the other tests' 10-day limits untouched."""
    nx, sc = regions.ningxia, regions.sichuan
    case = unique_id("relief")
    nx.add_note(case, "application")
    asked = nx.stub.RequestWork(api.RequestWorkRequest(
        case_id=case, to_region=SICHUAN, work="家庭经济状况核对", accept_within=Duration(seconds=3600),
        answer_within=Duration(seconds=7200)), metadata=nx.meta).handoff
    sc.wait_state(asked.handoff_id, api.HANDOFF_STATE_PENDING)
    overdue = nx.stub.ListOverdue(api.ListOverdueRequest(), metadata=nx.meta)
    assert asked.handoff_id not in [h.handoff_id for h in overdue.handoffs]

    clock_control.advance(regions.data_dir, timedelta(hours=3))
    for region, direction in ((nx, api.DIRECTION_OUTGOING), (sc, api.DIRECTION_INCOMING)):
        def fired(r: Region = region) -> bool:
            r.alive()
            return r.types(asked.handoff_id).count("HandoffOverdue") == 2

        wait_until(fired, timeout=WAIT, what=f"{region.code}'s scheduler to record both limits as passed")
        listed = region.stub.ListOverdue(api.ListOverdueRequest(direction=direction), metadata=region.meta)
        [late] = [h for h in listed.handoffs if h.handoff_id == asked.handoff_id]
        assert list(late.overdue) == [events_pb2.HANDOFF_STAGE_ACCEPTANCE, events_pb2.HANDOFF_STAGE_ANSWER]
        assert late.state == api.HANDOFF_STATE_PENDING


def test_hosts_stop_cleanly_on_sigterm(regions: Regions) -> None:
    for region in (regions.ningxia, regions.sichuan):
        region.proc.send_signal(signal.SIGTERM)
    for region in (regions.ningxia, regions.sichuan):
        assert region.proc.wait(timeout=30) == 0, region.log()[-3000:]
        assert not (regions.data_dir / region.code / f"{SERVICE}.endpoint").exists()
