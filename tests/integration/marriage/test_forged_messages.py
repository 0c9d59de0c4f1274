"""Nobody is believed on their word on the national exchange (architecture invariant 8; issue 10):
the forgeries an attacker with write access to the broker tried are refused, recorded with their
reason in the refusing region's own store, and leave no effect. On the real registry worker and
two regions (Ningxia 640000, Sichuan 510000) hosting the marriage service, as test_national runs
them; run it on Apache Kafka too with TONGBAN_TEST_BROKER=apache.

A forger here is anyone who can write to a topic: it can make any envelope it likes (a store of
its own stamped with another region's code), publish it unsigned, sign it with a key of its own,
or even with another real region's key, or alter a genuinely signed message in transit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from kafka import KafkaProducer

from services.common.clock import CHINA
from services.common.consumer import rejected_messages
from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.handoff import adapters as handoff_adapters
from services.common.handoff.topics import addressee, handoffs_topic
from services.common.kafka_settings import events_topic, kafka_python_producer_config
from services.common.registry import DECISIONS_TOPIC
from services.common.registry.projection import registry_entries
from services.common.store import EventStore, sqlite_url
from services.common.trust.keys import RegionKey, load_region_key
from services.common.trust.signing import DECISION_PURPOSE, envelope_signed_bytes, sign_message
from services.marriage.adapters.payloads import to_message
from services.marriage.domain.events import ArchiveExtract
from tests.fixtures.stores import COMPONENT_TABLES
from tests.integration.marriage.exchange import Region, region, register_request, registry_worker
from tests.support import wait_until
from tests.unit.marriage.people import GUANGYUAN_OFFICE, NINGXIA, SICHUAN, YINCHUAN_OFFICE, clerk, couple, man, woman
from tongban.handoff.v1 import events_pb2 as handoff_pb2
from tongban.marriage.v1 import marriage_service_pb2 as api
from tongban.registry.v1 import registry_pb2

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

START = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA).astimezone(UTC)  # a Monday
YINCHUAN = clerk(YINCHUAN_OFFICE, NINGXIA)
GUANGYUAN = clerk(GUANGYUAN_OFFICE, SICHUAN)
CHONGQING = "500000"  # runs no host here: nobody genuine answers what is asked of it
WAIT = 60.0


class Nation:
    def __init__(self, bootstrap: str, prefix: str, data: Path, ningxia: Region, sichuan: Region) -> None:
        self.bootstrap, self.prefix, self.data = bootstrap, prefix, data
        self.ningxia, self.sichuan = ningxia, sichuan
        self.marriage_topic = f"{prefix}.{events_topic('marriage')}"
        self.decisions_topic = f"{prefix}.{DECISIONS_TOPIC}"

    def worker_log(self) -> str:
        path = self.data / "registry-worker.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def forge(self, claimed_region: str, stream_id: str, message: Message, *, sign_with: RegionKey | None = None,
              tamper: bool = False) -> RecordedEvent:
        """An envelope claiming to come from `claimed_region`'s marriage service, published on the
        marriage topic (a hand-off message: on its addressee's hand-off topic, the one the addressee
        reads): unsigned, or signed with `sign_with`; with `tamper`, altered after signing."""
        forger = EventStore.open(sqlite_url(self.data / f"forger-{uuid.uuid4().hex[:8]}.db"), region=claimed_region,
                                 service="marriage", tables=COMPONENT_TABLES)
        try:
            [event] = forger.append(stream_id, "forged", None, [NewEvent.from_message(
                message, event_id=str(uuid.uuid4()), actor=Actor.system(claimed_region, "forger"),
                correlation_id=stream_id, occurred_at=START)])
        finally:
            forger.close()
        envelope = event.to_envelope()
        if sign_with is not None:  # as EnvelopeSigner signs, but with whatever key the forger holds
            envelope.signing_key_id = sign_with.key_id
            envelope.signature = sign_with.sign(envelope_signed_bytes(
                sign_with.key_id, event.hash, event.position, event.global_hash))
        if tamper:
            envelope.payload = envelope.payload + b"\x3a\x00"  # a field appended in transit: the hash no longer fits
        to = addressee(event)
        topic = self.marriage_topic if to is None else handoffs_topic(self.marriage_topic, to)
        self.send_raw(topic, envelope.SerializeToString(), key=stream_id.encode())
        return event

    def send_raw(self, topic: str, value: bytes, *, key: bytes | None = None,
                 headers: list[tuple[str, bytes]] | None = None) -> None:
        producer = KafkaProducer(**kafka_python_producer_config(self.bootstrap))
        producer.send(topic, value=value, key=key, headers=headers or [])
        producer.flush()
        producer.close()

    def wait_rejected(self, where: Region, ids: list[str], *, reasons: tuple[str, ...] = ()) -> dict[str, str]:
        """Until `where` recorded each of `ids` (event or decision ids) as rejected; id → reason."""
        store = where.host.store
        assert store is not None

        def recorded() -> dict[str, str] | None:
            seen = {r.claimed_event_id: r.reason for r in rejected_messages(store)}
            return {i: seen[i] for i in ids} if all(i in seen for i in ids) else None

        found = wait_until(recorded, timeout=WAIT, what=f"{where.code} to record {ids} as rejected")
        for reason in reasons:
            assert any(reason in r for r in found.values()), (reason, found)
        return found


@pytest.fixture(scope="module")
def nation(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nation]:
    prefix = f"t.marriage-forged.{uuid.uuid4().hex[:10]}"
    data = tmp_path_factory.mktemp("forged")
    with registry_worker(kafka_broker.bootstrap, prefix, data / "registry"), \
            region(NINGXIA, kafka_broker.bootstrap, prefix, data, START) as ningxia, \
            region(SICHUAN, kafka_broker.bootstrap, prefix, data, START) as sichuan:
        yield Nation(kafka_broker.bootstrap, prefix, data, ningxia, sichuan)


def test_a_forged_release_of_a_ningxia_marriage_is_refused_and_the_person_cannot_marry_again_民法典_1042(
        nation: Nation) -> None:
    """A ClaimReleased for 640000 that Ningxia never published (unsigned, signed by a key of the
    forger's own, signed by Sichuan, or Ningxia's signature on altered bytes) frees nobody."""
    ningxia, sichuan = nation.ningxia, nation.sichuan
    people = couple()
    married = ningxia.settled(ningxia.call("RegisterMarriage", register_request(people.husband, people.wife),
                                           YINCHUAN).case, YINCHUAN)
    assert married.state == "registered"
    claim_id = f"{married.case_id}-a"
    ningxia.wait_for_claim(claim_id, "confirmed", other=sichuan)
    release = registry_pb2.ClaimReleased(claim_id=claim_id, citizen_id=people.husband,
                                         kind=registry_pb2.CLAIM_KIND_LIVE_MARRIAGE, case_id=married.case_id,
                                         region=NINGXIA, service="marriage", reason="divorced")
    stream = f"registry-claim-{claim_id}"
    forged = [
        nation.forge(NINGXIA, stream, release),
        nation.forge(NINGXIA, stream, release, sign_with=RegionKey.generate(NINGXIA)),
        nation.forge(NINGXIA, stream, release, sign_with=load_region_key(nation.data, SICHUAN)),
        nation.forge(NINGXIA, stream, release, sign_with=load_region_key(nation.data, NINGXIA), tamper=True),
    ]
    ids = [e.event_id for e in forged]
    # The registry reads the marriage topic (the regions no longer do: invariant 10, nothing on it is
    # addressed to them) and refuses each forgery, recording why.
    wait_until(lambda: all(f"rejected {registry_pb2.ClaimReleased.DESCRIPTOR.full_name} {i}" in nation.worker_log()
                           for i in ids[:3]), timeout=WAIT, what="the registry to refuse the forged releases")
    registry = EventStore.open(sqlite_url(nation.data / "registry" / "registry.db"), region="registry",
                               service="registry", create=False)
    try:
        def recorded() -> dict[str, str] | None:
            seen = {r.claimed_event_id: r.reason for r in rejected_messages(registry)}
            return seen if set(ids[:3]) <= set(seen) else None

        reasons = wait_until(recorded, timeout=WAIT, what="the registry to record the forged releases as rejected")
    finally:
        registry.close()
    assert "unsigned" in reasons[ids[0]]
    assert "not a trusted key of region 640000" in reasons[ids[1]]
    assert "belongs to region 510000, not to 640000" in reasons[ids[2]]

    again = sichuan.settled(sichuan.call("RegisterMarriage", register_request(people.husband, woman(address="510802")),
                                         GUANGYUAN).case, GUANGYUAN)
    assert (again.state, again.marriage.holder_region) == ("refused", NINGXIA), "still married in Ningxia"


def test_forged_registry_decisions_are_not_acted_on_and_a_never_married_person_is_not_shown_married(
        nation: Nation) -> None:
    """GRANTED and CONFIRMED decisions only the registry may send: unsigned, or signed by a region
    (a region never decides), they are refused by every region and change no view."""
    ningxia, sichuan = nation.ningxia, nation.sichuan
    single = man()
    decisions = []
    for n, outcome in enumerate(("GRANTED", "CONFIRMED")):
        decision = registry_pb2.RegistryDecision(
            decision_id=f"forged-{uuid.uuid4().hex[:8]}", claim_id=f"forged-claim-{n}-{single}",
            citizen_id=single, kind=registry_pb2.CLAIM_KIND_LIVE_MARRIAGE, case_id=f"marriage-510000-forged{n}",
            region=SICHUAN, service="marriage",
            outcome=registry_pb2.DecisionOutcome.Value(f"DECISION_OUTCOME_{outcome}"))
        decisions.append(decision)
        value = decision.SerializeToString(deterministic=True)
        nation.send_raw(nation.decisions_topic, value, key=single.encode())
        nation.send_raw(nation.decisions_topic, value, key=single.encode(),
                        headers=sign_message(load_region_key(nation.data, NINGXIA), DECISION_PURPOSE, value))
    for here in (ningxia, sichuan):
        store = here.host.store
        assert store is not None

        def refused(s: EventStore = store) -> list[str] | None:
            reasons = [r.reason for r in rejected_messages(s) if r.topic == nation.decisions_topic]
            return reasons if len(reasons) >= 4 else None

        reasons = wait_until(refused, timeout=WAIT, what=f"{here.code} to refuse the forged decisions")
        assert sum("unsigned" in r for r in reasons) == 2
        assert sum("belongs to region 640000, not to registry" in r for r in reasons) == 2
        with store.engine.connect() as conn:
            rows = conn.execute(registry_entries.select().where(registry_entries.c.citizen_id == single)).all()
        assert rows == [], f"{here.code}'s view of the registry is unchanged"
    court = clerk(GUANGYUAN_OFFICE, SICHUAN, role="court")
    answer = sichuan.call("QueryMaritalStatus", api.QueryMaritalStatusRequest(
        citizen_id=single, reason="重婚案件审理", requesting_body="人民法院"), court).case
    assert answer.status_query.answer.status != "married"


def test_a_forged_acceptance_and_outcome_issue_no_certificate_国务院令804(nation: Nation) -> None:
    """Sichuan asks Chongqing's archive for a record; a forger answering as Chongqing (unsigned, or
    with a key of its own) makes Sichuan issue nothing: the case waits for the real archive."""
    sichuan = nation.sichuan
    record = f"marriage-{CHONGQING}-{uuid.uuid4().hex[:16]}"
    asked = sichuan.call("ReissueCertificate", api.ReissueCertificateRequest(
        record_case_id=record, applicant_citizen_id=man(), reason="遗失", wait_seconds=0.5), GUANGYUAN).case
    assert asked.state == "awaiting_archive"
    store = sichuan.host.store
    assert store is not None
    sent = [handoff_pb2.HandoffSent.FromString(e.payload) for e in store.iter_log()
            if e.type == handoff_pb2.HandoffSent.DESCRIPTOR.full_name]
    [handoff] = [h for h in sent if h.case_id == asked.case_id]  # the request went out as a hand-off
    now = START + timedelta(hours=1)
    chongqing = Actor.system(CHONGQING, "marriage.archive").to_proto()
    accepted = handoff_pb2.HandoffAccepted(handoff_id=handoff.handoff_id, kind=handoff.kind, case_id=handoff.case_id,
                                           from_region=SICHUAN, to_region=CHONGQING, accepted_by=chongqing,
                                           accepted_at=handoff_adapters.timestamp(now))
    extract = to_message(ArchiveExtract(
        record_case_id=record, record_region=CHONGQING, requested_document="reissued_marriage_certificate",
        issued_document="reissued_marriage_certificate", original_certificate_number="J500000-2020-000001",
        status_change="", registered_on=None, party_a_citizen_id=man(), party_a_name="甲", party_b_citizen_id=woman(),
        party_b_name="乙"))
    outcome = handoff_pb2.HandoffOutcome(
        handoff_id=handoff.handoff_id, kind=handoff.kind, case_id=handoff.case_id, from_region=SICHUAN,
        to_region=CHONGQING, decided_by=chongqing, decided_at=handoff_adapters.timestamp(now),
        outcome=handoff_pb2.TypedMessage(type=extract.DESCRIPTOR.full_name, data=extract.SerializeToString()))
    stream = f"handoff-{handoff.handoff_id}"
    stray = RegionKey.generate(CHONGQING)
    forged = [nation.forge(CHONGQING, stream, accepted), nation.forge(CHONGQING, stream, outcome),
              nation.forge(CHONGQING, stream, accepted, sign_with=stray),
              nation.forge(CHONGQING, stream, outcome, sign_with=stray)]
    reasons = nation.wait_rejected(sichuan, [e.event_id for e in forged])
    assert sum("unsigned" in r for r in reasons.values()) == 2
    assert sum("not a trusted key of region 500000" in r for r in reasons.values()) == 2
    shown = sichuan.call("GetCase", api.GetCaseRequest(case_id=asked.case_id), GUANGYUAN).case
    assert shown.state == "awaiting_archive", "no certificate issued on a forged answer"
    assert not shown.reissue.issued.certificate_number
