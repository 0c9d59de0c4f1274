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

from services.web.gateway import Refused, ServiceDown
from services.web.rendering import CHINA, clerk_of, config_of, csrf_ok, render, signed_in_only
from tongban.audit.v1 import audit_service_pb2 as apb
from tongban.marriage.v1 import marriage_service_pb2 as pb

SERVICES = ("marriage",)  # the services whose stores the auditor's page verifies


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
    """Every store of the auditor's region, verified by its own service on request."""
    if request.method == "GET":
        return render(request, "audit_verify.html", results=None)
    data = await request.form()
    if not csrf_ok(request, data):
        return RedirectResponse("/audit/verify", status_code=303)
    config = config_of(request)
    results = []
    # The auditor's own region: a region's front doors trust only their own identity provider.
    for region in (clerk_of(request).region,):
        for service in SERVICES:
            try:
                answer = config.gateway.call(clerk_of(request), service, "VerifyStore", apb.VerifyStoreRequest(),
                                             api="audit", region=region)
                results.append({"region": region, "service": service, "answer": answer, "problem": None})
            except (ServiceDown, Refused) as problem:
                results.append({"region": region, "service": service, "answer": None, "problem": str(problem)})
    return render(request, "audit_verify.html", results=results)


def _case(request: Request) -> Any:
    gateway = config_of(request).gateway
    # Beyond the reader's own office a read needs its reason; the service records both.
    answer = gateway.call(clerk_of(request), "marriage", "GetCase",
                          pb.GetCaseRequest(case_id=request.path_params["case_id"],
                                            reason=request.query_params.get("reason", "").strip()))
    return answer.case


@signed_in_only
async def timeline(request: Request) -> Response:
    try:
        case = _case(request)
    except Refused as refused:  # e.g. no reason given for a read beyond the office
        return render(request, "audit_home.html", status_code=409, problem=refused,
                      case_id=request.path_params["case_id"])
    as_of = _as_of(request.query_params.get("as_of", ""))
    entries = [entry for entry in case.history
               if as_of is None or entry.recorded_at.ToDatetime(tzinfo=UTC) <= as_of]
    lanes = _lanes(entries)
    rows = [{"entry": entry, "lane": lanes.index(_participant(entry)),
             "payload": json.dumps(json.loads(entry.payload_json or "{}"), ensure_ascii=False, indent=1)}
            for entry in entries]
    return render(request, "timeline.html", case=case, rows=rows, lanes=lanes,
                  as_of=request.query_params.get("as_of", ""), hidden=len(case.history) - len(entries),
                  reason=request.query_params.get("reason", ""))


@signed_in_only
async def export_jsonl(request: Request) -> Response:
    case = _case(request)
    lines = [json.dumps(json_format.MessageToDict(entry, preserving_proto_field_name=True), ensure_ascii=False)
             for entry in case.history]
    filename = f"{case.case_id}.jsonl"
    return Response("\n".join(lines) + "\n", media_type="application/x-ndjson",
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


def _participant(entry: Any) -> str:
    """Who acted, as a lane of the sequence: an office's window, or a region's system component
    (the registry's decisions arrive through the region's system actor)."""
    actor = entry.actor
    if actor.kind == actor.KIND_SYSTEM:
        return f"{actor.region.code} 系统：{actor.clerk_id}"
    return f"{actor.office_code or actor.region.code}"


def _lanes(entries: list[Any]) -> list[str]:
    return list(dict.fromkeys(_participant(entry) for entry in entries))


def _as_of(text: str) -> datetime | None:
    """A China-time moment typed as YYYY-MM-DDTHH:MM (the datetime-local input); None for "now"."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=CHINA)
    except ValueError:
        return None
