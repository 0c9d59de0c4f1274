"""The journeys of the accepted-request fuzz (test_fuzz_accepted.py): per service, a command that
starts a case and the commands that move it, built from valid but odd values (odd_values.py), each
step knowing beforehand whether it must be accepted (and what it must keep) or refused (and the
field or rule it must name)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

from google.protobuf.message import Message
from hypothesis import strategies as st

from services.common.events import Actor
from services.common.working_days import OFFICIAL_FIRST_YEAR
from services.disability.domain.commands import MAX_FEN
from services.relief.domain.household import MAX_FEN as RELIEF_MAX_FEN
from tests.integration.odd_values import (
    Typed,
    citizen_ids,
    dates,
    day_after,
    day_before,
    names,
    reached,
    texts,
    wire_date,
)
from tongban.disability.v1 import disability_service_pb2 as disability
from tongban.marriage.v1 import events_pb2 as marriage_events
from tongban.marriage.v1 import marriage_service_pb2 as marriage
from tongban.relief.v1 import relief_service_pb2 as relief

TODAY = date(2026, 2, 28)  # the doors' clock: a man born 29 February 2004 is 22 today (民法典 第202条)
EARLIEST = date(1900, 1, 1)  # no date before it unless a rule says so (issue 11)
REGION = "640000"
XINGQING = "640104"
_ids = itertools.count(1)


def _clerk(office: str, role: str) -> Actor:
    return Actor(kind="clerk", clerk_id="clerk-07", office_code=office, region=REGION, role=role)


REGISTRAR, COURT = _clerk("640104-MRO-01", "registrar"), _clerk("640104-MRO-01", "court")
WINDOW, CDPF, APPROVER = _clerk("640104-DPO-01", "window"), _clerk("640104-CDPF", "cdpf"), _clerk("640104-MZJ",
                                                                                                    "approver")
RELIEF = _clerk("640104-MZ-01", "relief")
READERS = {"marriage": REGISTRAR, "disability": APPROVER, "relief": RELIEF}  # who reads a case back
SERVICE_NAMES = {"marriage": "tongban.marriage.v1.MarriageService",
                 "disability": "tongban.disability.v1.DisabilityService",
                 "relief": "tongban.relief.v1.ReliefService"}


@dataclass(frozen=True)
class Step:
    method: str
    request: Message
    actor: Actor
    kept: tuple[str, ...] = ()  # what the events must hold, exactly, and GetCase show
    refused: tuple[str, frozenset[str]] | None = None  # (code, the fields or rules it may name)
    absent: tuple[str, ...] = ()  # what the events must not hold (a refusal recorded in writing)
    unshown: tuple[str, ...] = ()  # kept, but recorded on another stream than the case GetCase reads


@dataclass(frozen=True)
class Journey:
    start: Step
    moves: tuple[Step, ...] = field(default_factory=tuple)


def request_id() -> str:
    return f"fuzz-accepted-{next(_ids)}"


def _step(method: str, request: Message, actor: Actor, values: dict[str, Typed],
          other: tuple[str, frozenset[str]] | None = None, kept: tuple[str, ...] = (),
          absent: tuple[str, ...] = ()) -> Step:
    """A step over `values` (field path → typed value): refused naming a field that is over its
    limit, else refused as `other` says, else accepted keeping every value."""
    over = frozenset(path for path, value in values.items() if value.over)
    if over:
        return Step(method, request, actor, refused=("INVALID_ARGUMENT", over))
    if other is not None:
        return Step(method, request, actor, refused=other)
    return Step(method, request, actor, kept=(*kept, *(v.kept for v in values.values() if v.kept)), absent=absent)


# -- marriage: 结婚登记 (民法典 第1046-1049条) and 婚姻状况查询 ---------------------------------------

MAN, WOMAN = 22, 20  # 民法典 第1047条: 男不得早于二十二周岁，女不得早于二十周岁


def _births(years: int) -> st.SearchStrategy[date]:
    """Births around the day the legal age is reached today: that day (accepted), a 29 February
    (whose birthday falls on 28 February this year), the day after (one day too young)."""
    exact = date(TODAY.year - years, TODAY.month, TODAY.day)
    return st.one_of(st.sampled_from([exact, day_after(exact), date(2004, 2, 29), date(2008, 2, 29)]),
                     dates(EARLIEST, exact))


@st.composite
def marriage_journeys(draw: st.DrawFn) -> Journey:
    man_born, woman_born = draw(_births(MAN)), draw(_births(WOMAN))
    man, woman = draw(citizen_ids(st.just(man_born), male=True)), draw(citizen_ids(st.just(woman_born), male=False))
    man_name, woman_name = draw(names()), draw(names())
    sworn = marriage_events.MarriageDeclaration(consents=True, no_spouse=True, no_prohibited_kinship=True,
                                               appears_in_person=True)
    parties = [(man, man_name, man_born, MAN), (woman, woman_name, woman_born, WOMAN)]
    if draw(st.booleans()):
        parties.reverse()  # either may be party_a
    inputs, texts_sent, bad_days = {}, {}, set()
    for role, (who, name, born, _) in zip(("party_a", "party_b"), parties, strict=True):
        texts_sent[f"{role}.name"] = name
        party = marriage.PartyInput(citizen_id=who.sent, name=name.sent, declaration=sworn,
                                    declared_status=draw(st.sampled_from(["", "unmarried", "divorced"])))
        if party.declared_status == "divorced":  # differs from the national record: proof (条例 第四条)
            issued_on = draw(st.one_of(dates(born, TODAY), dates(born, TODAY), st.sampled_from(
                [born, TODAY, day_before(born), day_after(TODAY)])))
            issued_by = texts_sent[f"{role}.proof.issued_by"] = draw(texts(200, free=False))
            party.proof.CopyFrom(marriage_events.ProofDocument(
                kind="divorce_certificate", number=f"L640104-MRO-01-2020-{next(_ids):06d}", issued_by=issued_by.sent,
                issued_on=wire_date(issued_on)))
            if not born <= issued_on <= TODAY:
                bad_days.add(f"{role}.proof.issued_on")
        inputs[role] = party
    # Too young is refused in writing (不予登记): the application is recorded with the rule that failed.
    too_young = any(reached(born, years) > TODAY for _, _, born, years in parties)
    age = ("MinimumMarriageAge",)
    register = _step("RegisterMarriage", marriage.RegisterMarriageRequest(**inputs, request_id=request_id()),
                     REGISTRAR, texts_sent, ("INVALID_ARGUMENT", frozenset(bad_days)) if bad_days else None,
                     kept=(man.kept or "", woman.kept or "", *(age if too_young else ())),
                     absent=() if too_young else age)
    reason, body = draw(texts(2000)), draw(texts(200, free=False))
    query = _step("QueryMaritalStatus", marriage.QueryMaritalStatusRequest(
        citizen_id=man.sent, reason=reason.sent, requesting_body=body.sent, request_id=request_id()),
        COURT, {"reason": reason, "requesting_body": body}, kept=(man.kept or "",))
    return Journey(register, (query,))


# -- disability: 残疾人两项补贴 受理 → 乡镇审核 → 残联 → 县级审定 (国发〔2015〕52号) --------------------

_MONTHS = [6, 12, 24, 1200, 1201]  # long-term care: at least 6 months for the nursing subsidy; at most 1200
# A similar subsidy, in fen: none, cents, just under Ningxia's 110 yuan, the largest allowed (more than
# any subsidy here: both are refused in writing, 择高), one over (INVALID_ARGUMENT).
_FEN = [0, 0, 1, 99, 10_999, MAX_FEN, MAX_FEN + 1]


@st.composite
def disability_journeys(draw: st.DrawFn) -> Journey:
    born = draw(dates(EARLIEST, TODAY))
    who = draw(citizen_ids(st.just(born)))
    name = draw(names())
    category, grade = draw(st.integers(1, 7)), draw(st.integers(1, 4))
    months = draw(st.sampled_from(_MONTHS)) if grade <= 2 else 0
    similar = draw(st.sampled_from(_FEN))
    digits = draw(st.text(alphabet="0123456789", min_size=12, max_size=30))
    typed_account = " ".join(digits[i:i + 4] for i in range(0, len(digits), 4))
    wrong = {path for path, bad in (("circumstances.long_term_care_months", months > 1200),
                                    ("circumstances.similar_subsidy_fen", similar > MAX_FEN)) if bad}
    receive = _step("ReceiveApplication", disability.ReceiveApplicationRequest(
        applicant=disability.ApplicantInput(citizen_id=who.sent, name=name.sent, hukou_region=XINGQING),
        certificate_number=f"{who.sent}{category}{grade}",
        certificate_valid_until=wire_date(draw(dates(TODAY, date(2100, 12, 31)))), household="dibao",
        bank_account=typed_account, living=True, nursing=grade <= 2,
        circumstances=disability.CircumstancesInput(similar_subsidy_fen=similar, long_term_care_months=months),
        request_id=request_id()), WINDOW, {"applicant.name": name},
        ("INVALID_ARGUMENT", frozenset(wrong)) if wrong else None,
        kept=(f"{who.kept}{category}{grade}", *(["HigherOfSimilarSubsidy"] if similar == MAX_FEN else [])))
    notes = [draw(texts(2000)) for _ in range(3)]
    last = _refuse_at_approval(notes[2]) if draw(st.integers(0, 2)) else draw(_death_found(who, born))
    if similar == MAX_FEN:  # refused whole at reception: nothing moves it on
        return Journey(receive, (_step("CompleteTownshipReview", disability.CompleteTownshipReviewRequest(
            note=notes[0].sent, request_id=request_id()), WINDOW, {"note": notes[0]},
            ("FAILED_PRECONDITION", frozenset({"StageInTurn"}))),))
    return Journey(receive, (
        _step("CompleteTownshipReview", disability.CompleteTownshipReviewRequest(
            note=notes[0].sent, request_id=request_id()), WINDOW, {"note": notes[0]}),
        _step("ConfirmCertificate", disability.ConfirmCertificateRequest(
            note=notes[1].sent, request_id=request_id()), CDPF, {"note": notes[1]}),
        last))


def _refuse_at_approval(reason: Typed) -> Step:
    return _step("RefuseApplication", disability.RefuseApplicationRequest(
        stage="approval", reason=reason.sent, request_id=request_id()), APPROVER, {"reason": reason})


@st.composite
def _death_found(draw: st.DrawFn, who: Typed, born: date) -> Step:
    """数据比对: a death found by public security, on a day from the birth (the citizen ID's) to today;
    the day before the birth and the day after today are refused naming effective_on."""
    day = draw(st.one_of(dates(born, TODAY), st.sampled_from([born, TODAY, day_before(born), day_after(TODAY)])))
    source = draw(texts(200, free=False))
    step = _step("RecordDataMatch", disability.RecordDataMatchRequest(
        kind="death", citizen_id=who.sent, effective_on=wire_date(day), source=source.sent, request_id=request_id()),
        APPROVER, {"source": source}, None if born <= day <= TODAY else ("INVALID_ARGUMENT",
                                                                          frozenset({"effective_on"})))
    return replace(step, unshown=step.kept)  # the finding is its own record; the case shows its outcome


# -- relief: 低保 (民发〔2021〕57号) and 临时救助 (国发〔2014〕47号) ---------------------------------------

CALENDAR_STARTS = date(OFFICIAL_FIRST_YEAR, 1, 1)
CEILING = 100_000  # the region's 先行救助 ceiling per case (ReliefSettings.urgent_ceiling_fen)
# Digits: 12 to 30 allowed. (Hypothesis draws the first of a list most often: a valid one comes first.)
_ACCOUNTS = {19: True, 12: True, 16: True, 30: True, 11: False, 31: False}
_ACCOUNT_LENGTHS = [19, 12, 19, 16, 30, 19, 11, 31]


@st.composite
def dibao_journeys(draw: st.DrawFn) -> Journey:
    people = [draw(citizen_ids(dates(EARLIEST, TODAY))) for _ in range(draw(st.integers(1, 3)))]
    member_names = [draw(names()) for _ in people]
    incomes = [draw(st.sampled_from([0, 62_000, 1, 99, RELIEF_MAX_FEN])) for _ in people]
    if draw(st.integers(0, 7)) == 7:  # now and then a typing slip: one over the largest allowed, or int64's end
        incomes[-1] = draw(st.sampled_from([RELIEF_MAX_FEN + 1, 2**63 - 1]))
    too_much = frozenset(f"members[{i}].earned_income_fen" for i, fen in enumerate(incomes) if fen > RELIEF_MAX_FEN)
    members = [relief.MemberInput(citizen_id=who.sent, name=name.sent, relation="self" if i == 0 else "child",
                                  hukou_region=XINGQING, earned_income_fen=income)
               for i, (who, name, income) in enumerate(zip(people, member_names, incomes, strict=True))]
    length, area = draw(st.sampled_from(_ACCOUNT_LENGTHS)), draw(st.sampled_from(["urban"] * 4 + ["rural"]))
    refused = (("INVALID_ARGUMENT", too_much) if too_much
               else ("INVALID_ARGUMENT", frozenset({"bank_account"})) if not _ACCOUNTS[length]
               else ("FAILED_PRECONDITION", frozenset({"StandardConfigured"})) if area == "rural"  # 兴庆区: urban only
               else None)
    apply = _step("ApplyForDibao", relief.ApplyForDibaoRequest(
        applicant_citizen_id=people[0].sent, members=members, area=area, bank_account="6" * length,
        request_id=request_id()), RELIEF, {f"members[{i}].name": name for i, name in enumerate(member_names)}, refused,
        kept=tuple(who.kept or "" for who in people))
    first, findings = draw(names()), draw(texts(2000))
    # Two staff, each named (57号): now and then the same name twice, which the rule refuses.
    second = first if draw(st.integers(0, 9)) == 9 else draw(names().filter(lambda n: n.kept != first.kept))
    return Journey(apply, (
        _step("AcceptDibao", relief.AcceptDibaoRequest(request_id=request_id()), RELIEF, {}),
        _step("StartInvestigation", relief.StartInvestigationRequest(request_id=request_id()), RELIEF, {}),
        _step("RecordHomeVisit", relief.RecordHomeVisitRequest(
            first_visitor=first.sent, second_visitor=second.sent, findings=findings.sent, request_id=request_id()),
            RELIEF, {"first_visitor": first, "second_visitor": second, "findings": findings},
            ("FAILED_PRECONDITION", frozenset({"HomeVisitByTwoStaff"})) if first.kept == second.kept else None)))


_EMERGENCIES: list[tuple[date | tuple[int, int, int], bool]] = [
    (TODAY, True), (EARLIEST, True), (day_before(EARLIEST), False), (day_after(TODAY), False),
    (date(2024, 2, 29), True), ((2025, 2, 29), False), ((1, 1, 1), False), ((2026, 13, 1), False)]


@st.composite
def assistance_journeys(draw: st.DrawFn) -> Journey:
    when, valid = draw(st.one_of(dates(CALENDAR_STARTS, TODAY).map(lambda d: (d, True)), st.sampled_from(_EMERGENCIES)))
    born = draw(dates(EARLIEST, TODAY))
    who, name = draw(citizen_ids(st.just(born))), draw(names())
    urgent = draw(st.booleans())
    if valid and isinstance(when, date) and when < born:
        valid = False  # an emergency before the person was born
    if urgent and valid and isinstance(when, date) and when < CALENDAR_STARTS:
        valid = False  # 先行救助's proof period is counted on a calendar that starts in 2004
    apply = _step("ApplyForAssistance", relief.ApplyForAssistanceRequest(
        citizen_id=who.sent, name=name.sent, emergency_place=XINGQING, emergency_on=wire_date(when),
        cause=draw(st.sampled_from(["traffic_accident", "fire", "illness"])),
        kind="urgent" if urgent else "expenditure", hukou_region=draw(st.sampled_from(["", XINGQING, "610302"])),
        request_id=request_id()), RELIEF, {"name": name},
        None if valid else ("INVALID_ARGUMENT", frozenset({"emergency_on"})), kept=(who.kept or "",))
    moves: list[Step] = []
    if urgent:
        paid = draw(st.sampled_from([20_000, 1, 99, CEILING, 0, CEILING + 1]))
        moves.append(_step("PayUrgently", relief.PayUrgentlyRequest(amount_fen=paid, request_id=request_id()),
                           RELIEF, {}, None if 0 < paid <= CEILING else ("FAILED_PRECONDITION",
                                                                          frozenset({"UrgentWithinCeiling"}))))
        documents = draw(texts(2000))
        moves.append(_step("CompleteProof", relief.CompleteProofRequest(
            documents=documents.sent, request_id=request_id()), RELIEF, {"documents": documents}))
    if draw(st.booleans()):
        granted = draw(st.sampled_from([80_000, 1, 99, RELIEF_MAX_FEN, 0, RELIEF_MAX_FEN + 1, 2**63 - 1]))
        moves.append(_step("DecideAssistance", relief.DecideAssistanceRequest(
            approve=True, amount_fen=granted, request_id=request_id()), RELIEF, {},
            None if 0 < granted <= RELIEF_MAX_FEN else ("INVALID_ARGUMENT", frozenset({"amount_fen"})) if granted
            else ("FAILED_PRECONDITION", frozenset({"GrantHasAnAmount"}))))
    else:
        reasons = draw(texts(2000))
        moves.append(_step("DecideAssistance", relief.DecideAssistanceRequest(
            approve=False, reasons=reasons.sent, request_id=request_id()), RELIEF, {"reasons": reasons}))
    return Journey(apply, tuple(moves))


def relief_journeys() -> st.SearchStrategy[Journey]:
    return st.one_of(dibao_journeys(), assistance_journeys())


JOURNEYS: dict[str, Callable[[], st.SearchStrategy[Journey]]] = {
    "marriage": marriage_journeys, "disability": disability_journeys, "relief": relief_journeys}
