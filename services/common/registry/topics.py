"""The registry's Kafka topics (docs/cross-region.md, "Topics").

Invariant 10: a region's work follows its own cases. The worker therefore sends each decision to
the topic of the region it is addressed to (`region_decisions_topic`), which only that region reads
(and its ACL lets only it read). The one exception is what every window needs to answer a status
check from the national record (a marriage confirmed elsewhere, its end): those decisions
(`ON_THE_RECORD`) also go to the national topic, which every region reads. Per claim, that is the
end of its life (confirmed, released), not its every step (granted, denied, expired)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from google.protobuf.message import DecodeError

from tongban.registry.v1 import registry_pb2

# The national record: the decisions that change who durably holds a person (confirmed,
# released), keyed by citizen id; every region's services read it for their `registry_entries` view.
DECISIONS_TOPIC: Final = "tongban.registry.decisions.v1"
# The worker's own input, keyed by citizen id: claims forwarded from the service topics and the
# expiry checks of its timer. Only the worker reads it.
CLAIMS_TOPIC: Final = "tongban.registry.claims.v1"
# The outcomes (domain.Outcome values) that go on the national record as well as to the claimant.
ON_THE_RECORD: Final = frozenset({"confirmed", "released"})

_VERSION = ".v1"


def region_decisions_topic(region: str, national: str = DECISIONS_TOPIC) -> str:
    """The decisions addressed to `region`: ``tongban.registry.decisions.<region>.v1``. Derived from
    the national topic's name, so a test or stack prefix (``<prefix>.tongban...``) carries over."""
    if not (len(region) == 6 and region.isdigit()):
        raise ValueError(f"region {region!r} is not a 6-digit GB/T 2260 code")
    if national.endswith(_VERSION):
        return f"{national[:-len(_VERSION)]}.{region}{_VERSION}"
    return f"{national}.{region}"


def is_region_decisions_topic(name: str, national: str = DECISIONS_TOPIC) -> bool:
    """Whether `name` is some region's decisions topic next to the national record `national`."""
    stem, version = (national[:-len(_VERSION)], _VERSION) if national.endswith(_VERSION) else (national, "")
    region = name.removeprefix(f"{stem}.").removesuffix(version)
    return name.startswith(f"{stem}.") and name.endswith(version) and len(region) == 6 and region.isdigit()


def decision_topics(region: str, outcome: str, national: str = DECISIONS_TOPIC) -> list[str]:
    """Where the worker sends a decision addressed to `region`: its region's topic, and the national
    record too when the outcome is on it."""
    topics = [region_decisions_topic(region, national)]
    if outcome in ON_THE_RECORD:
        topics.append(national)
    return topics


def consumed_decision_topics(region: str, national: str = DECISIONS_TOPIC) -> list[str]:
    """What a region's services read of the registry: its own decisions and the national record."""
    return [region_decisions_topic(region, national), national]


def redundant_on_the_national_record(region: str, national: str = DECISIONS_TOPIC
                                     ) -> dict[str, Callable[[bytes], bool]]:
    """For a region's consumers: which messages of the national record, once their signature is
    checked (a forgery is refused and recorded as before), they need not handle, by topic. A
    decision addressed to `region` is always sent to the region's own topic first (and acknowledged
    there) before the national record, so its national copy is a duplicate the inbox would drop
    after the whole consumer path: a third of a registration's decision messages. Whichever copy
    comes first, the region's own one takes effect; anything else is handled as before."""

    def addressed_here(value: bytes) -> bool:
        try:
            return registry_pb2.RegistryDecision.FromString(value).region == region
        except DecodeError:
            return False  # read as before: the gate rejects it and says why

    return {national: addressed_here}
