"""The relief window's pages: a 低保 application with its household (民发〔2021〕57号) and its
procedure — acceptance, investigation, home visit, democratic review, the township's opinion, the
public notice and its objections, the county's decision, the written refusal — and 临时救助
(国发〔2014〕47号), where an urgent case is paid at once (先行救助) and its proof follows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.web import labels
from services.web.forms_services import AssistanceForm, DibaoApplicationForm, fen
from services.web.gateway import Refused
from services.web.pages_disability import refused_form
from services.web.rendering import china_today, clerk_of, config_of, csrf_ok, render, signed_in_only
from tongban.common.v1 import types_pb2
from tongban.handoff.v1 import handoff_service_pb2 as hpb
from tongban.relief.v1 import events_pb2 as revents
from tongban.relief.v1 import relief_service_pb2 as pb

SERVICE = "relief"


def routes() -> list[Route]:
    return [
        Route("/relief/dibao/apply", apply_for_dibao, methods=["GET", "POST"]),
        Route("/relief/assistance/apply", apply_for_assistance, methods=["GET", "POST"]),
        Route("/relief/cases/{case_id}", case_page, methods=["GET"]),
        Route("/relief/household", household, methods=["GET"]),
        Route("/relief/economic-checks", economic_checks, methods=["GET"]),
        Route("/relief/economic-checks/{handoff_id}", answer_economic_check, methods=["GET", "POST"]),
        Route("/relief/cases/{case_id}/print", print_refusal, methods=["GET"]),
        Route("/relief/cases/{case_id}/{action}", case_action, methods=["POST"]),
    ]


def _call(request: Request, method: str, message: Any) -> Any:
    return config_of(request).gateway.call(clerk_of(request), SERVICE, method, message)


@signed_in_only
async def apply_for_dibao(request: Request) -> Response:
    today = china_today(config_of(request).clock)
    if request.method == "GET":
        form = DibaoApplicationForm(today=today, request_id=str(uuid.uuid4()))
        for row in form.members:
            row.form.hukou_region.data = clerk_of(request).office[:6]
        form.members[0].form.relation.data = "self"  # the first row is the applicant; the others are chosen
        return render(request, "relief_dibao_apply.html", form=form)
    data = await request.form()
    form = DibaoApplicationForm(data, today=today)
    if not csrf_ok(request, data) or not form.validate():
        return render(request, "relief_dibao_apply.html", status_code=422, form=form)
    members = [pb.MemberInput(
        citizen_id=(m.citizen_id.data or "").strip().upper(), name=(m.name.data or "").strip(),
        relation=m.relation.data, hukou_region=(m.hukou_region.data or "").strip(),
        earned_income_fen=fen(m.earned_income.data), other_income_fen=fen(m.other_income.data),
        disability_subsidy_fen=fen(m.disability_subsidy.data), assets_fen=fen(m.assets.data))
        for m in (row.form for row in form.members) if not m.blank]
    try:
        answer = _call(request, "ApplyForDibao", pb.ApplyForDibaoRequest(
            applicant_citizen_id=(form.applicant_citizen_id.data or "").strip().upper(), members=members,
            area=form.area.data, special=form.special.data, unstable_income=form.unstable_income.data,
            bank_account=(form.bank_account.data or "").replace(" ", ""),
            request_id=form.request_id.data or str(uuid.uuid4())))
    except Refused as refused:
        return refused_form(request, "relief_dibao_apply.html", form, refused, _member_fields(refused))
    return RedirectResponse(f"/relief/cases/{answer.case_id}", status_code=303)


def _member_fields(refused: Refused) -> dict[str, str]:
    """members[1].citizen_id → members-1-citizen_id; unknown member fields land on the table."""
    names: dict[str, str] = {}
    for path in refused.fields:
        if path.startswith("members"):
            names[path] = "members"
    return names


@signed_in_only
async def apply_for_assistance(request: Request) -> Response:
    today = china_today(config_of(request).clock)
    if request.method == "GET":
        form = AssistanceForm(today=today, request_id=str(uuid.uuid4()),
                              emergency_place=clerk_of(request).office[:6], emergency_on=today)
        return render(request, "relief_assistance_apply.html", form=form)
    data = await request.form()
    form = AssistanceForm(data, today=today)
    if not csrf_ok(request, data) or not form.validate():
        return render(request, "relief_assistance_apply.html", status_code=422, form=form)
    on = form.emergency_on.data
    text = lambda name: (form[name].data or "").strip()  # noqa: E731
    try:
        answer = _call(request, "ApplyForAssistance", pb.ApplyForAssistanceRequest(
            citizen_id=text("citizen_id").upper(), name=text("name"), emergency_place=text("emergency_place"),
            emergency_on=types_pb2.Date(year=on.year, month=on.month, day=on.day), cause=form.cause.data,
            kind=form.kind.data, hukou_region=text("hukou_region"), request_id=form.request_id.data))
    except Refused as refused:
        return refused_form(request, "relief_assistance_apply.html", form, refused, {})
    amount = fen(form.urgent_amount.data)
    if amount > 0:
        # 先行救助: paid at once, the proof follows within the region's limit. A refused payment
        # (over the ceiling) leaves the case received, and its page says why.
        try:
            _call(request, "PayUrgently", pb.PayUrgentlyRequest(case_id=answer.case_id, amount_fen=amount,
                                                                request_id=f"{form.request_id.data}-pay"))
        except Refused as refused:
            return _show(request, _case(request, answer.case_id), status_code=409, problem=refused,
                         typed={"amount": form.urgent_amount.data or ""}, failed="pay")
    return RedirectResponse(f"/relief/cases/{answer.case_id}", status_code=303)


def _case(request: Request, case_id: str) -> Any:
    return _call(request, "GetCase", pb.GetCaseRequest(case_id=case_id)).case


@signed_in_only
async def case_page(request: Request) -> Response:
    return _show(request, _case(request, request.path_params["case_id"]))


@signed_in_only
async def print_refusal(request: Request) -> Response:
    """The written refusal (书面告知) of a 低保 or 临时救助 case, with the reasons and the rule."""
    case = _case(request, request.path_params["case_id"])
    refusal = facts_of(case)["refusal"]
    dibao = case.summary.case_type == "dibao"
    refusals = [{"where": "", "reason": refusal["reasons"], "rule": refusal["rule"], "article": ""}] if refusal else []
    return render(request, "print_refusal.html", title="不予批准最低生活保障告知书" if dibao else "不予临时救助告知书",
                  verb="批准" if dibao else "救助", case_id=case.summary.case_id, refusals=refusals,
                  region=case.region, office=case.summary.office_code, state=labels.state(case.summary.state, SERVICE))


def _show(request: Request, case: Any, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("typed", {})
    context.setdefault("failed", "")
    return render(request, "relief_case.html", status_code=status_code, case=case, s=case.summary,
                  facts=facts_of(case), **context)


def facts_of(case: Any) -> dict[str, Any]:
    """What the case page shows beyond the summary, read from the case's history: the household,
    the 临时救助 application, open objections, the urgent payment, and a recorded refusal."""
    facts: dict[str, Any] = {"members": [], "objections": {}, "refusal": None, "assistance": None, "urgent": None,
                             "checks": {}}
    for entry in case.history:
        kind = entry.type.rsplit(".", 1)[-1]
        payload = json.loads(entry.payload_json or "{}")
        if kind == "HouseholdMemberDeclared":
            facts["members"].append(payload)
        elif kind == "AssistanceApplicationReceived":
            facts["assistance"] = payload
        elif kind == "UrgentPaymentMade":
            facts["urgent"] = payload
        elif kind == "ObjectionRaised":
            facts["objections"][payload.get("objection_id", "")] = payload.get("objection", "")
        elif kind == "ObjectionAnswered":
            facts["objections"].pop(payload.get("objection_id", ""), None)
        elif kind in ("EconomicCheckRequested", "EconomicCheckAnswered", "EconomicCheckRefused"):
            # 多地联办: each check asked of another region, and its answer (or refusal) as it arrived.
            check = facts["checks"].setdefault(payload.get("handoff_id", ""), {})
            check.update(payload, outcome=kind)
        elif kind in ("DibaoRefused", "AssistanceRefused"):
            facts["refusal"] = {"rule": payload.get("rule", ""), "reasons": payload.get("reasons", "")}
    return facts


def _text(data: FormData, name: str) -> str:
    return str(data.get(name, "")).strip()


def _yes(data: FormData, name: str) -> bool:
    return data.get(name) == "y"


def _amount(data: FormData, name: str) -> int:
    try:
        return fen(_text(data, name))
    except ArithmeticError:
        return -1  # not a number: the service refuses it by its own rule, and the page keeps the text


_Build = Callable[[str, FormData], Any]
ACTIONS: dict[str, tuple[str, _Build]] = {
    "accept": ("AcceptDibao", lambda c, d: pb.AcceptDibaoRequest(case_id=c, request_id=_text(d, "request_id"))),
    "investigate": ("StartInvestigation", lambda c, d: pb.StartInvestigationRequest(
        case_id=c, request_id=_text(d, "request_id"))),
    "home-visit": ("RecordHomeVisit", lambda c, d: pb.RecordHomeVisitRequest(
        case_id=c, first_visitor=_text(d, "first_visitor"), second_visitor=_text(d, "second_visitor"),
        by_county=_yes(d, "by_county"), findings=_text(d, "findings"), request_id=_text(d, "request_id"))),
    "democratic-review": ("RecordDemocraticReview", lambda c, d: pb.RecordDemocraticReviewRequest(
        case_id=c, outcome=_text(d, "outcome"), request_id=_text(d, "request_id"))),
    "township-opinion": ("GiveTownshipOpinion", lambda c, d: pb.GiveTownshipOpinionRequest(
        case_id=c, recommends=_text(d, "recommends") == "yes", reasons=_text(d, "reasons"),
        request_id=_text(d, "request_id"))),
    "notice": ("StartPublicNotice", lambda c, d: pb.StartPublicNoticeRequest(
        case_id=c, request_id=_text(d, "request_id"))),
    "objection": ("RaiseObjection", lambda c, d: pb.RaiseObjectionRequest(
        case_id=c, objection=_text(d, "objection"), request_id=_text(d, "request_id"))),
    "answer-objection": ("AnswerObjection", lambda c, d: pb.AnswerObjectionRequest(
        case_id=c, objection_id=_text(d, "objection_id"), answer=_text(d, "answer"),
        request_id=_text(d, "request_id"))),
    "decide": ("DecideDibao", lambda c, d: pb.DecideDibaoRequest(
        case_id=c, approve=_text(d, "approve") == "yes", reasons=_text(d, "reasons"),
        request_id=_text(d, "request_id"))),
    "notify-refusal": ("NotifyRefusal", lambda c, d: pb.NotifyRefusalRequest(
        case_id=c, reference=_text(d, "reference"), request_id=_text(d, "request_id"))),
    "income-change": ("RecordIncomeChange", lambda c, d: pb.RecordIncomeChangeRequest(
        case_id=c, citizen_id=_text(d, "citizen_id").upper(), earned_income_fen=_amount(d, "earned_income"),
        other_income_fen=_amount(d, "other_income"), request_id=_text(d, "request_id"))),
    "review": ("RecordReview", lambda c, d: pb.RecordReviewRequest(
        case_id=c, findings=_text(d, "findings"), request_id=_text(d, "request_id"))),
    "pay": ("PayUrgently", lambda c, d: pb.PayUrgentlyRequest(
        case_id=c, amount_fen=_amount(d, "amount"), request_id=_text(d, "request_id"))),
    "proof": ("CompleteProof", lambda c, d: pb.CompleteProofRequest(
        case_id=c, documents=_text(d, "documents"), request_id=_text(d, "request_id"))),
    "refer": ("ReferToRescueAgency", lambda c, d: pb.ReferToRescueAgencyRequest(
        case_id=c, reason=_text(d, "reason"), request_id=_text(d, "request_id"))),
    "decide-assistance": ("DecideAssistance", lambda c, d: pb.DecideAssistanceRequest(
        case_id=c, approve=_text(d, "approve") == "yes", amount_fen=_amount(d, "amount"),
        reasons=_text(d, "reasons"), request_id=_text(d, "request_id"))),
}


@signed_in_only
async def case_action(request: Request) -> Response:
    case_id, action = request.path_params["case_id"], request.path_params["action"]
    data = await request.form()
    if action not in ACTIONS or not csrf_ok(request, data):
        return RedirectResponse(f"/relief/cases/{case_id}", status_code=303)
    method, build = ACTIONS[action]
    try:
        _call(request, method, build(case_id, data))
    except Refused as refused:
        typed = {key: str(value) for key, value in data.items() if key not in ("csrf", "request_id")}
        return _show(request, _case(request, case_id), status_code=409, problem=refused, typed=typed, failed=action)
    return RedirectResponse(f"/relief/cases/{case_id}", status_code=303)


@signed_in_only
async def household(request: Request) -> Response:
    """The 低保 and 临时救助 cases naming a person, with the reason asked (a recorded read)."""
    citizen_id = request.query_params.get("citizen_id", "").strip().upper()
    reason = request.query_params.get("reason", "").strip()
    typed = {"citizen_id": citizen_id, "reason": reason}
    if not citizen_id:
        return render(request, "relief_household.html", typed=typed, cases=None)
    try:
        cases = _call(request, "GetHousehold", pb.GetHouseholdRequest(citizen_id=citizen_id, reason=reason)).cases
    except Refused as refused:
        return render(request, "relief_household.html", status_code=409, typed=typed, cases=None, problem=refused)
    return render(request, "relief_household.html", typed=typed, cases=list(cases))


CHECK_WORK = "relief.family_economic_check"  # the hand-off's work: 家庭经济状况核对 (多地联办)


def _handoff_call(request: Request, method: str, message: Any) -> Any:
    return config_of(request).gateway.call(clerk_of(request), SERVICE, method, message, api="handoff")


def _check_row(h: Any) -> dict[str, Any]:
    """A check asked of this region: who, for which case, by when, and whether it is answered."""
    asked = revents.EconomicCheckRequested()
    if h.case_snapshot.type == asked.DESCRIPTOR.full_name:
        asked.ParseFromString(h.case_snapshot.data)
    answered = h.state == hpb.HANDOFF_STATE_ANSWERED
    return {"h": h, "asked": asked, "answered": answered, "overdue": bool(h.overdue) and not answered}


@signed_in_only
async def economic_checks(request: Request) -> Response:
    """家庭经济状况核对 asked of this region by the regions handling a 低保 application (a member's
    户籍 is here): taken on as they arrive, answered by a clerk; unanswered ones first."""
    listed = _handoff_call(request, "ListHandoffs", hpb.ListHandoffsRequest(direction=hpb.DIRECTION_INCOMING,
                                                                            limit=500)).handoffs
    rows = sorted((_check_row(h) for h in listed if h.work == CHECK_WORK),
                  key=lambda r: (r["answered"], r["h"].handoff_id))
    return render(request, "relief_economic_checks.html", rows=rows, done=request.query_params.get("done", ""))


def _count(data: FormData, name: str) -> int:
    text = _text(data, name)
    return int(text) if text.isdigit() else (0 if not text else -1)  # not a count: the service refuses it


@signed_in_only
async def answer_economic_check(request: Request) -> Response:
    handoff_id = request.path_params["handoff_id"]
    row = _check_row(_handoff_call(request, "GetHandoff", hpb.GetHandoffRequest(handoff_id=handoff_id)).handoff)
    if request.method == "GET":
        return render(request, "relief_economic_check.html", row=row, typed={})
    data = await request.form()
    if not csrf_ok(request, data):
        return RedirectResponse(f"/relief/economic-checks/{handoff_id}", status_code=303)
    typed = {key: str(value) for key, value in data.items() if key not in ("csrf", "request_id")}
    try:
        _call(request, "AnswerEconomicCheck", pb.AnswerEconomicCheckRequest(
            handoff_id=handoff_id, monthly_income_fen=_amount(data, "monthly_income"),
            deposits_fen=_amount(data, "deposits"), vehicles=_count(data, "vehicles"),
            properties=_count(data, "properties"), businesses=_count(data, "businesses"), note=_text(data, "note"),
            request_id=_text(data, "request_id") or str(uuid.uuid4())))
    except Refused as refused:
        # What was typed stays on the form, with the service's reason and the fields at fault.
        return render(request, "relief_economic_check.html", status_code=409, row=row, typed=typed, problem=refused)
    return RedirectResponse(f"/relief/economic-checks?done={handoff_id}", status_code=303)
