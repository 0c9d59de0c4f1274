"""The legal rules of divorce by agreement (民法典 第1076-1078条), each a named rule with its
article (the kit's rule shape)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from services.common.kit.rules import Rule
from services.marriage.domain.values import DivorceState, MarriageState, RecordStep, Spouse


def _named(state: MarriageState | DivorceState | None) -> str:
    return state.value.replace("_", " ") if state is not None else "unknown"


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
class JudgmentNotBeforeRegistration(Rule):
    """A judgment voiding or annulling a marriage judges that registered marriage: it cannot be dated
    before the registration (issue 11: a judgment of 0001-01-01 voided a marriage registered today)."""

    name: ClassVar[str] = "JudgmentNotBeforeRegistration"
    article: ClassVar[str] = "民法典 第1051-1052条"
    judgment_date: date
    registered_on: date | None

    def is_broken(self) -> bool:
        return self.registered_on is not None and self.judgment_date < self.registered_on

    @property
    def message(self) -> str:
        registered = self.registered_on.isoformat() if self.registered_on else "-"
        return f"the judgment of {self.judgment_date.isoformat()} predates the registration on {registered}"


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
class SpousesNamedAsOnRecord(Rule):
    """The office checks each applicant's identity against the marriage record: the name given with
    a citizen ID must be the name recorded for it (a swapped or misspelt name is refused, naming the
    field). Messages name the field, never the citizen ID or the name."""

    name: ClassVar[str] = "SpousesNamedAsOnRecord"
    article: ClassVar[str] = "民法典 第1076条; 婚姻登记条例 第十一条"
    given: tuple[tuple[str, str, str], ...]  # (field, citizen id, name) as the application gives them
    recorded: tuple[tuple[str, str], ...]  # (citizen id, name) of the marriage's parties

    def _wrong(self) -> list[str]:
        on_record = dict(self.recorded)
        return [field for field, citizen_id, name in self.given
                if citizen_id in on_record and name.strip() != on_record[citizen_id].strip()]

    def is_broken(self) -> bool:
        return bool(self._wrong())

    @property
    def message(self) -> str:
        return (f"{', '.join(f'{field}.name' for field in self._wrong())} differs from the name the marriage "
                "record holds for that citizen ID")


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


@dataclass(frozen=True)
class RecordRegionConfirmed(Rule):
    """A divorce received at an office outside the region recording the marriage (国务院令第804号,
    in force 2025-05-10: divorce at any office) goes on to the certificate only once that region
    has checked the spouses against its record and opened the proceeding on the marriage."""

    name: ClassVar[str] = "RecordRegionConfirmed"
    article: ClassVar[str] = "民法典 第1076条; 国务院令第804号"
    record_region: str
    step: RecordStep | None

    def is_broken(self) -> bool:
        return bool(self.record_region) and self.step is not RecordStep.RECORD_CONFIRMED

    @property
    def message(self) -> str:
        return (f"region {self.record_region}, which records the marriage, has not confirmed the record for this "
                f"application ({_named_step(self.step)})")


@dataclass(frozen=True)
class ProceedingOpenForThisDivorce(Rule):
    """The record region dissolves the marriage only for the divorce whose proceeding it opened."""

    name: ClassVar[str] = "ProceedingOpenForThisDivorce"
    article: ClassVar[str] = "民法典 第1078条"
    open_divorce_case_id: str
    divorce_case_id: str

    def is_broken(self) -> bool:
        return self.open_divorce_case_id != self.divorce_case_id

    @property
    def message(self) -> str:
        open_now = self.open_divorce_case_id or "none"
        return f"the proceeding open on the marriage is {open_now}, not {self.divorce_case_id}"


def _named_step(step: RecordStep | None) -> str:
    return step.value.replace("_", " ") if step is not None else "not asked"
