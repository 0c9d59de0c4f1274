"""The rules of reissues, status queries and of who records at an office, each a named rule with
its article (the kit's rule shape)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import ClassVar

from services.common.errors import NotAuthorised, RuleViolation
from services.common.identity.regions import RegionCode, office_region
from services.common.kit.rules import Rule

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
    """Registrations are made by a clerk at an office of the region whose service records them: the
    office code names a county or city of that region (GB/T 2260), so an office of another region,
    or a made-up one, records nothing here — and certificate numbers, which carry the office code,
    are unique nationwide."""

    name: ClassVar[str] = "ClerkOfThisRegion"
    article: ClassVar[str] = "婚姻登记条例 第二条"
    error: ClassVar[type[RuleViolation]] = NotAuthorised
    actor_kind: str
    actor_region: str
    office_code: str
    region: str

    def is_broken(self) -> bool:
        office = office_region(self.office_code)
        return (self.actor_kind != "clerk" or self.actor_region != self.region or office is None
                or not RegionCode(self.region).contains(office))

    @property
    def message(self) -> str:
        if self.actor_kind == "clerk" and self.actor_region == self.region:
            return f"office {self.office_code!r} is not an office of region {self.region}"
        return f"only a clerk at an office of region {self.region} can record this"


@dataclass(frozen=True)
class CalendarAdministrator(Rule):
    """The working-day calendar every statutory period counts on (民法典 第二百零三条; 国务院办公厅
    放假安排) is changed only by the region's administrators, never by a window."""

    name: ClassVar[str] = "CalendarAdministrator"
    article: ClassVar[str] = "民法典 第二百零三条; Tongban invariant 8 (authorised by role)"
    error: ClassVar[type[RuleViolation]] = NotAuthorised
    role: str
    authorised_roles: Collection[str]

    def is_broken(self) -> bool:
        return self.role not in self.authorised_roles

    @property
    def message(self) -> str:
        return f"role {self.role!r} may not record a holiday notice (admin only)"
