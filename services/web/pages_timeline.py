"""The auditor's cross-region pages: a case's timeline from every region and service that holds
part of it (who did what, where, when, under which trace; hand-offs and registry claims drawn as a
sequence; the case as it stood at any moment), exported as JSON Lines or as a printable HTML page;
and a person looked up by citizen ID across the services of the auditor's region (the national
auditor's: of every region).

Every read goes through a service's front door (AuditService.GetCaseTrail, FindPersonCases,
MarriageService.QueryMaritalStatus) as the signed-in auditor, with the reason typed: the service
authorises it and records it before answering. The console starts in the auditor's own region and
follows the case to the regions its records name (hand-offs, the region a record is held in); a
region whose front door does not accept this auditor (each region trusts only its own identity
provider) is shown as a part that is not visible, with the service's own words — never as a failure
of the whole page. The national auditor's token (the national identity provider, which every region
trusts for audit reads only) is accepted everywhere, so every region's part is visible to them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from google.protobuf.timestamp_pb2 import Timestamp
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length

from services.web.forms import REQUIRED, CitizenIdField, ConsoleForm, FreeTextField
from services.web.gateway import NotRunHere, Refused, ServiceDown, SignInAgain
from services.web.rendering import CHINA, china_today, clerk_of, config_of, csrf_ok, render, signed_in_only
from services.web.stitch import SERVICES, Part, Timeline, case_region, event_label, jsonl, regions_named, stitch
from tongban.audit.v1 import audit_service_pb2 as apb
from tongban.marriage.v1 import marriage_service_pb2 as pb

# tongban.marriage.v1.MaritalStatusQueried.status, as an auditor reads it
MARITAL_STATUS = {"unmarried_on_record": "无有效婚姻登记记录", "married": "已婚", "divorced": "离婚",
                  "void": "婚姻无效", "annulled": "婚姻被撤销", "widowed": "丧偶"}
MAX_REGIONS = 8  # a case's thread names a few regions; never walk the whole country on one click


def routes() -> list[Route]:
    return [
        Route("/audit/trail", trail_home, methods=["GET"]),
        Route("/audit/trail/{case_id}", trail_page, methods=["GET"]),
        Route("/audit/trail/{case_id}/export.html", export_html, methods=["GET"]),
        Route("/audit/trail/{case_id}/trail.jsonl", export_jsonl, methods=["GET"]),
        Route("/audit/person", person_lookup, methods=["GET", "POST"]),
    ]


class PersonLookupForm(ConsoleForm):
    citizen_id = CitizenIdField("公民身份号码")
    reason = FreeTextField("查询事由（将被记录）", validators=[DataRequired(REQUIRED), Length(max=500)])
    request_id = HiddenField()


# -- the timeline ---------------------------------------------------------------------------------


def _as_of(text: str) -> datetime | None:
    """A China-time moment typed as YYYY-MM-DDTHH:MM (the datetime-local input); None for "now"."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=CHINA) if text else None
    except ValueError:
        return None


def _ask(request: Request, region: str, service: str, ask: apb.GetCaseTrailRequest) -> Part | None:
    """One service's part, or why it is not visible; None when the region runs no such service."""
    clerk = clerk_of(request)
    try:
        answer = config_of(request).gateway.call(clerk, service, "GetCaseTrail", ask, api="audit", region=region)
    except NotRunHere:
        return None
    except ServiceDown as down:
        return Part(region, service, problem=f"服务暂时无法连接：{down.detail}")
    except SignInAgain as refused:
        if region == clerk.region:
            raise  # the auditor's own credential ran out: sign in again
        # Another region's front door trusts only its own identity provider (architecture invariant 8).
        return Part(region, service, problem=str(refused), hidden=True)
    except Refused as refused:
        if region == clerk.region:
            raise
        return Part(region, service, problem=refused.message, hidden=refused.code == "PERMISSION_DENIED")
    return Part(region, service, answer=answer)


def gather(request: Request, case_id: str, reason: str, as_of: datetime | None) -> Timeline:
    """The auditor's region first, then every region the answers name, each asked with the threads
    (correlation ids) learned so far."""
    home = clerk_of(request).region
    threads: set[str] = set()
    queue, asked, parts = [home, case_region(case_id)], set(), []
    while queue and len(asked) < MAX_REGIONS:
        region = queue.pop(0)
        if not region or region in asked:
            continue
        asked.add(region)
        region_parts = []
        for service in SERVICES:
            ask = apb.GetCaseTrailRequest(case_id=case_id, correlation_ids=sorted(threads), reason=reason)
            if as_of is not None:
                ask.as_of.CopyFrom(_timestamp(as_of))
            part = _ask(request, region, service, ask)
            if part is None:
                continue
            if part.hidden:  # the region does not accept this auditor: its other services will not either
                region_parts = [Part(region, "", problem=part.problem, hidden=True)]
                break
            region_parts.append(part)
            if part.answer is not None:
                threads.update(part.answer.correlation_ids)
                queue.extend(sorted(regions_named(part.answer) - asked))
        if not region_parts:
            region_parts.append(Part(region, "", problem="本控制台没有该地区服务的地址（--endpoint）", hidden=True))
        parts.extend(region_parts)
    return stitch(case_id, parts, as_of)


