"""Invariant 10, a region's work follows its own cases: where the registry's decisions go, who may
read them, and what one region reads as the country grows (bench exchange's routing)."""

from __future__ import annotations

import pytest

from services.common.bench_exchange import messages_read, national_decisions, simulated_regions
from services.common.kafka_acls import deployment_acls, region_user, user
from services.common.registry.topics import (
    DECISIONS_TOPIC,
    consumed_decision_topics,
    decision_topics,
    is_region_decisions_topic,
    region_decisions_topic,
)

NINGXIA, SICHUAN = "640000", "510000"


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
