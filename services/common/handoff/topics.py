"""Where hand-off messages travel (docs/cross-region.md, "Topics"; invariant 10).

Every event of a service still goes to its shared events topic (``tongban.<service>.events.v1``):
the registry forwards claims from it, other services react to it, the auditor compares it with the
stores. A hand-off message (a request, an acceptance, a refusal, an outcome) concerns one region
only, the one it is addressed to, so the relay also sends it to that region's hand-off topic
(``tongban.<service>.handoffs.<region>.v1``), and a region's host reads its own hand-off topic
instead of the whole country's events. A region's work on hand-offs therefore follows the hand-offs
addressed to it, not the number of regions. The ACLs (kafka_acls.py) let every region of the
service write any region's hand-off topic and read only its own."""

from __future__ import annotations

from collections.abc import Callable

from services.common.events import RecordedEvent
from services.common.handoff import adapters

_EVENTS = ".events.v1"
_VERSION = ".v1"


def _check_region(region: str) -> None:
    if not (len(region) == 6 and region.isdigit()):
        raise ValueError(f"region {region!r} is not a 6-digit GB/T 2260 code")


def _stem(events_topic: str) -> str:
    return events_topic.removesuffix(_EVENTS) if events_topic.endswith(_EVENTS) else events_topic


def handoffs_topic(events_topic: str, region: str) -> str:
    """The hand-off topic of `region` next to the service's `events_topic` (a prefixed name keeps
    its prefix): ``tongban.marriage.events.v1`` → ``tongban.marriage.handoffs.640000.v1``."""
    _check_region(region)
    version = _VERSION if events_topic.endswith(_EVENTS) else ""
    return f"{handoffs_prefix(events_topic)}{region}{version}"


def handoffs_prefix(events_topic: str) -> str:
    """What every region's hand-off topic next to `events_topic` starts with (a PREFIXED ACL)."""
    return f"{_stem(events_topic)}.handoffs."


def addressee(event: RecordedEvent) -> str | None:
    """The region a hand-off message is addressed to; None for an event that is not one, one that
    does not parse (it still goes to the events topic, where nobody acts on it), or a region's own."""
    region = adapters.addressed_to(event.type, event.payload)
    return region if region and len(region) == 6 and region.isdigit() and region != event.region else None


def handoff_route(events_topic: str) -> Callable[[RecordedEvent], list[str]]:
    """The relay's extra destinations of a store's events: a hand-off message also goes to its
    addressee's hand-off topic."""

    def extra_topics(event: RecordedEvent) -> list[str]:
        region = addressee(event)
        return [] if region is None else [handoffs_topic(events_topic, region)]

    return extra_topics
