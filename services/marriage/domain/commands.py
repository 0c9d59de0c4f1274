"""Commands, imperative, with the validation that needs no state: bad input is refused whole, with
every bad field named by its path in the request (architecture invariant 7: INVALID_ARGUMENT)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from services.common.errors import FieldViolation, InvalidArgument
from services.common.identity.citizen_id import CitizenId
from services.marriage.domain.values import (
    DeclaredStatus,
    DivorceAgreement,
    JudgmentKind,
    MarriageDeclaration,
    PartyRecord,
    ProofDocument,
    ProofKind,
    Sex,
    Spouse,
)

MAX_NAME = 100
MAX_TEXT = 2000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class _Violations:
    found: list[FieldViolation] = field(default_factory=list)

    def citizen_id(self, value: str, path: str, today: date) -> CitizenId | None:
        if not value:
            self.add(path, "required")
            return None
        try:
            return CitizenId.parse(value, today=today, field=path)
        except InvalidArgument as exc:
            self.found.extend(exc.violations)
            return None

    def text(self, value: str, path: str, *, limit: int = MAX_TEXT, required: bool = True) -> None:
        if required and not value.strip():
            self.add(path, "required")
        elif len(value) > limit:
            self.add(path, f"at most {limit} characters")

    def name(self, value: str, path: str) -> None:
        self.text(value, path, limit=MAX_NAME)
        if any(ord(c) < 32 for c in value):
            self.add(path, "must not contain line breaks or control characters")

    def proof(self, proof: ProofDocument, path: str, today: date, born: date | None) -> None:
        if proof.kind not in {k.value for k in ProofKind}:
            self.add(f"{path}.kind", f"one of {', '.join(k.value for k in ProofKind)}")
        self.text(proof.number, f"{path}.number", limit=MAX_NAME)
        self.text(proof.issued_by, f"{path}.issued_by", limit=MAX_NAME * 2)
        if proof.issued_on is not None and proof.issued_on > today:
            self.add(f"{path}.issued_on", "must not be in the future")
        elif proof.issued_on is not None and born is not None and proof.issued_on < born:
            # A certificate of the party's divorce or spouse's death issued before the party was born is a
            # typing slip (issue 11: dates consistent with the case).
            self.add(f"{path}.issued_on", "must not be before the party's birth (citizen ID)")
        if proof.document_sha256 and not _SHA256.match(proof.document_sha256):
            self.add(f"{path}.document_sha256", "64 lower-case hexadecimal characters (SHA-256)")

    def case_id(self, value: str, path: str) -> None:
        self.text(value, path, limit=200)

    def add(self, path: str, description: str) -> None:
        self.found.append(FieldViolation(path, description))

    def raise_if_any(self) -> None:
        if self.found:
            raise InvalidArgument(self.found)


@dataclass(frozen=True)
class PartyInput:
    citizen_id: str
    name: str
    declaration: MarriageDeclaration | None
    declared_status: str = ""  # "": not declared (clients older than the field)
    proof: ProofDocument | None = None


@dataclass(frozen=True)
class RegisterMarriage:
    party_a: PartyInput
    party_b: PartyInput

    def parties(self, *, today: date, claim_ids: tuple[str, str]) -> tuple[PartyRecord, PartyRecord]:
        """Both parties as recorded, sex and birth date read from their citizen IDs."""
        v = _Violations()
        records: list[PartyRecord] = []
        for path, party, claim_id in (("party_a", self.party_a, claim_ids[0]), ("party_b", self.party_b, claim_ids[1])):
            cid = v.citizen_id(party.citizen_id, f"{path}.citizen_id", today)
            v.name(party.name, f"{path}.name")
            if party.declaration is None:
                v.add(f"{path}.declaration", "required: the party's signed declaration")
            declared = party.declared_status
            if declared and declared not in {s.value for s in DeclaredStatus}:
                v.add(f"{path}.declared_status", f"one of {', '.join(s.value for s in DeclaredStatus)}")
            if party.proof is not None:
                v.proof(party.proof, f"{path}.proof", today, cid.birth_date if cid else None)
            if cid is not None and party.declaration is not None:
                records.append(PartyRecord(cid.value, party.name.strip(), Sex(cid.sex), cid.birth_date,
                                           party.declaration, claim_id, declared_status=declared, proof=party.proof))
        v.raise_if_any()
        return records[0], records[1]


@dataclass(frozen=True)
class ReceiveDivorce:
    marriage_case_id: str
    spouse_a: Spouse
    spouse_b: Spouse
    agreement: DivorceAgreement | None
    both_appear_in_person: bool

    def validated(self, today: date) -> tuple[Spouse, Spouse, DivorceAgreement]:
        v = _Violations()
        v.case_id(self.marriage_case_id, "marriage_case_id")
        spouses = []
        for path, spouse in (("spouse_a", self.spouse_a), ("spouse_b", self.spouse_b)):
            cid = v.citizen_id(spouse.citizen_id, f"{path}.citizen_id", today)
            v.name(spouse.name, f"{path}.name")
            spouses.append(Spouse(cid.value if cid else spouse.citizen_id, spouse.name.strip()))
        agreement = self.agreement
        if agreement is None:
            v.add("agreement", "required: the written divorce agreement (民法典 第1076条)")
        else:
            # 第1076条: the agreement states the intention and how children, property and debts are
            # handled; "无" is a valid answer, silence is not.
            v.text(agreement.intention, "agreement.intention")
            v.text(agreement.children_arrangement, "agreement.children_arrangement")
            v.text(agreement.property_arrangement, "agreement.property_arrangement")
            v.text(agreement.debt_arrangement, "agreement.debt_arrangement")
            if agreement.document_sha256 and not _SHA256.match(agreement.document_sha256):
                v.add("agreement.document_sha256", "64 lower-case hexadecimal characters (SHA-256)")
        v.raise_if_any()
        assert agreement is not None
        return spouses[0], spouses[1], agreement


@dataclass(frozen=True)
class WithdrawDivorce:
    divorce_case_id: str
    citizen_id: str
    reason: str

    def validated(self, today: date) -> str:
        v = _Violations()
        v.case_id(self.divorce_case_id, "divorce_case_id")
        cid = v.citizen_id(self.citizen_id, "citizen_id", today)
        v.text(self.reason, "reason", required=False)
        v.raise_if_any()
        assert cid is not None
        return cid.value


@dataclass(frozen=True)
class RequestDivorceCertificate:
    divorce_case_id: str
    both_appear_in_person: bool

    def validate(self) -> None:
        v = _Violations()
        v.case_id(self.divorce_case_id, "divorce_case_id")
        v.raise_if_any()


@dataclass(frozen=True)
class RegisterDivorce:
    divorce_case_id: str

    def validate(self) -> None:
        v = _Violations()
        v.case_id(self.divorce_case_id, "divorce_case_id")
        v.raise_if_any()


@dataclass(frozen=True)
class ReissueCertificate:
    record_case_id: str
    applicant_citizen_id: str
    reason: str

    def validated(self, today: date) -> str:
        v = _Violations()
        v.case_id(self.record_case_id, "record_case_id")
        cid = v.citizen_id(self.applicant_citizen_id, "applicant_citizen_id", today)
        v.text(self.reason, "reason")
        v.raise_if_any()
        assert cid is not None
        return cid.value


@dataclass(frozen=True)
class QueryMaritalStatus:
    citizen_id: str
    reason: str
    requesting_body: str

    def validated(self, today: date) -> str:
        v = _Violations()
        cid = v.citizen_id(self.citizen_id, "citizen_id", today)
        v.text(self.reason, "reason")
        v.text(self.requesting_body, "requesting_body", limit=MAX_NAME * 2)
        v.raise_if_any()
        assert cid is not None
        return cid.value


@dataclass(frozen=True)
class RecordCourtJudgment:
    marriage_case_id: str
    judgment: JudgmentKind | None
    court: str
    judgment_number: str
    judgment_date: date | None
    ground: str

    def validate(self, today: date) -> None:
        v = _Violations()
        v.case_id(self.marriage_case_id, "marriage_case_id")
        if self.judgment is None:
            v.add("judgment", "required: JUDGMENT_VOID or JUDGMENT_ANNULLED")
        v.text(self.court, "court", limit=MAX_NAME * 2)
        v.text(self.judgment_number, "judgment_number", limit=MAX_NAME)
        if self.judgment_date is None:
            v.add("judgment_date", "required: a real calendar date")
        elif self.judgment_date > today:
            v.add("judgment_date", "must not be in the future")
        v.text(self.ground, "ground", required=False)
        v.raise_if_any()
