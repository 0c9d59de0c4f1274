"""The legal rules of marriage registration, each a named object with the article it encodes.

A rule is checked with `check(...)` (the kit's rule shape, services/common/kit/rules.py): the
first broken one becomes a RuleViolation (gRPC FAILED_PRECONDITION naming the rule; invariant 7).
Messages name the party by role, never by citizen ID, so a refusal on a screen or in a log does not leak the number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from services.common.identity.citizen_id import age_on
from services.common.kit.rules import Rule, check, first_broken
from services.common.registry.domain import Outcome
from services.common.registry.retry import RETRIES_ARE_BOUNDED, RETRY_RULE_ARTICLE
from services.marriage.domain.values import DeclaredStatus, MaritalStatus, MarriageDeclaration, ProofKind, Sex

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
        if self.outcome == Outcome.EXPIRED:
            return f"the registry's hold on {self.role} expired before both parties were granted"
        return (f"{self.role} already has a live marriage on record "
                f"(case {self.holder_case_id or '?'} in region {self.holder_region or '?'})")


@dataclass(frozen=True)
class RegistrySettlesWithinRetries(Rule):
    """RetriesAreBounded (services/common/registry/retry.py): the registry answered PENDING on every
    attempt — the person stayed held by a case that neither registered nor gave up for about ten
    minutes. The application is refused (the applicants may apply again), naming that case; not a
    finding of an existing marriage."""

    name: ClassVar[str] = RETRIES_ARE_BOUNDED
    article: ClassVar[str] = RETRY_RULE_ARTICLE
    role: str
    holder_region: str
    holder_case_id: str
    attempts: int

    def is_broken(self) -> bool:
        return True  # only ever built when the last attempt is answered PENDING

    @property
    def message(self) -> str:
        return (f"{self.role} stayed held by case {self.holder_case_id or '?'} in region "
                f"{self.holder_region or '?'}, not yet settled, through {self.attempts} attempts")


__all__ = ["Rule", "check", "first_broken"]  # re-exported: the domain checks its rules through this module


# What proves a declared status the national record does not show (婚姻登记工作规范 2025).
PROOF_FOR: dict[str, frozenset[str]] = {
    DeclaredStatus.DIVORCED.value: frozenset({ProofKind.DIVORCE_CERTIFICATE.value, ProofKind.COURT_JUDGMENT.value}),
    DeclaredStatus.WIDOWED.value: frozenset({ProofKind.DEATH_RECORD.value}),
    DeclaredStatus.UNMARRIED.value: frozenset({ProofKind.COURT_JUDGMENT.value}),  # a marriage voided or annulled
}
_AGREEING = {
    DeclaredStatus.UNMARRIED.value: frozenset({MaritalStatus.UNMARRIED_ON_RECORD.value, MaritalStatus.VOID.value,
                                               MaritalStatus.ANNULLED.value}),
    DeclaredStatus.DIVORCED.value: frozenset({MaritalStatus.DIVORCED.value}),
    DeclaredStatus.WIDOWED.value: frozenset({MaritalStatus.WIDOWED.value}),
}


@dataclass(frozen=True)
class ProofOfDeclaredStatus(Rule):
    """Where a party's declared status differs from the national marriage database, the office
    registers only on proof: a divorce certificate or court judgment, or for a widowed person the
    spouse's death record (婚姻登记条例 第四条, 2025; 婚姻登记工作规范 2025). A live marriage on record
    is not this rule's: the registry refuses it (NoExistingMarriage)."""

    name: ClassVar[str] = "ProofOfDeclaredStatus"
    article: ClassVar[str] = "婚姻登记条例 第四条; 婚姻登记工作规范 (2025)"
    role: str
    declared: str  # "" when the window did not ask (clients older than the field): nothing to compare
    on_record: str
    proof_kind: str  # "" when no proof was given

    def is_broken(self) -> bool:
        if not self.declared or self.on_record in ("", MaritalStatus.MARRIED.value):
            return False
        if self.on_record in _AGREEING.get(self.declared, frozenset()):
            return False
        return self.proof_kind not in PROOF_FOR.get(self.declared, frozenset())

    @property
    def message(self) -> str:
        accepted = " or ".join(sorted(PROOF_FOR.get(self.declared, frozenset()))) or "none"
        shows = self.on_record.replace("_", " ")
        return (f"{self.role} declares {self.declared} but the national record shows {shows}: "
                f"registration needs proof ({accepted})")
