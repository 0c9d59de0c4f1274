"""Invariant 10, a region's work follows its own cases: where the registry's decisions go, who may
read them, and what one region reads as the country grows (bench exchange's routing)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message
from google.protobuf.wrappers_pb2 import StringValue

from services.common.bench_exchange import messages_read, national_decisions, simulated_regions
from services.common.bench_handoffs import partner
from services.common.events import Actor, RecordedEvent, TraceContext
from services.common.handoff.topics import addressee, handoff_route, handoffs_prefix, handoffs_topic
from services.common.kafka_acls import deployment_acls, region_user, user
from services.common.registry.topics import (
    DECISIONS_TOPIC,
    consumed_decision_topics,
    decision_topics,
    is_region_decisions_topic,
    redundant_on_the_national_record,
    region_decisions_topic,
)
from tongban.handoff.v1 import events_pb2 as pb
from tongban.registry.v1 import registry_pb2

NINGXIA, SICHUAN = "640000", "510000"
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_each_region_has_its_own_decisions_topic_and_a_prefix_carries_over() -> None:
    assert region_decisions_topic(NINGXIA) == "tongban.registry.decisions.640000.v1"
    assert region_decisions_topic(NINGXIA, "t.x.tongban.registry.decisions.v1") == \
        "t.x.tongban.registry.decisions.640000.v1"
    assert region_decisions_topic(NINGXIA, "t.decisions") == "t.decisions.640000"
    with pytest.raises(ValueError, match="6-digit"):
        region_decisions_topic("ningxia")


def test_a_grant_goes_to_the_claimant_only_and_a_confirmation_also_to_the_national_record() -> None:
    """A granted, denied or expired claim concerns its claimant alone; a confirmed or released hold
    changes the person's status on the national record, which every region's status check reads."""
    own = region_decisions_topic(NINGXIA)
    for outcome in ("granted", "denied", "expired"):
        assert decision_topics(NINGXIA, outcome) == [own]
    for outcome in ("confirmed", "released"):
        assert decision_topics(NINGXIA, outcome) == [own, DECISIONS_TOPIC]
    assert consumed_decision_topics(SICHUAN) == [region_decisions_topic(SICHUAN), DECISIONS_TOPIC]


def test_the_audit_finds_every_regions_decisions_topic_and_nothing_else() -> None:
    assert is_region_decisions_topic("tongban.registry.decisions.640000.v1")
    assert is_region_decisions_topic("p.tongban.registry.decisions.510000.v1", "p.tongban.registry.decisions.v1")
    for other in ("tongban.registry.decisions.v1", "tongban.registry.claims.v1", "tongban.registry.decisions.x.v1",
                  "tongban.registry.decisions.6400001.v1"):
        assert not is_region_decisions_topic(other)


def test_a_region_may_read_its_own_decisions_and_the_national_record_but_not_another_regions() -> None:
    acls = deployment_acls([NINGXIA, SICHUAN], ["marriage"])
    ningxia = user(region_user(NINGXIA))
    readable = {a.name for a in acls if a.principal == ningxia and a.operation == "READ" and a.resource == "TOPIC"}
    assert {region_decisions_topic(NINGXIA), DECISIONS_TOPIC} <= readable
    assert region_decisions_topic(SICHUAN) not in readable
    assert not any(a.pattern == "PREFIXED" and region_decisions_topic(SICHUAN).startswith(a.name)
                   for a in acls if a.principal == ningxia)
    # Only the registry writes decisions, to any region's topic (one that joins later too).
    writers = {a.principal for a in acls if a.operation in ("WRITE", "ALL")
               and region_decisions_topic("610000").startswith(a.name)}
    assert writers == {user("registry")}


def test_at_the_same_national_rate_one_region_reads_less_with_more_regions_while_broadcast_reads_all() -> None:
    """bench exchange's routing: the same 300 claims spread over 3 and over 30 regions."""
    read = {}
    for count in (3, 30):
        regions = simulated_regions(count)
        everything = [d for _, d in national_decisions(300, regions)]
        read[count] = {layout: messages_read(everything, regions[0], layout) for layout in ("broadcast", "per_region")}
        assert len(read[count]["broadcast"]) == len(everything)
        mine = read[count]["per_region"]
        assert all(d.region == regions[0] or d.outcome in ("confirmed", "released") for d in mine)
    assert len(read[30]["per_region"]) < len(read[3]["per_region"]) < len(read[3]["broadcast"])


# --- hand-offs (services/common/handoff/topics.py) ----------------------------------------------

MARRIAGE_EVENTS = "tongban.marriage.events.v1"


def _handoff_event(message: Message, envelope_region: str) -> RecordedEvent:
    """`message` as the store of `envelope_region` records it (only the fields routing reads)."""
    return RecordedEvent(
        event_id="e-1", stream_id="handoff-h-1", stream_type="handoff.Handoff", version=1,
        type=message.DESCRIPTOR.full_name, schema_version=1, payload=message.SerializeToString(),
        occurred_at=AT, recorded_at=AT, region=envelope_region, service="marriage",
        actor=Actor.system(envelope_region, "test"), correlation_id="case-1", causation_id="cmd-1",
        trace=TraceContext(), prev_hash=b"", hash=b"", position=1, global_hash=b"")


