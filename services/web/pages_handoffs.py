"""Hand-offs between regions as a window sees them: what this region sent and received, their
time limits, which are overdue, and accepting or refusing an incoming one with a reason."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.web.forms import text_problem
from services.web.gateway import Refused
from services.web.rendering import clerk_of, config_of, csrf_ok, render, signed_in_only
from tongban.handoff.v1 import events_pb2 as handoff_events
from tongban.handoff.v1 import handoff_service_pb2 as hpb

SERVICE = "marriage"  # the services whose hand-offs the console lists

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


def _call(request: Request, method: str, message: Any) -> Any:
    return config_of(request).gateway.call(clerk_of(request), SERVICE, method, message, api="handoff")


@signed_in_only
async def handoffs(request: Request) -> Response:
    return _page(request)


def _page(request: Request, problem: Refused | str | None = None, status_code: int = 200) -> Response:
    lists = {}
    for direction, title in ((hpb.DIRECTION_INCOMING, "收到的"), (hpb.DIRECTION_OUTGOING, "发出的")):
        answer = _call(request, "ListHandoffs", hpb.ListHandoffsRequest(direction=direction, limit=200))
        lists[title] = [_row(h) for h in answer.handoffs]
    return render(request, "handoffs.html", status_code=status_code, lists=lists, problem=problem)


def _row(handoff: Any) -> dict[str, Any]:
    return {"h": handoff, "state": STATES.get(handoff.state, "?"), "kind": KINDS.get(handoff.kind, "?"),
            "overdue": [STAGES.get(stage, "?") for stage in handoff.overdue],
            "pending_incoming": (handoff.direction == hpb.DIRECTION_INCOMING
                                 and handoff.state == hpb.HANDOFF_STATE_PENDING)}


@signed_in_only
async def accept(request: Request) -> Response:
    data = await request.form()
    if csrf_ok(request, data):
        try:
            _call(request, "AcceptHandoff", hpb.AcceptHandoffRequest(handoff_id=request.path_params["handoff_id"]))
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
                                                                     reason=reason))
        except Refused as refused:
            return _page(request, problem=refused, status_code=409)
    return RedirectResponse("/handoffs", status_code=303)
