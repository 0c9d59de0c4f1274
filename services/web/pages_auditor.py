"""The auditor's pages: a case's timeline (who did what, where, when), the case as it stood at any
moment, and the history exported as JSON Lines. Reads go through the service's gRPC front door as
the signed-in auditor, so the service authorises and records them like any other read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from google.protobuf import json_format
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.web import labels
from services.web.gateway import NotRunHere, Refused, ServiceDown
from services.web.rendering import CHINA, clerk_of, config_of, csrf_ok, render, signed_in_only
from tongban.audit.v1 import audit_service_pb2 as apb
from tongban.disability.v1 import disability_service_pb2 as dpb
from tongban.marriage.v1 import marriage_service_pb2 as pb
from tongban.relief.v1 import relief_service_pb2 as rpb

SERVICES = ("marriage", "disability", "relief")  # the services whose stores the auditor's page verifies


def routes() -> list[Route]:
    return [
        Route("/audit", audit_home, methods=["GET"]),
        Route("/audit/verify", verify_stores, methods=["GET", "POST"]),
        Route("/audit/cases/{case_id}", timeline, methods=["GET"]),
        Route("/audit/cases/{case_id}/history.jsonl", export_jsonl, methods=["GET"]),
    ]


@signed_in_only
async def audit_home(request: Request) -> Response:
    case_id = request.query_params.get("case_id", "").strip()
    reason = request.query_params.get("reason", "").strip()
    if case_id:
        return RedirectResponse(f"/audit/cases/{quote(case_id)}?reason={quote(reason)}", status_code=303)
    return render(request, "audit_home.html")


@signed_in_only
async def verify_stores(request: Request) -> Response:
    """Every store of the auditor's region (the national auditor's: of every region), verified by
    its own service on request."""
    if request.method == "GET":
        return render(request, "audit_verify.html", results=None)
    data = await request.form()
    if not csrf_ok(request, data):
        return RedirectResponse("/audit/verify", status_code=303)
    config = config_of(request)
    results = []
    # The auditor's own region: a region's front doors trust only their own identity provider; the
    # national auditor's token (the national IdP) is accepted by every region for this.
    clerk = clerk_of(request)
    for region in (config.regions if clerk.is_national else (clerk.region,)):
        for service in SERVICES:
            try:
                answer = config.gateway.call(clerk_of(request), service, "VerifyStore", apb.VerifyStoreRequest(),
                                             api="audit", region=region)
                results.append({"region": region, "service": service, "answer": answer, "problem": None})
            except NotRunHere:
                continue  # the region runs no such service: there is no store to verify
            except (ServiceDown, Refused) as problem:
                results.append({"region": region, "service": service, "answer": None, "problem": str(problem)})
    return render(request, "audit_verify.html", results=results)


def _case(request: Request) -> dict[str, Any]:
    """The case and its history in one shape for every service: the head line of the page and the
    entries (marriage's actor is a message, relief's a "kind:clerk@office" text)."""
    gateway, case_id = config_of(request).gateway, request.path_params["case_id"]
    service = labels.service_of(case_id)
    if service == "relief":
        case = gateway.call(clerk_of(request), "relief", "GetCase", rpb.GetCaseRequest(case_id=case_id)).case
        return {"case_id": case_id, "service": service, "case_type": case.summary.case_type,
                "state": labels.state(case.summary.state, "relief"), "region": case.region,
                "history": list(case.history), "entries": [_relief_entry(e) for e in case.history]}
    if service == "disability":
        reason = request.query_params.get("reason", "").strip()
        case = gateway.call(clerk_of(request), "disability", "GetCase",
                            dpb.GetCaseRequest(case_id=case_id, reason=reason)).case
        return {"case_id": case_id, "service": service, "case_type": "disability",
                "state": labels.state(case.state, "disability"), "region": case_id.split("-")[1],
                "history": list(case.history), "entries": [_marriage_entry(e) for e in case.history]}
    # Beyond the reader's own office a read needs its reason; the service records both.
    reason = request.query_params.get("reason", "").strip()
    case = gateway.call(clerk_of(request), "marriage", "GetCase",
                        pb.GetCaseRequest(case_id=case_id, reason=reason)).case
    return {"case_id": case_id, "service": service, "case_type": case.case_type, "state": labels.state(case.state),
            "region": case.region, "history": list(case.history), "entries": [_marriage_entry(e) for e in case.history]}


def _marriage_entry(entry: Any) -> dict[str, Any]:
    actor = entry.actor
    if actor.kind == actor.KIND_SYSTEM:
        who, lane = f"系统（{actor.clerk_id}，{actor.region.code}）", f"{actor.region.code} 系统：{actor.clerk_id}"
    else:
        who = f"{actor.role} {actor.clerk_id}，办公室 {actor.office_code}，{actor.region.code}"
        lane = actor.office_code or actor.region.code
    return {"version": entry.version, "type": entry.type, "recorded_at": entry.recorded_at,
            "occurred_at": entry.occurred_at, "who": who, "lane": lane, "event_id": entry.event_id,
            "correlation_id": entry.correlation_id, "causation_id": entry.causation_id,
            "payload_json": entry.payload_json}


def _relief_entry(entry: Any) -> dict[str, Any]:
    kind, _, rest = entry.actor.partition(":")
    clerk, _, office = rest.partition("@")
    who = f"系统（{clerk}）" if kind == "system" else f"{clerk}，办公室 {office}"
    return {"version": entry.version, "type": entry.type, "recorded_at": entry.recorded_at, "occurred_at": None,
            "who": who, "lane": office or f"系统：{clerk}", "event_id": "", "correlation_id": "", "causation_id": "",
            "payload_json": entry.payload_json}


@signed_in_only
async def timeline(request: Request) -> Response:
    try:
        case = _case(request)
    except Refused as refused:  # e.g. no reason given for a read beyond the office
        return render(request, "audit_home.html", status_code=409, problem=refused,
                      case_id=request.path_params["case_id"])
    as_of = _as_of(request.query_params.get("as_of", ""))
    entries = [entry for entry in case["entries"]
               if as_of is None or entry["recorded_at"].ToDatetime(tzinfo=UTC) <= as_of]
    lanes = list(dict.fromkeys(entry["lane"] for entry in entries))
    rows = [{"entry": entry, "lane": lanes.index(entry["lane"]),
             "payload": json.dumps(json.loads(entry["payload_json"] or "{}"), ensure_ascii=False, indent=1)}
            for entry in entries]
    return render(request, "timeline.html", case=case, rows=rows, lanes=lanes,
                  as_of=request.query_params.get("as_of", ""), hidden=len(case["entries"]) - len(entries),
                  reason=request.query_params.get("reason", ""))


@signed_in_only
async def export_jsonl(request: Request) -> Response:
    case = _case(request)
    lines = [json.dumps(json_format.MessageToDict(entry, preserving_proto_field_name=True), ensure_ascii=False)
             for entry in case["history"]]
    filename = f"{case['case_id']}.jsonl"
    return Response("\n".join(lines) + "\n" if lines else "", media_type="application/x-ndjson",
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


def _as_of(text: str) -> datetime | None:
    """A China-time moment typed as YYYY-MM-DDTHH:MM (the datetime-local input); None for "now"."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=CHINA)
    except ValueError:
        return None
