"""The names a 低保 case (dibao.py) is known by outside its aggregate: its states, the kinds of its
deadlines (services/common/deadlines.py), and the ids it derives deterministically — so a retried
step can never claim, ask or schedule twice."""

from __future__ import annotations

from services.common.registry.retry import claim_id_of_attempt
from services.common.registry.retry import retry_deadline_id as registry_retry_deadline_id

RECEIVED, ACCEPTED, INVESTIGATING = "received", "accepted", "investigating"
REVIEWED, IN_NOTICE, AWAITING_DECISION = "reviewed", "in_notice", "awaiting_decision"
GRANTED, REFUSED, REFUSAL_NOTIFIED, TAPERING = "granted", "refused", "refusal_notified", "tapering"
ENDED = "ended"

# Deadline kinds (services/common/deadlines.py) of a 低保 case.
INVESTIGATION_DUE = "relief.dibao.investigation_due"
NOTICE_ENDS = "relief.dibao.notice_ends"
DECISION_DUE = "relief.dibao.decision_due"
REFUSAL_NOTICE_DUE = "relief.dibao.refusal_notice_due"
REVIEW_DUE = "relief.dibao.review_due"
TAPER_ENDS = "relief.dibao.taper_ends"


def deadline_id(case_id: str, what: str) -> str:
    return f"{case_id}-{what}"


def claim_id_for(case_id: str, citizen_id: str, attempt: int = 1) -> str:
    """The member's 低保 claim in the per-person registry: deterministic, so a retry cannot claim twice.
    Attempt n > 1 follows a PENDING answer (services/common/registry/retry.py)."""
    return claim_id_of_attempt(f"{case_id}-{citizen_id}-dibao", attempt)


def retry_deadline_id(case_id: str, citizen_id: str, attempt: int) -> str:
    """The deadline starting attempt `attempt` + 1 of a member's place."""
    return registry_retry_deadline_id(f"{case_id}-{citizen_id}", attempt)


PLACE_REQUESTED, PLACE_GRANTED = "requested", "granted"
CHECK_REQUESTED, CHECK_ANSWERED, CHECK_REFUSED = "requested", "answered", "refused"
ECONOMIC_CHECK_WORK = "relief.family_economic_check"  # the hand-off's work (多地联办)


def check_handoff_id(case_id: str, citizen_id: str) -> str:
    """Deterministic, so a retried step cannot ask twice."""
    return f"{case_id}-check-{citizen_id}"


def region_of_hukou(hukou_region: str) -> str:
    """The deployment that keeps a county's records: its province (GB/T 2260 first two digits)."""
    return hukou_region[:2] + "0000"
