"""The per-person registry (architecture invariant 5; docs/cross-region.md): one case at a time
holds a person for a live marriage, 低保, the living subsidy or the nursing subsidy, nationwide.

A service claims in its own command transaction (`request_claim`, then `confirm_claim` or
`release_claim`); its relay publishes the claim; the registry worker (`worker/`, its own process)
decides one person at a time and publishes the decision; the service's consumer hands every
decision message to `decision_reaction(...)`, which records it and calls the service back.
`query_person` (and the gRPC `RegistryService.QueryPerson`) answers from the region's view of all
decisions, recording every query.

The worker is not imported here: importing this package loads no Kafka client."""

from services.common.registry.claims import (
    CLAIM_MUST_BE_GRANTED,
    LocalClaim,
    claim_stream_id,
    confirm_claim,
    read_claim,
    release_claim,
    request_claim,
)
from services.common.registry.decisions import DecisionHandler, DecisionReaction, decision_reaction
from services.common.registry.domain import ClaimKind, Outcome, RegistryDecision, decision_id
from services.common.registry.grpc_api import RegistryServicer, registry_servicer
from services.common.registry.projection import RegistryEntry, query_person, registry_entries
from services.common.registry.topics import CLAIMS_TOPIC, DECISIONS_TOPIC

__all__ = [
    "CLAIMS_TOPIC",
    "CLAIM_MUST_BE_GRANTED",
    "DECISIONS_TOPIC",
    "ClaimKind",
    "DecisionHandler",
    "DecisionReaction",
    "LocalClaim",
    "Outcome",
    "RegistryDecision",
    "RegistryEntry",
    "RegistryServicer",
    "claim_stream_id",
    "confirm_claim",
    "decision_id",
    "decision_reaction",
    "query_person",
    "read_claim",
    "registry_entries",
    "registry_servicer",
    "release_claim",
    "request_claim",
]
