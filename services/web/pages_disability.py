"""The disability window's pages (残疾人两项补贴, 国发〔2015〕52号): receiving an application, and its
case page, where each office does its step of the domestic flow — township review, the county
残联's confirmation of the certificate, the county 民政's approval — or refuses with a reason; and
the receiving window's part when the 户籍 is in another province (forward, then inform)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.web import labels
from services.web.forms import text_problem
from services.web.forms_services import DisabilityApplicationForm, fen
from services.web.gateway import Refused
from services.web.rendering import china_today, clerk_of, config_of, csrf_ok, render, signed_in_only
from tongban.common.v1 import types_pb2
from tongban.disability.v1 import disability_service_pb2 as pb

SERVICE = "disability"


def routes() -> list[Route]:
    return [
        Route("/disability/apply", apply, methods=["GET", "POST"]),
        Route("/disability/cases/{case_id}", case_page, methods=["GET"]),
        Route("/disability/find", find_case, methods=["GET"]),
        Route("/disability/data-match", data_match, methods=["GET", "POST"]),
        Route("/disability/cases/{case_id}/print", print_refusal, methods=["GET"]),
        Route("/disability/cases/{case_id}/{action}", case_action, methods=["POST"]),
    ]


def _call(request: Request, method: str, message: Any) -> Any:
    return config_of(request).gateway.call(clerk_of(request), SERVICE, method, message)


@signed_in_only
async def apply(request: Request) -> Response:
    today = china_today(config_of(request).clock)
    if request.method == "GET":
        form = DisabilityApplicationForm(today=today, request_id=str(uuid.uuid4()),
                                         hukou_region=clerk_of(request).office[:6], living=True)
        return render(request, "disability_apply.html", form=form)
    data = await request.form()
    form = DisabilityApplicationForm(data, today=today)
    if not csrf_ok(request, data) or not form.validate():
        return render(request, "disability_apply.html", status_code=422, form=form)
    text = lambda name: (form[name].data or "").strip()  # noqa: E731
    valid_until = form.certificate_valid_until.data
    try:
        answer = _call(request, "ReceiveApplication", pb.ReceiveApplicationRequest(
            applicant=pb.ApplicantInput(citizen_id=text("citizen_id"), name=text("name"),
                                        hukou_region=text("hukou_region")),
            certificate_number=text("certificate_number").upper(),
            certificate_valid_until=types_pb2.Date(year=valid_until.year, month=valid_until.month,
                                                   day=valid_until.day),
            household=form.household.data, bank_account=text("bank_account"),
            living=form.living.data, nursing=form.nursing.data,
            circumstances=pb.CircumstancesInput(
                in_tekun_support=form.in_tekun_support.data,
                work_injury_nursing_allowance=form.work_injury_nursing_allowance.data,
                orphan_or_unsupported_child=form.orphan_or_unsupported_child.data,
                similar_subsidy_fen=fen(form.similar_subsidy.data),
                long_term_care_months=int(text("long_term_care_months") or 0)),
            request_id=form.request_id.data or str(uuid.uuid4())))
    except Refused as refused:
        return refused_form(request, "disability_apply.html", form, refused, _FIELDS)
    return RedirectResponse(f"/disability/cases/{answer.case.case_id}", status_code=303)


# The request's field paths → the form's names, to put a refusal next to the field at fault.
_FIELDS = {"applicant.citizen_id": "citizen_id", "applicant.name": "name", "applicant.hukou_region": "hukou_region",
           "circumstances.similar_subsidy_fen": "similar_subsidy",
           "circumstances.long_term_care_months": "long_term_care_months"}


def refused_form(request: Request, template: str, form: Any, refused: Refused, fields: dict[str, str],
                 **context: Any) -> Response:
    """The service's refusal on the same form, everything typed kept; a new request id, since the
    corrected form is a new request (the refused one appended nothing)."""
    for path, problem in refused.fields.items():
        field = form._fields.get(fields.get(path, path))
        if field is not None:
            field.errors = [*field.errors, problem]
    form.request_id.data = str(uuid.uuid4())
    status = 403 if refused.code == "PERMISSION_DENIED" else 409
    return render(request, template, status_code=status, form=form, problem=refused, **context)


@signed_in_only
async def case_page(request: Request) -> Response:
    return _show(request, _case(request))


@signed_in_only
async def print_refusal(request: Request) -> Response:
    """The written refusal handed to the applicant: each refused subsidy or stage, its reason and article."""
    case = _case(request)
    refusals = [{**r, "where": labels.SUBSIDIES.get(r["where"]) or labels.stage(r["where"]) if r["where"] else ""}
                for r in map(parse_refusal, case.refusals)]
    return render(request, "print_refusal.html", title="不予发放残疾人两项补贴告知书", verb="发放",
                  case_id=case.case_id, refusals=refusals, region=case.case_id.split("-")[1],
                  office=case.office_code, state=labels.state(case.state, SERVICE))


def _case(request: Request) -> Any:
    return _call(request, "GetCase", pb.GetCaseRequest(case_id=request.path_params["case_id"])).case


def _show(request: Request, case: Any, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("typed", {})
    context.setdefault("failed", "")
    return render(request, "disability_case.html", status_code=status_code, case=case,
                  refusals=[parse_refusal(text) for text in case.refusals], stop_reasons=STOP_REASONS, **context)


def parse_refusal(text: str) -> dict[str, str]:
    """A refusal as the service lists it, "<subsidy or stage>: <rule> (<article>): <reason>", in parts."""
    where, _, rest = text.partition(": ")
    rule_and_article, _, reason = rest.partition("): ")
    rule, _, article = rule_and_article.partition(" (")
    if not reason:  # not in the expected shape: show it whole rather than lose it
        return {"where": "", "rule": "", "article": "", "reason": text}
    return {"where": where, "rule": rule, "article": article, "reason": reason}


def _text(data: FormData, name: str) -> str:
    return str(data.get(name, "")).strip()


def _date(data: FormData, name: str) -> types_pb2.Date:
    """A typed YYYY-MM-DD as the API's date; anything else is sent as no date, which the service
    refuses naming the field (and the page keeps what was typed)."""
    try:
        day = date.fromisoformat(_text(data, name))
    except ValueError:
        return types_pb2.Date()
    return types_pb2.Date(year=day.year, month=day.month, day=day.day)


# 国发〔2015〕52号 三(四): why a subsidy stops, and the other departments' findings (数据比对).
STOP_REASONS: dict[str, str] = {
    "death": "死亡（或宣告死亡、失踪）", "moved_out": "户籍迁出本省", "false_materials": "提供虚假材料",
    "failed_review": "定期复核不合格", "left_dibao": "退出低保（仅生活补贴）", "own_request": "本人申请停发",
    "tekun_support": "纳入特困人员供养", "work_injury_nursing": "享受工伤保险生活护理费",
}
FINDINGS: dict[str, str] = {
    "death": "公安：死亡登记", "hukou_move": "公安：户籍迁移", "tekun_enrolment": "民政：纳入特困供养",
    "work_injury_allowance": "人社：工伤保险生活护理费", "dibao_ended": "民政：退出低保",
}


# Each step a case page offers: the action's path → the RPC and its request from the posted form.
ACTIONS: dict[str, tuple[str, Callable[[str, FormData], Any]]] = {
    "township-review": ("CompleteTownshipReview", lambda case_id, d: pb.CompleteTownshipReviewRequest(
        case_id=case_id, note=_text(d, "note"), request_id=_text(d, "request_id"))),
    "confirm-certificate": ("ConfirmCertificate", lambda case_id, d: pb.ConfirmCertificateRequest(
        case_id=case_id, note=_text(d, "note"), request_id=_text(d, "request_id"))),
    "approve": ("ApproveApplication", lambda case_id, d: pb.ApproveApplicationRequest(
        case_id=case_id, household=_text(d, "household"), request_id=_text(d, "request_id"))),
    "refuse": ("RefuseApplication", lambda case_id, d: pb.RefuseApplicationRequest(
        case_id=case_id, stage=_text(d, "stage"), reason=_text(d, "reason"), request_id=_text(d, "request_id"))),
    "forward": ("ForwardApplication", lambda case_id, d: pb.ForwardApplicationRequest(
        case_id=case_id, note=_text(d, "note"), request_id=_text(d, "request_id"))),
    "inform": ("InformApplicant", lambda case_id, d: pb.InformApplicantRequest(
        case_id=case_id, note=_text(d, "note"), request_id=_text(d, "request_id"))),
    # After approval: the entitlements' life (国发〔2015〕52号 三(四)).
    "stop": ("StopEntitlement", lambda case_id, d: pb.StopEntitlementRequest(
        case_id=case_id, subsidy=_text(d, "subsidy"), reason=_text(d, "reason"), effective_on=_date(d, "effective_on"),
        note=_text(d, "note"), request_id=_text(d, "request_id"))),
    "resume": ("ResumeEntitlement", lambda case_id, d: pb.ResumeEntitlementRequest(
        case_id=case_id, subsidy=_text(d, "subsidy"), reason=_text(d, "reason"), request_id=_text(d, "request_id"))),
    "renew": ("RenewCertificate", lambda case_id, d: pb.RenewCertificateRequest(
        case_id=case_id, certificate_number=_text(d, "certificate_number").upper(), issued_on=_date(d, "issued_on"),
        valid_until=_date(d, "valid_until"), request_id=_text(d, "request_id"))),
}


@signed_in_only
async def case_action(request: Request) -> Response:
    case_id, action = request.path_params["case_id"], request.path_params["action"]
    if action not in ACTIONS:
        return RedirectResponse(f"/disability/cases/{case_id}", status_code=303)
    data = await request.form()
    if not csrf_ok(request, data):
        return RedirectResponse(f"/disability/cases/{case_id}", status_code=303)
    method, build = ACTIONS[action]
    try:
        _call(request, method, build(case_id, data))
    except Refused as refused:
        # The case as it is, the refusal with its rule, and what the clerk typed, to correct and resend.
        typed = {key: str(value) for key, value in data.items() if key not in ("csrf", "request_id")}
        return _show(request, _case(request), status_code=409, problem=refused, typed=typed, failed=action)
    return RedirectResponse(f"/disability/cases/{case_id}", status_code=303)


@signed_in_only
async def find_case(request: Request) -> Response:
    """From the queues: an approved case (no longer in any queue) opened by its number, to stop,
    resume or renew its subsidies."""
    case_id = request.query_params.get("case_id", "").strip()
    if not case_id or text_problem(case_id):
        return RedirectResponse("/queues#svc-disability", status_code=303)
    return RedirectResponse(f"/disability/cases/{quote(case_id)}", status_code=303)


@signed_in_only
async def data_match(request: Request) -> Response:
    """数据比对: another department's finding (a death, a 户籍 move, …) acts on every application
    of the person in this region; the page lists the applications it acted on."""
    if request.method == "GET":
        return render(request, "disability_data_match.html", findings=FINDINGS, typed={}, affected=None)
    data = await request.form()
    typed = {key: str(value) for key, value in data.items() if key not in ("csrf", "request_id")}
    if not csrf_ok(request, data):
        return RedirectResponse("/disability/data-match", status_code=303)
    try:
        answer = _call(request, "RecordDataMatch", pb.RecordDataMatchRequest(
            kind=_text(data, "kind"), citizen_id=_text(data, "citizen_id").upper(),
            effective_on=_date(data, "effective_on"),
            source=_text(data, "source"), new_hukou_region=_text(data, "new_hukou_region"),
            request_id=_text(data, "request_id") or str(uuid.uuid4())))
    except Refused as refused:
        return render(request, "disability_data_match.html", status_code=409, findings=FINDINGS, typed=typed,
                      affected=None, problem=refused)
    return render(request, "disability_data_match.html", findings=FINDINGS, typed={},
                  affected=list(answer.affected_case_ids), match_id=answer.match_id)
