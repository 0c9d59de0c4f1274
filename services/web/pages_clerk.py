"""The clerk's pages: the office's work queues, starting and moving marriage cases, person status
queries, and print views of certificates and written refusals."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from services.web import labels
from services.web.forms import (
    DECLARATIONS,
    ReceiveDivorceForm,
    RegisterMarriageForm,
    ReissueForm,
    StatusQueryForm,
    WithdrawForm,
    citizen_id_problem,
    name_problem,
)
from services.web.forms_services import certificate_problem, region_problem
from services.web.gateway import Refused
from services.web.rendering import china_today, clerk_of, config_of, csrf_ok, render, signed_in_only
from tongban.marriage.v1 import events_pb2
from tongban.marriage.v1 import marriage_service_pb2 as pb

# How long a registration waits for the national registry before the page shows the case anyway
# (it then shows "等待全国登记库答复" and the queue lists it).
REGISTRY_WAIT_SECONDS = 15.0


def routes() -> list[Route]:
    return [
        Route("/marriage/register", register_marriage, methods=["GET", "POST"]),
        Route("/marriage/divorce", receive_divorce, methods=["GET", "POST"]),
        Route("/marriage/reissue", reissue, methods=["GET", "POST"]),
        Route("/status", status_query, methods=["GET", "POST"]),
        Route("/cases/{case_id}", case_page, methods=["GET"]),
        Route("/cases/{case_id}/print", print_view, methods=["GET"]),
        Route("/cases/{case_id}/request-certificate", request_certificate, methods=["POST"]),
        Route("/cases/{case_id}/register-divorce", register_divorce, methods=["POST"]),
        Route("/cases/{case_id}/withdraw", withdraw, methods=["GET", "POST"]),
        Route("/validate/{kind}", validate_field, methods=["GET"]),
    ]


def _call(request: Request, method: str, message: Any) -> Any:
    return config_of(request).gateway.call(clerk_of(request), "marriage", method, message)


@signed_in_only
async def register_marriage(request: Request) -> Response:
    today = china_today(config_of(request).clock)
    if request.method == "GET":
        form = RegisterMarriageForm(today=today, request_id=str(uuid.uuid4()))
        return render(request, "register_marriage.html", form=form, declarations=DECLARATIONS)
    data = await request.form()
    form = RegisterMarriageForm(data, today=today)
    if not csrf_ok(request, data) or not form.validate():
        return render(request, "register_marriage.html", status_code=422, form=form, declarations=DECLARATIONS)

    def party(side: str) -> pb.PartyInput:
        field = lambda name: form[f"{side}_{name}"].data  # noqa: E731
        return pb.PartyInput(
            citizen_id=field("citizen_id").strip(), name=field("name").strip(),
            declaration=events_pb2.MarriageDeclaration(
                consents=field("consents"), no_spouse=field("no_spouse"),
                no_prohibited_kinship=field("no_prohibited_kinship"), appears_in_person=field("appears_in_person")))

    try:
        answer = _call(request, "RegisterMarriage", pb.RegisterMarriageRequest(
            party_a=party("a"), party_b=party("b"), wait_seconds=REGISTRY_WAIT_SECONDS,
            request_id=form.request_id.data or str(uuid.uuid4())))
    except Refused as refused:
        return _refused(request, "register_marriage.html", form, refused, declarations=DECLARATIONS)
    return RedirectResponse(f"/cases/{answer.case.case_id}", status_code=303)


@signed_in_only
async def receive_divorce(request: Request) -> Response:
    today = china_today(config_of(request).clock)
    if request.method == "GET":
        form = ReceiveDivorceForm(today=today, request_id=str(uuid.uuid4()),
                                  marriage_case_id=request.query_params.get("marriage", ""))
        return render(request, "receive_divorce.html", form=form)
    data = await request.form()
    form = ReceiveDivorceForm(data, today=today)
    if not csrf_ok(request, data) or not form.validate():
        return render(request, "receive_divorce.html", status_code=422, form=form)
    text = lambda name: (form[name].data or "").strip()  # noqa: E731
    try:
        answer = _call(request, "ReceiveDivorce", pb.ReceiveDivorceRequest(
            marriage_case_id=text("marriage_case_id"),
            spouse_a=events_pb2.Spouse(citizen_id=text("a_citizen_id"), name=text("a_name")),
            spouse_b=events_pb2.Spouse(citizen_id=text("b_citizen_id"), name=text("b_name")),
            agreement=events_pb2.DivorceAgreement(
                signed_by_both=form.signed_by_both.data, intention=text("intention"),
                children_arrangement=text("children_arrangement"), property_arrangement=text("property_arrangement"),
                debt_arrangement=text("debt_arrangement")),
            both_appear_in_person=form.both_appear_in_person.data, request_id=form.request_id.data))
    except Refused as refused:
        return _refused(request, "receive_divorce.html", form, refused)
    return RedirectResponse(f"/cases/{answer.case.case_id}", status_code=303)


@signed_in_only
async def reissue(request: Request) -> Response:
    """补领: at any office since 2025-05-10 (国务院令第804号); a record held by another region is
    asked for through a recorded hand-off, and the case waits for that region's archive."""
    today = china_today(config_of(request).clock)
    if request.method == "GET":
        return render(request, "reissue.html", form=ReissueForm(today=today, request_id=str(uuid.uuid4())))
    data = await request.form()
    form = ReissueForm(data, today=today)
    if not csrf_ok(request, data) or not form.validate():
        return render(request, "reissue.html", status_code=422, form=form)
    try:
        answer = _call(request, "ReissueCertificate", pb.ReissueCertificateRequest(
            record_case_id=form.record_case_id.data.strip(),
            applicant_citizen_id=form.applicant_citizen_id.data.strip(),
            reason=form.reason.data.strip(), wait_seconds=REGISTRY_WAIT_SECONDS, request_id=form.request_id.data))
    except Refused as refused:
        return _refused(request, "reissue.html", form, refused)
    return RedirectResponse(f"/cases/{answer.case.case_id}", status_code=303)


