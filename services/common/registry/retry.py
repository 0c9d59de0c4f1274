"""What a service does with a PENDING answer (rule ARefusalRestsOnASettledHold, architecture
invariant 9, issue 11): the claim waited its deadline behind a hold that is not settled yet, so it
is no refusal. The case gives back its other holds of the same attempt and claims again later,
under new claim ids, as a deadline (invariant 6: deadlines as data). Shared by the three services,
pure: the attempt numbering, the claim id of an attempt, the backoff and the bound.

- PendingClaimsAreRetried: attempt n+1 claims every party again with `claim_id_of_attempt(base, n+1)`
  (`<base>-r<n+1>`; attempt 1 is the base id, so cases recorded before this rule read as attempt 1).
  Decisions on claims of an older attempt are acknowledged and ignored; a grant of one is released.
- RetriesBackOffWithJitter: attempt n waits 2 s × 2^(n-1), at most 60 s, stretched by up to half
  again by a fraction derived from the case id and attempt — two colliding cases do not retry in
  lock-step, and the same case always waits the same (replay gives the same deadline).
- RetriesAreBounded: after MAX_ATTEMPTS pending attempts (about ten minutes: backoffs of
  2+4+…+60 s plus a wait of 10–60 s behind a hold in each) the case stops retrying and is refused
  under this rule, naming the holder last met — a hold that stays unconfirmed that long is a case
  stuck elsewhere, and the clerk can tell the applicants so instead of leaving them waiting for ever.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

PENDING_CLAIMS_ARE_RETRIED = "PendingClaimsAreRetried"
RETRIES_BACK_OFF_WITH_JITTER = "RetriesBackOffWithJitter"
RETRIES_ARE_BOUNDED = "RetriesAreBounded"
RETRY_RULE_ARTICLE = "architecture invariant 9 (issue 11): a refusal rests on a settled hold"

# The deadline kind every service schedules for its next attempt.
REGISTRY_RETRY_DUE = "registry_retry_due"

FIRST_BACKOFF = timedelta(seconds=2)
MAX_BACKOFF = timedelta(seconds=60)
MAX_ATTEMPTS = 12

_SUFFIX = "-r"


def claim_id_of_attempt(base_claim_id: str, attempt: int) -> str:
    """The claim id of attempt `attempt` (1-based) of the claim first made as `base_claim_id`."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    return base_claim_id if attempt == 1 else f"{base_claim_id}{_SUFFIX}{attempt}"


def attempt_of(base_claim_id: str, claim_id: str) -> int | None:
    """Which attempt of `base_claim_id` the claim `claim_id` is (None: none of its attempts)."""
    if claim_id == base_claim_id:
        return 1
    prefix = f"{base_claim_id}{_SUFFIX}"
    if not claim_id.startswith(prefix):
        return None
    number = claim_id.removeprefix(prefix)
    return int(number) if number.isdigit() and int(number) >= 2 and str(int(number)) == number else None


def retry_backoff(case_id: str, attempt: int) -> timedelta:
    """How long after attempt `attempt` was answered PENDING the next attempt starts."""
    base = min(FIRST_BACKOFF * (2 ** min(attempt - 1, 16)), MAX_BACKOFF)
    fraction = int.from_bytes(hashlib.sha256(f"{case_id}/{attempt}".encode()).digest()[:4], "big") / 2**32
    return base + base * (fraction / 2)


def retry_deadline_id(case_id: str, attempt: int) -> str:
    """The deadline that starts attempt `attempt` + 1 of the case (one per attempt: idempotent)."""
    return f"{case_id}-registry-retry-{attempt + 1}"


def gives_up(attempt: int) -> bool:
    """RetriesAreBounded: attempt `attempt` answered PENDING is the last one."""
    return attempt >= MAX_ATTEMPTS
