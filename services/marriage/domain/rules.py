"""The legal rules of marriage registration, each a named object with the article it encodes.

A rule is checked with `check(...)` (the kit's rule shape, services/common/kit/rules.py): the
first broken one becomes a RuleViolation (gRPC FAILED_PRECONDITION naming the rule; invariant 7).
Messages name the party by role, never by citizen ID, so a refusal on a screen or in a log does not leak the number."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from services.common.errors import NotAuthorised, RuleViolation
from services.common.identity.citizen_id import age_on
from services.common.kit.rules import Rule, check
from services.marriage.domain.values import DivorceState, MarriageDeclaration, MarriageState, Sex, Spouse


def _named(state: MarriageState | DivorceState | None) -> str:
    return state.value.replace("_", " ") if state is not None else "unknown"


# -- marriage ---------------------------------------------------------------------------------

MINIMUM_AGE = {Sex.MALE: 22, Sex.FEMALE: 20}


@dataclass(frozen=True)
class MinimumMarriageAge(Rule):
    """男不得早于二十二周岁，女不得早于二十周岁; the age is reached on the birthday itself."""

    name: ClassVar[str] = "MinimumMarriageAge"
    article: ClassVar[str] = "民法典 第1047条"
    role: str
    sex: Sex
    birth_date: date
    on: date

    def is_broken(self) -> bool:
        return age_on(self.birth_date, self.on) < MINIMUM_AGE[self.sex]

    @property
    def message(self) -> str:
        who = "男方" if self.sex is Sex.MALE else "女方"
        return f"{who} ({self.role}) 未满{MINIMUM_AGE[self.sex]}周岁 on {self.on.isoformat()}"


@dataclass(frozen=True)
class MarriageBetweenManAndWoman(Rule):
    """结婚登记 is for a man and a woman (要求结婚的男女双方)."""

    name: ClassVar[str] = "MarriageBetweenManAndWoman"
    article: ClassVar[str] = "民法典 第1049条"
    sex_a: Sex
    sex_b: Sex

    def is_broken(self) -> bool:
        return self.sex_a == self.sex_b

    @property
    def message(self) -> str:
        return "both parties' citizen IDs record the same sex"


@dataclass(frozen=True)
class DistinctParties(Rule):
    """The same person cannot be both parties."""

    name: ClassVar[str] = "DistinctParties"
    article: ClassVar[str] = "民法典 第1049条"
    citizen_id_a: str
    citizen_id_b: str

    def is_broken(self) -> bool:
        return self.citizen_id_a == self.citizen_id_b

    @property
    def message(self) -> str:
        return "party_a and party_b are the same person"


@dataclass(frozen=True)
class FreeConsent(Rule):
    """结婚应当男女双方完全自愿."""

    name: ClassVar[str] = "FreeConsent"
    article: ClassVar[str] = "民法典 第1046条"
    role: str
    declaration: MarriageDeclaration

    def is_broken(self) -> bool:
        return not self.declaration.consents

    @property
    def message(self) -> str:
        return f"{self.role} did not declare free consent to the marriage"


@dataclass(frozen=True)
class AppearInPerson(Rule):
    """男女双方应当亲自到婚姻登记机关申请结婚登记."""

    name: ClassVar[str] = "AppearInPerson"
    article: ClassVar[str] = "民法典 第1049条"
    role: str
    declaration: MarriageDeclaration

    def is_broken(self) -> bool:
        return not self.declaration.appears_in_person

    @property
    def message(self) -> str:
        return f"{self.role} did not appear in person at the office"


@dataclass(frozen=True)
class NoSpouseDeclared(Rule):
    """禁止重婚: each party declares having no spouse (the registry checks it nationwide too)."""

    name: ClassVar[str] = "NoSpouseDeclared"
    article: ClassVar[str] = "民法典 第1042条"
    role: str
    declaration: MarriageDeclaration

    def is_broken(self) -> bool:
        return not self.declaration.no_spouse

    @property
    def message(self) -> str:
        return f"{self.role} did not declare having no spouse"


@dataclass(frozen=True)
class NoProhibitedKinshipDeclared(Rule):
    """直系血亲或者三代以内的旁系血亲禁止结婚: each party declares there is no such relation."""

    name: ClassVar[str] = "NoProhibitedKinshipDeclared"
    article: ClassVar[str] = "民法典 第1048条"
    role: str
    declaration: MarriageDeclaration

    def is_broken(self) -> bool:
        return not self.declaration.no_prohibited_kinship

    @property
    def message(self) -> str:
        return f"{self.role} did not declare the absence of lineal or close collateral kinship"


@dataclass(frozen=True)
class NoExistingMarriage(Rule):
    """One live marriage per person, nationwide: the per-person registry denied the claim because
    another case holds the person (or the claim expired before both were granted)."""

    name: ClassVar[str] = "NoExistingMarriage"
    article: ClassVar[str] = "民法典 第1041条、第1042条"
    role: str
    holder_region: str
    holder_case_id: str
    outcome: str = "denied"

    def is_broken(self) -> bool:
        return True  # only ever built from a registry denial

    @property
    def message(self) -> str:
        if self.outcome == "expired":
            return f"the registry's hold on {self.role} expired before both parties were granted"
        return (f"{self.role} already has a live marriage on record "
                f"(case {self.holder_case_id or '?'} in region {self.holder_region or '?'})")


# -- divorce by agreement ---------------------------------------------------------------------


@dataclass(frozen=True)
class MarriageSubsists(Rule):
    """Divorce, judgments and the like apply to a marriage that is registered and not dissolved."""

    name: ClassVar[str] = "MarriageSubsists"
    article: ClassVar[str] = "民法典 第1076条"
    state: MarriageState | None

    def is_broken(self) -> bool:
        return self.state is not MarriageState.REGISTERED

    @property
    def message(self) -> str:
        return f"the marriage is {_named(self.state)}, not a subsisting registered marriage"


@dataclass(frozen=True)
class OneDivorceApplicationAtATime(Rule):
    name: ClassVar[str] = "OneDivorceApplicationAtATime"
    article: ClassVar[str] = "民法典 第1077条"
    open_divorce_case_id: str

    def is_broken(self) -> bool:
        return bool(self.open_divorce_case_id)

    @property
    def message(self) -> str:
        return f"divorce application {self.open_divorce_case_id} for this marriage is still open"


@dataclass(frozen=True)
class ApplicantsAreTheSpouses(Rule):
    """Both applicants must be the two parties of the marriage."""

    name: ClassVar[str] = "ApplicantsAreTheSpouses"
    article: ClassVar[str] = "民法典 第1076条"
    applicants: frozenset[str]
    spouses: frozenset[str]

    def is_broken(self) -> bool:
        return self.applicants != self.spouses

    @property
    def message(self) -> str:
        return "the applicants are not the two spouses of this marriage"


@dataclass(frozen=True)
class BothSpousesInPerson(Rule):
    """夫妻双方自愿离婚的，应当签订书面离婚协议，并亲自到婚姻登记机关申请离婚登记 (1076);
    双方应当亲自到婚姻登记机关申请发给离婚证 (1078)."""

    name: ClassVar[str] = "BothSpousesInPerson"
    article: ClassVar[str] = "民法典 第1076条、第1078条"
    both_present: bool

    def is_broken(self) -> bool:
        return not self.both_present

    @property
    def message(self) -> str:
        return "both spouses must appear in person"


@dataclass(frozen=True)
class WrittenDivorceAgreement(Rule):
    name: ClassVar[str] = "WrittenDivorceAgreement"
    article: ClassVar[str] = "民法典 第1076条"
    signed_by_both: bool

    def is_broken(self) -> bool:
        return not self.signed_by_both

    @property
    def message(self) -> str:
        return "the written divorce agreement must be signed by both spouses"


@dataclass(frozen=True)
class CoolingOffPeriod(Rule):
    """自婚姻登记机关收到离婚登记申请之日起三十日内，任何一方不愿意离婚的，可以向婚姻登记机关撤回;
    the certificate may be requested only after those thirty days (第1077条)."""

    name: ClassVar[str] = "CoolingOffPeriod"
    article: ClassVar[str] = "民法典 第1077条第1款"
    in_cooling_off: bool
    cooling_off_last_day: date

    def is_broken(self) -> bool:
        return self.in_cooling_off

    @property
    def message(self) -> str:
        return f"the cooling-off period runs until {self.cooling_off_last_day.isoformat()}"


@dataclass(frozen=True)
class WithdrawalWithinCoolingOff(Rule):
    name: ClassVar[str] = "WithdrawalWithinCoolingOff"
    article: ClassVar[str] = "民法典 第1077条第1款"
    state: DivorceState | None

    def is_broken(self) -> bool:
        return self.state is not DivorceState.COOLING_OFF

    @property
    def message(self) -> str:
        return f"a divorce application can only be withdrawn during the cooling-off (it is {_named(self.state)})"


@dataclass(frozen=True)
class CertificateRequestWithinWindow(Rule):
    """届满后三十日内，双方应当亲自到婚姻登记机关申请发给离婚证；未申请的，视为撤回离婚登记申请."""

    name: ClassVar[str] = "CertificateRequestWithinWindow"
    article: ClassVar[str] = "民法典 第1077条第2款"
    state: DivorceState | None

    def is_broken(self) -> bool:
        return self.state is not DivorceState.AWAITING_CERTIFICATE_REQUEST

    @property
    def message(self) -> str:
        return f"the divorce application is {_named(self.state)}: no certificate request is open"


@dataclass(frozen=True)
class CertificateRequested(Rule):
    """The office registers a divorce only after both requested the certificate in time."""

    name: ClassVar[str] = "CertificateRequested"
    article: ClassVar[str] = "民法典 第1078条"
    state: DivorceState | None

    def is_broken(self) -> bool:
        return self.state is not DivorceState.CERTIFICATE_REQUESTED

    @property
    def message(self) -> str:
        return f"the divorce application is {_named(self.state)}, not awaiting registration"


@dataclass(frozen=True)
class AtReceivingOffice(Rule):
    """Withdrawal and the certificate request go to the office that received the application
    (民法典 第1077条; 民政部《关于调整婚姻登记办理程序的通知》(民发〔2020〕116号))."""

    name: ClassVar[str] = "AtReceivingOffice"
    article: ClassVar[str] = "民法典 第1077条; 民发〔2020〕116号"
    office_code: str
    receiving_office_code: str

    def is_broken(self) -> bool:
        return self.office_code != self.receiving_office_code

    @property
    def message(self) -> str:
        return f"this must be done at the receiving office {self.receiving_office_code}"


@dataclass(frozen=True)
class WithdrawingPartyIsSpouse(Rule):
    name: ClassVar[str] = "WithdrawingPartyIsSpouse"
    article: ClassVar[str] = "民法典 第1077条第1款"
    citizen_id: str
    spouses: tuple[Spouse, Spouse]

    def is_broken(self) -> bool:
        return self.citizen_id not in {s.citizen_id for s in self.spouses}

    @property
    def message(self) -> str:
        return "only one of the two spouses may withdraw the application"


# -- reissue, status query, registration office ------------------------------------------------


@dataclass(frozen=True)
class ApplicantIsParty(Rule):
    """补领 is for a party to the registration, after the office checked the archive."""

    name: ClassVar[str] = "ApplicantIsParty"
    article: ClassVar[str] = "婚姻登记条例 (补领结婚证、离婚证)"
    applicant: str
    parties: frozenset[str]

    def is_broken(self) -> bool:
        return self.applicant not in self.parties

    @property
    def message(self) -> str:
        return "the applicant is not a party to this registration"


@dataclass(frozen=True)
class RegisteredRecord(Rule):
    """Only a registration that took place has a certificate to reissue."""

    name: ClassVar[str] = "RegisteredRecord"
    article: ClassVar[str] = "婚姻登记条例 (补领结婚证、离婚证)"
    has_certificate: bool

    def is_broken(self) -> bool:
        return not self.has_certificate

    @property
    def message(self) -> str:
        return "no certificate was ever issued for this case"


@dataclass(frozen=True)
class AuthorisedStatusQuery(Rule):
    """Only authorised bodies may look up a person's marital status, and every query is recorded
    (个人信息保护法 第十三条、第三十四条)."""

    name: ClassVar[str] = "AuthorisedStatusQuery"
    article: ClassVar[str] = "个人信息保护法 第三十四条"
    error: ClassVar[type[RuleViolation]] = NotAuthorised
    role: str
    authorised_roles: Collection[str]

    def is_broken(self) -> bool:
        return self.role not in self.authorised_roles

    @property
    def message(self) -> str:
        return f"role {self.role!r} is not authorised to query marital status"


@dataclass(frozen=True)
class ClerkOfThisRegion(Rule):
    """Registrations are made by a clerk at an office of the region whose service records them."""

    name: ClassVar[str] = "ClerkOfThisRegion"
    article: ClassVar[str] = "婚姻登记条例 第二条"
    error: ClassVar[type[RuleViolation]] = NotAuthorised
    actor_kind: str
    actor_region: str
    office_code: str
    region: str

    def is_broken(self) -> bool:
        return self.actor_kind != "clerk" or not self.office_code or self.actor_region != self.region

    @property
    def message(self) -> str:
        return f"only a clerk at an office of region {self.region} can record this"


__all__ = ["Rule", "check"]  # re-exported: the domain checks its rules through this module