@signed_in_only
async def status_query(request: Request) -> Response:
    today = china_today(config_of(request).clock)
    if request.method == "GET":
        return render(request, "status_query.html", form=StatusQueryForm(today=today, request_id=str(uuid.uuid4())))
    data = await request.form()
    form = StatusQueryForm(data, today=today)
    if not csrf_ok(request, data) or not form.validate():
        return render(request, "status_query.html", status_code=422, form=form)
    try:
        answer = _call(request, "QueryMaritalStatus", pb.QueryMaritalStatusRequest(
            citizen_id=form.citizen_id.data.strip(), reason=form.reason.data.strip(),
            requesting_body=(form.requesting_body.data or "").strip(), request_id=form.request_id.data))
    except Refused as refused:
        return _refused(request, "status_query.html", form, refused)
    return RedirectResponse(f"/cases/{answer.case.case_id}", status_code=303)


@signed_in_only
async def case_page(request: Request) -> Response:
    case_id = request.path_params["case_id"]
    service = labels.service_of(case_id)
    if service != "marriage":  # a case id typed or linked without its service: send it to its page
        return RedirectResponse(f"/{service}/cases/{case_id}", status_code=303)
    case = _call(request, "GetCase", pb.GetCaseRequest(case_id=request.path_params["case_id"])).case
    return render(request, "case.html", case=case, refusal=_refusal_of(case))


@signed_in_only
async def print_view(request: Request) -> Response:
    case = _call(request, "GetCase", pb.GetCaseRequest(case_id=request.path_params["case_id"])).case
    return render(request, "print.html", case=case, refusal=_refusal_of(case))


async def _case_action(request: Request, method: str, message: Any) -> Response:
    case_id = request.path_params["case_id"]
    data = await request.form()
    if not csrf_ok(request, data):
        return RedirectResponse(f"/cases/{case_id}", status_code=303)
    try:
        _call(request, method, message)
    except Refused as refused:
        case = _call(request, "GetCase", pb.GetCaseRequest(case_id=case_id)).case
        return render(request, "case.html", status_code=409, case=case, refusal=_refusal_of(case), problem=refused)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@signed_in_only