def test_each_region_has_its_own_hand_off_topic_per_service_and_a_prefix_carries_over() -> None:
    assert handoffs_topic(MARRIAGE_EVENTS, NINGXIA) == "tongban.marriage.handoffs.640000.v1"
    assert handoffs_topic(f"t.x.{MARRIAGE_EVENTS}", NINGXIA) == "t.x.tongban.marriage.handoffs.640000.v1"
    assert handoffs_topic("t.events", NINGXIA) == "t.events.handoffs.640000"
    assert handoffs_topic(MARRIAGE_EVENTS, SICHUAN).startswith(handoffs_prefix(MARRIAGE_EVENTS))
    with pytest.raises(ValueError, match="6-digit"):
        handoffs_topic(MARRIAGE_EVENTS, "ningxia")


def test_a_request_goes_to_the_receiver_and_a_reply_back_to_the_origin_and_nothing_else_moves() -> None:
    """Invariant 4/10: a forwarded case is read by the region it is forwarded to; its acceptance,
    refusal or outcome by the region that forwarded it. Other events stay on the service's topic."""
    route = handoff_route(MARRIAGE_EVENTS)
    sent = pb.HandoffSent(handoff_id="h-1", kind=pb.HANDOFF_KIND_FORWARD_CASE, case_id="case-1",
                          from_region=NINGXIA, to_region=SICHUAN)
    assert addressee(_handoff_event(sent, NINGXIA)) == SICHUAN
    assert route(_handoff_event(sent, NINGXIA)) == ["tongban.marriage.handoffs.510000.v1"]
    for reply in (pb.HandoffAccepted, pb.HandoffRefused, pb.HandoffOutcome):
        answer = reply(handoff_id="h-1", kind=pb.HANDOFF_KIND_FORWARD_CASE, case_id="case-1", from_region=NINGXIA,
                       to_region=SICHUAN)
        if reply is pb.HandoffOutcome:
            answer.outcome.type = "tongban.x.v1.Result"  # type: ignore[union-attr]
        assert route(_handoff_event(answer, SICHUAN)) == ["tongban.marriage.handoffs.640000.v1"], reply
    # The receiver's own record of a request, a region's own message coming back, any other event: nowhere else.
    received = pb.HandoffReceived(request=sent)
    assert route(_handoff_event(received, SICHUAN)) == []
    assert route(_handoff_event(sent, SICHUAN)) == []
    assert route(_handoff_event(StringValue(value="x"), NINGXIA)) == []


def test_a_region_writes_every_regions_hand_off_topic_but_reads_only_its_own() -> None:
    acls = deployment_acls([NINGXIA, SICHUAN], ["marriage", "disability"])
    ningxia = user(region_user(NINGXIA))
    mine = [a for a in acls if a.principal == ningxia and a.resource == "TOPIC"]

    def may(operation: str, topic: str) -> bool:
        return any(a.operation == operation
                   and (a.name == topic if a.pattern == "LITERAL" else topic.startswith(a.name)) for a in mine)

    for service in ("marriage", "disability"):
        events = f"tongban.{service}.events.v1"
        for region in (NINGXIA, SICHUAN, "610000"):  # 610000 joins later: a hand-off may go there too
            assert may("WRITE", handoffs_topic(events, region))
        assert may("READ", handoffs_topic(events, NINGXIA))
        assert not may("READ", handoffs_topic(events, SICHUAN))
    # Nobody but Ningxia reads Ningxia's hand-offs, except the auditor (who reads everything, writes nothing).
    readers = {a.principal for a in acls if a.operation in ("READ", "ALL")
               and handoffs_topic(MARRIAGE_EVENTS, NINGXIA).startswith(a.name)}
    assert readers == {ningxia, user("auditor")}


def test_bench_hand_offs_go_from_every_region_to_every_other_evenly() -> None:
    """bench exchange's national hand-off stream: nobody hands a case to itself, and with more regions
    each one is addressed a proportionally smaller share of the same national stream."""
    for count in (3, 30):
        handoffs = 2 * count * (count - 1)
        pairs = [(n % count, partner(n, n % count, count)) for n in range(handoffs)]
        assert all(origin != to for origin, to in pairs)
        received = Counter(to for _, to in pairs)
        assert set(received.values()) == {handoffs // count}


def test_the_national_copy_of_a_decision_addressed_here_is_not_read_and_nothing_else_is_skipped() -> None:
    """The region's own topic carries every decision addressed to it (sent there first): on the
    national record only decisions addressed elsewhere are handled (the signature of every message
    is still checked first: tests/integration/marriage/test_forged_messages.py)."""
    skips = redundant_on_the_national_record(NINGXIA, "t.decisions")
    assert set(skips) == {"t.decisions"}, "only the national record; the region's own topic is read whole"
    addressed_here = skips["t.decisions"]
    assert addressed_here(registry_pb2.RegistryDecision(region=NINGXIA, service="relief").SerializeToString())
    assert not addressed_here(registry_pb2.RegistryDecision(region=SICHUAN, service="marriage").SerializeToString())
    assert not addressed_here(b"\xff\xff not a decision"), "undecodable: read, and refused by the gate"
    for outcome in ("confirmed", "released"):
        assert "t.decisions" in decision_topics(NINGXIA, outcome, "t.decisions")
        assert decision_topics(NINGXIA, outcome, "t.decisions")[0] == region_decisions_topic(NINGXIA, "t.decisions"), \
            "the region's own copy goes first"
