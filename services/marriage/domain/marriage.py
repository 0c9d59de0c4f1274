"""The Marriage aggregate: a registration application, and then the marriage record for its whole
life (registered → dissolved by divorce, or declared void/annulled by a court).

Registration is asynchronous (architecture invariant 5): the application asks the national
per-person registry for both persons, and the case is registered only when both holds are granted;
a denial refuses it and gives back any hold it got. A PENDING answer (the registry met a hold not
yet confirmed: ARefusalRestsOnASettledHold) is no refusal: the case gives back its other holds
and claims both persons again later under new claim ids (services/common/registry/retry.py).
Command methods check the rules and return new
events; `apply` only assigns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import ClassVar

from services.common.kit.aggregate import Aggregate
from services.common.registry import retry
from services.common.registry.domain import Outcome
from services.marriage.domain.divorce_rules import (
    JudgmentNotBeforeRegistration,
    MarriageSubsists,
    OneDivorceApplicationAtATime,
)
from services.marriage.domain.events import (
    ClaimHolder,
    CourtJudgmentRecorded,
    DivorceProceedingClosed,
    DivorceProceedingOpened,
    MarriageApplicationReceived,
    MarriageDissolvedByDivorce,
    MarriageEvent,
    MarriageRefused,
    MarriageRegistered,
    PartyClaimDenied,
    PartyClaimGranted,
    PartyClaimPending,
    PartyClaimReleased,
    PartyClaimsRetried,
)
from services.marriage.domain.rules import (
    AppearInPerson,
    DistinctParties,
    FreeConsent,
    MarriageBetweenManAndWoman,
    MinimumMarriageAge,
    NoExistingMarriage,
    NoProhibitedKinshipDeclared,
    NoSpouseDeclared,
    ProofOfDeclaredStatus,
    RegistrySettlesWithinRetries,
    check,
    first_broken,
)
from services.marriage.domain.values import JudgmentKind, MarriageState, Party, PartyRecord

STREAM_TYPE = "marriage.Marriage"


def claim_id_for(case_id: str, party: Party) -> str:
    """A party's registry claim id, derived from the case: a retried request names the same claim,
    and the registry answers it with the same decision. (Attempt n > 1 after a PENDING answer claims
    under `retry.claim_id_of_attempt(this, n)`.)"""
    return f"{case_id}-{'a' if party is Party.A else 'b'}"


def apply_for_registration(*, case_id: str, office_code: str, region: str, application_date: date,
                           party_a: PartyRecord, party_b: PartyRecord,
                           on_record: Mapping[str, str] | None = None) -> list[MarriageEvent]:
    """结婚登记申请: the conditions the office can check itself, on the application date. The one it
    cannot — no live marriage anywhere in the country — is the registry's to decide.

    A broken condition does not make the application vanish: it is recorded with the refusal and
    its reasons (不予登记), so the office can hand the applicants a written refusal and an auditor
    can count refusals. (Malformed input never gets this far: it is refused unrecorded.)"""
    # What the national record showed for each party at the window, recorded with the application.
    on_record = on_record or {}
    party_a = replace(party_a, status_on_record=on_record.get(party_a.citizen_id, party_a.status_on_record))
    party_b = replace(party_b, status_on_record=on_record.get(party_b.citizen_id, party_b.status_on_record))
    received = MarriageApplicationReceived(case_id, office_code, region, application_date, party_a, party_b)
    broken = first_broken(
        DistinctParties(party_a.citizen_id, party_b.citizen_id),
        MarriageBetweenManAndWoman(party_a.sex, party_b.sex),
        *(rule for role, party in ((Party.A.value, party_a), (Party.B.value, party_b)) for rule in (
            MinimumMarriageAge(role, party.sex, party.birth_date, application_date),
            FreeConsent(role, party.declaration),
            AppearInPerson(role, party.declaration),
            NoSpouseDeclared(role, party.declaration),
            NoProhibitedKinshipDeclared(role, party.declaration),
            ProofOfDeclaredStatus(role, party.declared_status, party.status_on_record,
                                  party.proof.kind if party.proof else ""),
        )),
    )
    if broken is None:
        return [received]
    refused_party = party_b if getattr(broken, "role", Party.A.value) == Party.B.value else party_a
    return [received, MarriageRefused(broken.name, broken.article, broken.message, refused_party.citizen_id, "", "")]


@dataclass
class Marriage(Aggregate):
    stream_type: ClassVar[str] = STREAM_TYPE
    what: ClassVar[str] = "marriage"

    case_id: str = ""
    state: MarriageState | None = None
    office_code: str = ""
    region: str = ""
    application_date: date | None = None
    party_a: PartyRecord | None = None
    party_b: PartyRecord | None = None
    granted: dict[str, str] = field(default_factory=dict)  # claim id → decision id
    lost: dict[str, str] = field(default_factory=dict)  # claim id → decision id (denied or expired)
    released: set[str] = field(default_factory=set)
    pending: dict[str, str] = field(default_factory=dict)  # claim id → decision id (answered PENDING)
    attempt: int = 1  # PendingClaimsAreRetried: which round of claims is current
    retry_deadline_id: str = ""  # the deadline starting the next attempt, while it is scheduled
    certificate_number: str = ""
    registered_on: date | None = None
    refusal: MarriageRefused | None = None
    open_divorce_case_id: str = ""
    dissolution: MarriageDissolvedByDivorce | None = None
    judgment: CourtJudgmentRecorded | None = None

    # -- reading ------------------------------------------------------------------------------

    @property
    def parties(self) -> tuple[PartyRecord, PartyRecord]:
        assert self.party_a is not None and self.party_b is not None, "an empty marriage has no parties"
        return self.party_a, self.party_b

    def current_claim_id(self, party: PartyRecord) -> str:
        """The party's claim id in the current attempt."""
        return retry.claim_id_of_attempt(party.claim_id, self.attempt)

    def party_of_claim(self, claim_id: str) -> tuple[str, PartyRecord] | None:
        """The party a claim of the current attempt is for (None: not ours, or an older attempt's)."""
        for role, party in zip((Party.A.value, Party.B.value), self.parties, strict=True):
            if self.current_claim_id(party) == claim_id:
                return role, party
        return None

    def _party_of_earlier_claim(self, claim_id: str) -> PartyRecord | None:
        for party in self.parties:
            attempt = retry.attempt_of(party.claim_id, claim_id)
            if attempt is not None and attempt < self.attempt:
                return party
        return None

    @property
    def ready_to_register(self) -> bool:
        """Both persons are held for this case in the current attempt: the office may register it."""
        return (self.state is MarriageState.AWAITING_REGISTRY
                and all(self.current_claim_id(p) in self.granted for p in self.parties)
                and not self.lost and not self.retry_deadline_id)

    @property
    def is_live(self) -> bool:
        return self.state is MarriageState.REGISTERED

    # -- registry decisions -------------------------------------------------------------------

    def record_grant(self, claim_id: str, decision_id: str) -> list[MarriageEvent]:
        """The registry holds one person for this case. A grant that reaches a refused case is
        recorded and given back at once, so the person is not held for nothing."""
        found = self.party_of_claim(claim_id)
        if found is None:
            earlier = self._party_of_earlier_claim(claim_id)
            if earlier is None or claim_id in self.granted or claim_id in self.released:
                return []  # not ours, or a decision seen before
            # PendingClaimsAreRetried: an older attempt's claim never counts; given back at once.
            return [PartyClaimGranted(claim_id, earlier.citizen_id, decision_id),
                    PartyClaimReleased(claim_id, earlier.citizen_id, "a claim of an earlier attempt")]
        if claim_id in self.granted or claim_id in self.lost or claim_id in self.pending or claim_id in self.released:
            return []  # a decision seen before, or a claim given back (its release follows the request: released next)
        _, party = found
        granted = PartyClaimGranted(claim_id, party.citizen_id, decision_id)
        if self.state is MarriageState.AWAITING_REGISTRY:
            return [granted]
        if self.state is MarriageState.REFUSED:
            return [granted, PartyClaimReleased(claim_id, party.citizen_id, "the marriage application was refused")]
        return []

    def register(self, certificate_number: str, registered_on: date) -> list[MarriageEvent]:
        if not self.ready_to_register:
            raise ValueError(f"marriage {self.case_id} is not ready to register (state {self.state})")
        return [MarriageRegistered(certificate_number, registered_on, self.office_code)]

    def record_loss(self, claim_id: str, decision_id: str, *, outcome: str, holder_case_id: str,
                    holder_region: str, holder_service: str) -> list[MarriageEvent]:
        """The registry denied a claim (someone else holds the person) or let a granted one expire.
        A waiting case is refused naming the holder, and gives back the other party's hold."""
        found = self.party_of_claim(claim_id)
        if found is None or claim_id in self.lost or claim_id in self.pending:
            return []  # an older attempt's (PendingClaimsAreRetried), or seen before
        if outcome == Outcome.EXPIRED and claim_id in self.released:
            return []  # given back already: its expiry says nothing about the person
        role, party = found
        holder = ClaimHolder(holder_case_id, holder_region, holder_service)
        events: list[MarriageEvent] = [PartyClaimDenied(claim_id, party.citizen_id, decision_id, outcome, holder)]
        if self.state is not MarriageState.AWAITING_REGISTRY:
            return events
        rule = NoExistingMarriage(role, holder_region, holder_case_id, outcome)
        events.append(MarriageRefused(rule.name, rule.article, rule.message, party.citizen_id,
                                      holder_case_id, holder_region))
        for other in self.parties:
            other_claim = self.current_claim_id(other)
            if other_claim != claim_id and other_claim in self.granted and other_claim not in self.released:
                events.append(PartyClaimReleased(other_claim, other.citizen_id,
                                                 "the marriage application was refused"))
        return events

    def record_pending(self, claim_id: str, decision_id: str, *, holder_case_id: str, holder_region: str,
                       holder_service: str) -> list[MarriageEvent]:
        """The registry answered PENDING (ARefusalRestsOnASettledHold): the person is held by a case
        not settled yet. No refusal: the case gives back the other party's claim of this attempt
        (granted or still waiting, so a cycle of cases holding each other's parties dissolves) and
        schedules the next attempt (PendingClaimsAreRetried) — or, past the bound, is refused under
        RetriesAreBounded naming the holder."""
        found = self.party_of_claim(claim_id)
        if (found is None or claim_id in self.pending or claim_id in self.lost
                or self.state is not MarriageState.AWAITING_REGISTRY):
            return []  # an older attempt's, a decision seen before, or a case already decided
        role, party = found
        holder = ClaimHolder(holder_case_id, holder_region, holder_service)
        first = not self.retry_deadline_id
        giving_up = first and retry.gives_up(self.attempt)
        schedule = first and not giving_up
        events: list[MarriageEvent] = [PartyClaimPending(
            claim_id, party.citizen_id, decision_id, holder, self.attempt,
            retry.retry_deadline_id(self.case_id, self.attempt) if schedule else "",
            int(retry.retry_backoff(self.case_id, self.attempt).total_seconds() * 1000) if schedule else 0)]
        if giving_up:
            rule = RegistrySettlesWithinRetries(role, holder_region, holder_case_id, self.attempt)
            events.append(MarriageRefused(rule.name, rule.article, rule.message, party.citizen_id,
                                          holder_case_id, holder_region))
        reason = "the marriage application was refused" if giving_up else "given back until the registry settles"
        for other in self.parties:
            other_claim = self.current_claim_id(other)
            if other_claim != claim_id and not {other_claim} & (self.released | set(self.pending) | set(self.lost)):
                events.append(PartyClaimReleased(other_claim, other.citizen_id, reason))
        return events

    def retry_claims(self, deadline_id: str) -> list[MarriageEvent]:
        """The retry deadline fired (PendingClaimsAreRetried): both parties are claimed again under
        the next attempt's claim ids. A case decided meanwhile, or a deadline already used, does nothing."""
        if self.state is not MarriageState.AWAITING_REGISTRY or deadline_id != self.retry_deadline_id:
            return []
        return [PartyClaimsRetried(self.attempt + 1, deadline_id)]

    # -- divorce and judgments ----------------------------------------------------------------

    def open_divorce(self, divorce_case_id: str, office_code: str) -> list[MarriageEvent]:
        check(MarriageSubsists(self.state), OneDivorceApplicationAtATime(self.open_divorce_case_id))
        return [DivorceProceedingOpened(divorce_case_id, office_code)]

    def close_divorce(self, divorce_case_id: str, outcome: str) -> list[MarriageEvent]:
        if self.open_divorce_case_id != divorce_case_id:
            return []
        return [DivorceProceedingClosed(divorce_case_id, outcome)]

    def dissolve_by_divorce(self, divorce_case_id: str, certificate_number: str,
                            dissolved_on: date) -> list[MarriageEvent]:
        check(MarriageSubsists(self.state))
        return [MarriageDissolvedByDivorce(divorce_case_id, certificate_number, dissolved_on),
                *self._release_all("the divorce was registered")]

    def record_judgment(self, *, judgment: JudgmentKind, court: str, judgment_number: str, judgment_date: date,
                        ground: str, recorded_on: date) -> list[MarriageEvent]:
        """A court declared the marriage void or annulled it: recorded against the marriage, which
        ends any divorce still open and frees both persons."""
        check(MarriageSubsists(self.state), JudgmentNotBeforeRegistration(judgment_date, self.registered_on))
        events: list[MarriageEvent] = [CourtJudgmentRecorded(
            judgment.value, court, judgment_number, judgment_date, ground, recorded_on)]
        if self.open_divorce_case_id:
            events.append(DivorceProceedingClosed(self.open_divorce_case_id, "terminated"))
        events.extend(self._release_all(f"the marriage was declared {judgment.value} by {court}"))
        return events

    def _release_all(self, reason: str) -> list[MarriageEvent]:
        return [PartyClaimReleased(self.current_claim_id(p), p.citizen_id, reason)
                for p in self.parties if self.current_claim_id(p) not in self.released]

    # -- folding ------------------------------------------------------------------------------

    def when(self, event: MarriageEvent) -> None:
        match event:
            case MarriageApplicationReceived():
                self.case_id = event.case_id
                self.office_code = event.office_code
                self.region = event.region
                self.application_date = event.application_date
                self.party_a, self.party_b = event.party_a, event.party_b
                self.state = MarriageState.AWAITING_REGISTRY
            case PartyClaimGranted():
                self.granted[event.claim_id] = event.decision_id
            case PartyClaimDenied():
                self.lost[event.claim_id] = event.decision_id
            case PartyClaimReleased():
                self.released.add(event.claim_id)
            case PartyClaimPending():
                self.pending[event.claim_id] = event.decision_id
                self.retry_deadline_id = event.retry_deadline_id or self.retry_deadline_id
            case PartyClaimsRetried():
                self.attempt = event.attempt
                self.retry_deadline_id = ""
            case MarriageRegistered():
                self.state = MarriageState.REGISTERED
                self.certificate_number = event.certificate_number
                self.registered_on = event.registered_on
            case MarriageRefused():
                self.state = MarriageState.REFUSED
                self.refusal = event
            case DivorceProceedingOpened():
                self.open_divorce_case_id = event.divorce_case_id
            case DivorceProceedingClosed():
                self.open_divorce_case_id = ""
            case MarriageDissolvedByDivorce():
                self.state = MarriageState.DISSOLVED_BY_DIVORCE
                self.dissolution = event
                self.open_divorce_case_id = ""
            case CourtJudgmentRecorded():
                self.state = MarriageState(event.judgment)
                self.judgment = event
            case _:
                raise TypeError(f"not a marriage event: {type(event).__name__}")