async def request_certificate(request: Request) -> Response:
    data = await request.form()
    return await _case_action(request, "RequestDivorceCertificate", pb.RequestDivorceCertificateRequest(
        divorce_case_id=request.path_params["case_id"], both_appear_in_person=data.get("both_appear_in_person") == "y",
        request_id=str(data.get("request_id", ""))))


@signed_in_only
async def register_divorce(request: Request) -> Response:
    data = await request.form()
    return await _case_action(request, "RegisterDivorce", pb.RegisterDivorceRequest(
        divorce_case_id=request.path_params["case_id"], request_id=str(data.get("request_id", ""))))


@signed_in_only
async def withdraw(request: Request) -> Response:
    case_id = request.path_params["case_id"]
    today = china_today(config_of(request).clock)
    if request.method == "GET":
        form = WithdrawForm(today=today, request_id=str(uuid.uuid4()))
        return render(request, "withdraw.html", form=form, case_id=case_id)
    data = await request.form()
    form = WithdrawForm(data, today=today)
    if not csrf_ok(request, data) or not form.validate():
        return render(request, "withdraw.html", status_code=422, form=form, case_id=case_id)
    try:
        _call(request, "WithdrawDivorce", pb.WithdrawDivorceRequest(
            divorce_case_id=case_id, citizen_id=form.citizen_id.data.strip(), reason=(form.reason.data or "").strip(),
            request_id=form.request_id.data))
    except Refused as refused:
        return _refused(request, "withdraw.html", form, refused, case_id=case_id)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@signed_in_only
async def validate_field(request: Request) -> Response:
    """A field checked as it is typed (static/console.js): the same checks the form makes on submit."""
    value = request.query_params.get("value", "")
    kind = request.path_params["kind"]
    today = china_today(config_of(request).clock)
    holder = request.query_params.get("holder", "")
    checks = {"citizen-id": lambda: citizen_id_problem(value, today), "name": lambda: name_problem(value),
              "disability-certificate": lambda: certificate_problem(value, holder, today),
              "region": lambda: region_problem(value)}
    if kind not in checks:
        return JSONResponse({"problem": f"unknown check {kind!r}"}, status_code=404)
    return JSONResponse({"problem": checks[kind]() if value else None})


def _refused(request: Request, template: str, form: Any, refused: Refused, **context: Any) -> Response:
    """Show the service's refusal on the same form, with everything typed kept; a new request id,
    since the corrected form is a new request (the refused one appended nothing)."""
    for name, problem in refused.fields.items():
        field = _form_field(form, name)
        if field is not None:
            field.errors = [*field.errors, problem]
    form.request_id.data = str(uuid.uuid4())
    status = 403 if refused.code == "PERMISSION_DENIED" else 409
    return render(request, template, status_code=status, form=form, problem=refused, **context)


# The request's field paths (party_a.citizen_id) → the form's names (a_citizen_id).
_FIELD_NAMES = {"party_a": "a", "party_b": "b", "spouse_a": "a", "spouse_b": "b", "agreement": ""}


def _form_field(form: Any, path: str) -> Any:
    head, _, rest = path.partition(".")
    prefix = _FIELD_NAMES.get(head)
    if prefix is None:
        name = path
    elif rest.startswith("declaration."):
        name = f"{prefix}_{rest.removeprefix('declaration.')}"
    else:
        name = f"{prefix}_{rest}" if prefix else rest
    return form._fields.get(name)


def _refusal_of(case: Any) -> dict[str, str] | None:
    """The recorded refusal of a case (rule, article, reason), read from its history."""
    for entry in reversed(case.history):
        if entry.type.endswith(("MarriageRefused", "ReissueRefused")):
            payload = json.loads(entry.payload_json or "{}")
            return {"rule": payload.get("rule", ""), "article": payload.get("article", ""),
                    "reason": payload.get("reason", ""), "holder_region": payload.get("holderRegion", "")}
    return None
