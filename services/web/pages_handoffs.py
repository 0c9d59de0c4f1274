"""Hand-offs between regions as a window sees them: what this region sent and received, their
time limits, which are overdue, and accepting or refusing an incoming one with a reason."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.web.forms import text_problem
from services.web.gateway import NotRunHere, Refused, ServiceDown
from services.web.rendering import clerk_of, config_of, csrf_ok, render, signed_in_only
from tongban.handoff.v1 import events_pb2 as handoff_events
from tongban.handoff.v1 import handoff_service_pb2 as hpb

# The services whose hand-offs the console lists: each service's front door serves its own.
SERVICES = ("marriage", "disability", "relief")

STATES = {
    hpb.HANDOFF_STATE_PENDING: "待接收",
    hpb.HANDOFF_STATE_ACCEPTED: "已接收，办理中",
    hpb.HANDOFF_STATE_REFUSED: "已拒收",
    hpb.HANDOFF_STATE_ANSWERED: "已办结",
}
KINDS = {
    handoff_events.HANDOFF_KIND_FORWARD_CASE: "转办（异地代收代办）",
    handoff_events.HANDOFF_KIND_REQUEST_WORK: "协办（多地联办）",
}
STAGES = {handoff_events.HANDOFF_STAGE_ACCEPTANCE: "接收超时", handoff_events.HANDOFF_STAGE_ANSWER: "办结超时"}


def routes() -> list[Route]:
    return [
        Route("/handoffs", handoffs, methods=["GET"]),
        Route("/handoffs/{handoff_id}/accept", accept, methods=["POST"]),
        Route("/handoffs/{handoff_id}/refuse", refuse, methods=["POST"]),
    ]


def _call(request: Request, method: str, message: Any, service: str) -> Any:
    return config_of(request).gateway.call(clerk_of(request), service, method, message, api="handoff")


def _service(data: Any) -> str:
    """The service a hand-off belongs to, as its row's form names it (one of SERVICES)."""
    service = str(data.get("service", ""))
    return service if service in SERVICES else SERVICES[0]


@signed_in_only
async def handoffs(request: Request) -> Response:
    return _page(request)


def _page(request: Request, problem: Refused | str | None = None, status_code: int = 200) -> Response:
    lists: dict[str, list[dict[str, Any]]] = {}
    unreachable: list[str] = []
    for direction, title in ((hpb.DIRECTION_INCOMING, "收到的"), (hpb.DIRECTION_OUTGOING, "发出的")):
        lists[title] = []
        for service in SERVICES:
            try:
                answer = _call(request, "ListHandoffs", hpb.ListHandoffsRequest(direction=direction, limit=200),
                               service)
            except NotRunHere:
                continue  # the region runs no such service: it has no hand-offs
            except ServiceDown:
                if service not in unreachable:
                    unreachable.append(service)
                continue
            lists[title].extend(_row(h, service) for h in answer.handoffs)
    return render(request, "handoffs.html", status_code=status_code, lists=lists, problem=problem,
                  unreachable=unreachable)


def _row(handoff: Any, service: str) -> dict[str, Any]:
    return {"h": handoff, "service": service, "state": STATES.get(handoff.state, "?"),
            "kind": KINDS.get(handoff.kind, "?"),
            "overdue": [STAGES.get(stage, "?") for stage in handoff.overdue],
            "pending_incoming": (handoff.direction == hpb.DIRECTION_INCOMING
                                 and handoff.state == hpb.HANDOFF_STATE_PENDING),
            # 多地联办: a family economic check asked of this region, taken on, awaiting its answer.
            "check_to_answer": (handoff.work == "relief.family_economic_check"
                                and handoff.direction == hpb.DIRECTION_INCOMING
                                and handoff.state == hpb.HANDOFF_STATE_ACCEPTED)}


@signed_in_only
async def accept(request: Request) -> Response:
    data = await request.form()
    if csrf_ok(request, data):
        try:
            _call(request, "AcceptHandoff", hpb.AcceptHandoffRequest(handoff_id=request.path_params["handoff_id"]),
                  _service(data))
        except Refused as refused:
            return _page(request, problem=refused, status_code=409)
    return RedirectResponse("/handoffs", status_code=303)


@signed_in_only
async def refuse(request: Request) -> Response:
    data = await request.form()
    reason = str(data.get("reason", "")).strip()
    problem = "拒收须写明理由" if not reason else text_problem(reason)
    if problem:
        return _page(request, problem=problem, status_code=422)
    if csrf_ok(request, data):
        try:
            _call(request, "RefuseHandoff", hpb.RefuseHandoffRequest(handoff_id=request.path_params["handoff_id"],
                                                                     reason=reason), _service(data))
        except Refused as refused:
            return _page(request, problem=refused, status_code=409)
    return RedirectResponse("/handoffs", status_code=303)