def _timestamp(instant: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(instant.astimezone(UTC))
    return stamp


def _query(request: Request) -> tuple[str, str, str]:
    params = request.query_params
    return request.path_params["case_id"].strip(), params.get("reason", "").strip(), params.get("as_of", "").strip()


@signed_in_only
async def trail_home(request: Request) -> Response:
    case_id, reason = request.query_params.get("case_id", "").strip(), request.query_params.get("reason", "").strip()
    if case_id and reason:
        return RedirectResponse(f"/audit/trail/{quote(case_id)}?reason={quote(reason)}", status_code=303)
    problem = "请填写案件编号和查看事由（事由将被记录）。" if case_id or reason else None
    return render(request, "timeline_home.html", case_id=case_id, reason=reason, problem=problem,
                  status_code=422 if problem else 200)


async def _timeline_or_form(request: Request) -> Timeline | Response:
    case_id, reason, as_of = _query(request)
    if not reason:
        return render(request, "timeline_home.html", status_code=422, case_id=case_id, reason="",
                      problem="查看跨地区时间线须填写事由：每个地区的服务都会连同事由记录这次查阅。")
    try:
        return gather(request, case_id, reason, _as_of(as_of))
    except Refused as refused:  # the auditor's own region said no (the role, a bad case id)
        return render(request, "timeline_home.html", status_code=403 if refused.code == "PERMISSION_DENIED" else 409,
                      case_id=case_id, reason=reason, problem=refused)


@signed_in_only
async def trail_page(request: Request) -> Response:
    found = await _timeline_or_form(request)
    if isinstance(found, Response):
        return found
    _, reason, as_of = _query(request)
    return render(request, "timeline_trail.html", timeline=found, reason=reason, as_of=as_of,
                  event_label=event_label, query=f"reason={quote(reason)}&as_of={quote(as_of)}")


@signed_in_only
async def export_html(request: Request) -> Response:
    """A self-contained page (its style inline, no script, no link it needs) to print or file."""
    found = await _timeline_or_form(request)
    if isinstance(found, Response):
        return found
    case_id, reason, as_of = _query(request)
    page = render(request, "timeline_export.html", timeline=found, reason=reason, as_of=as_of,
                  generated_at=datetime.now(UTC).astimezone(CHINA).strftime("%Y-%m-%d %H:%M"))
    page.headers["content-disposition"] = f'attachment; filename="{quote(case_id)}-timeline.html"'
    return page


@signed_in_only
async def export_jsonl(request: Request) -> Response:
    found = await _timeline_or_form(request)
    if isinstance(found, Response):
        return found
    case_id, reason, as_of = _query(request)
    clerk = clerk_of(request)
    return Response(jsonl(found, auditor=f"{clerk.clerk_id}@{clerk.office}/{clerk.region}", reason=reason,
                          as_of=as_of),
                    media_type="application/x-ndjson",
                    headers={"content-disposition": f'attachment; filename="{quote(case_id)}-timeline.jsonl"'})


# -- a person ---------------------------------------------------------------------------------------


@signed_in_only
async def person_lookup(request: Request) -> Response:
    """POST, not GET: a citizen ID must not end up in addresses, browser history or access logs."""
    today = china_today(config_of(request).clock)
    if request.method == "GET":
        return render(request, "timeline_person.html", form=PersonLookupForm(today=today,
                                                                              request_id=str(uuid.uuid4())))
    data = await request.form()
    form = PersonLookupForm(data, today=today)
    if not csrf_ok(request, data) or not form.validate():
        return render(request, "timeline_person.html", status_code=422, form=form)
    citizen_id, reason = form.citizen_id.data.strip(), form.reason.data.strip()
    clerk = clerk_of(request)
    # A region's auditor asks their region; the national auditor, whom every region trusts for
    # audit reads, asks every region the console serves.
    regions = config_of(request).regions if clerk.is_national else [clerk.region]
    found: list[dict[str, Any]] = []
    problems: list[str] = []
    for region in regions:
        for service in SERVICES:
            try:
                answer = config_of(request).gateway.call(
                    clerk, service, "FindPersonCases", apb.FindPersonCasesRequest(citizen_id=citizen_id, reason=reason),
                    api="audit", region=region)
            except NotRunHere:
                continue
            except ServiceDown as down:
                problems.append(f"{region}/{service}：服务暂时无法连接（{down.detail}）")
                continue
            except Refused as refused:
                problems.append(f"{region}/{service}：{refused.message}")
                continue
            found.extend({"region": region, "service": service, "case": case, "first": event_label(case.first_type),
                          "last": event_label(case.last_type)} for case in answer.cases)
    # The status query is itself a marriage case (a command): not what a national token is for.
    status, status_problem = (None, None) if clerk.is_national else _marital_status(
        request, citizen_id, reason, form.request_id.data or "")
    form.request_id.data = str(uuid.uuid4())  # the next lookup is a new request
    return render(request, "timeline_person.html", form=form, found=found, problems=problems, status=status,
                  status_problem=status_problem, reason=reason, looked_up=True, marital=MARITAL_STATUS,
                  national=clerk.is_national)


def _marital_status(request: Request, citizen_id: str, reason: str, request_id: str) -> tuple[Any, Any]:
    """The marriage registry's answer, through the recorded status query (it is itself a case)."""
    clerk = clerk_of(request)
    try:
        answer = config_of(request).gateway.call(clerk, "marriage", "QueryMaritalStatus", pb.QueryMaritalStatusRequest(
            citizen_id=citizen_id, reason=reason, requesting_body=f"审计 {clerk.office}",
            request_id=request_id or str(uuid.uuid4())))
    except NotRunHere:
        return None, None
    except (ServiceDown, Refused) as problem:
        return None, problem
    return answer.case, None

