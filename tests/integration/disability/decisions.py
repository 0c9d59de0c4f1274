"""Registry decisions as the decisions topic delivers them, for the tests that run without a
broker: the same bytes the registry worker publishes, handed to the service's own reaction
(inbox, registry view, the decision recorded on the claim, then the service's response).
test_registry.py runs the real worker on a real broker."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.events import TraceContext
from services.common.registry.adapters import decision_to_proto
from services.common.registry.domain import Outcome, RegistryDecision, decision_id
from services.disability.application.queries import get_case
from services.disability.application.subscribers import CLAIM_KINDS
from services.disability.bootstrap import DisabilityService
from services.disability.domain.application import claim_id_for
from services.disability.domain.values import Subsidy


def registry_decides(service: DisabilityService, case_id: str, citizen_id: str, subsidy: Subsidy,
                     outcome: Outcome = Outcome.GRANTED, *, holder: tuple[str, str] = ("", "")) -> bool:
    region = service.deps.region
    claim_id = claim_id_for(case_id, subsidy)
    decision = RegistryDecision(
        decision_id=decision_id(region, "disability", claim_id, outcome), claim_id=claim_id, citizen_id=citizen_id,
        kind=CLAIM_KINDS[subsidy], case_id=case_id, region=region, service="disability", outcome=outcome,
        holder_case_id=holder[0], holder_region=holder[1], holder_service="disability" if holder[0] else "",
        decided_at=datetime(2026, 3, 9, 2, 0, 1, tzinfo=UTC), correlation_id=case_id, trace=TraceContext())
    return service.on_decision_message(service.deps.store, decision_to_proto(decision).SerializeToString(), [])


def grant_everything(service: DisabilityService, case_id: str) -> None:
    """The registry grants every subsidy the application still asks for."""
    app = get_case(service.deps, case_id)
    assert app.applicant is not None
    for subsidy in app.still_asked:
        registry_decides(service, case_id, app.applicant.citizen_id, subsidy)
