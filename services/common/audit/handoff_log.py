"""The regions' hand-off topics as an audit witness, like the events topics (kafka_log.py).

Since hand-offs travel on per-region topics (services/common/handoff/topics.py, invariant 10), a
hand-off message is published twice: to its service's events topic and to the hand-off topic of the
region it is addressed to, which is the only copy that region's host reads. A message missing from
that topic never reached its addressee even though the events topic holds it, so the audit reads
every hand-off topic of every audited service as well: each record must be a signed envelope of the
region it names, held byte for byte by its store (when audited), and addressed to the topic's
region; each stored message addressed to a region must be on that region's topic.

Which topics: those the broker has under the service's hand-off prefix, and those the audited
stores' messages are addressed to (a topic that was never made reads as empty, so every message
owed to it is reported)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping

from services.common.audit.datadir import StoreRef
from services.common.audit.kafka_log import TopicReport, cross_check_topic, read_topic, topics_named
from services.common.handoff.topics import addressee, handoffs_prefix, handoffs_topic
from services.common.store import EventStore
from services.common.trust.keys import KeyDirectory


def check_handoff_topics(bootstrap: str, stores: Mapping[StoreRef, EventStore], *,
                         topic_for: Callable[[str], str], idle: float,
                         keys: KeyDirectory | None) -> list[TopicReport]:
    """One report per hand-off topic of the services of `stores` (audit stores have none)."""
    by_events_topic: dict[str, dict[StoreRef, EventStore]] = defaultdict(dict)
    for ref, store in stores.items():
        if not ref.is_audit:
            by_events_topic[topic_for(ref.service)][ref] = store
    reports: list[TopicReport] = []
    for events_topic, mine in sorted(by_events_topic.items()):
        prefix = handoffs_prefix(events_topic)
        on_broker = topics_named(bootstrap, lambda name, prefix=prefix: name.startswith(prefix))
        owed = {handoffs_topic(events_topic, region)
                for store in mine.values() for region in _addressees(store)}
        for topic in sorted({*on_broker, *owed}):
            region = _region_of(topic, prefix)
            records = read_topic(bootstrap, topic, idle=idle)
            reports.append(cross_check_topic(topic, records, mine, keys,
                                             belongs=lambda e, region=region: addressee(e) == region))
    return reports


def _addressees(store: EventStore) -> set[str]:
    return {region for e in store.iter_log() if (region := addressee(e)) is not None}


def _region_of(topic: str, prefix: str) -> str:
    # "<prefix><region>.v1" or, for a prefixed test topic, "<prefix><region>".
    return topic.removeprefix(prefix).split(".")[0]

