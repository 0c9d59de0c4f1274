"""Charts for auditors and supervisors, where people would rather look than read: deadline
adherence (each service's cases decided within or after their legal time limits, per office, as
the service counts them: CountDeadlines) and payments per month (the paying services' monthly runs,
from their PaymentService). Drawn server-side as inline SVG bars with a text description, each
followed by the same figures as a table: no script, readable on a phone and by a screen reader."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.web import labels
from services.web.gateway import NotRunHere, Refused, ServiceDown
from services.web.rendering import clerk_of, config_of, render, signed_in_only
from tongban.disability.v1 import disability_service_pb2 as dpb
from tongban.payments.v1 import payment_service_pb2 as ppb
from tongban.relief.v1 import relief_service_pb2 as rpb

# The services that count deadline adherence and pay monthly, as the page names them.
DEADLINE_SERVICES: dict[str, tuple[str, Any]] = {
    "disability": ("残疾人两项补贴", dpb.CountDeadlinesRequest),
    "relief": ("社会救助（低保、临时救助）", rpb.CountDeadlinesRequest),
}
PAYING_SERVICES: dict[str, str] = {"disability": "残疾人两项补贴", "relief": "最低生活保障"}
SHORT_NAMES = {"disability": "两项补贴", "relief": "社会救助"}  # beside a bar, where room is short
BAR_WIDTH = 300  # the longest bar, in the SVG's units; the labels take the 240 before it
ROW = 28


def routes() -> list[Route]:
    return [Route("/charts", charts, methods=["GET"])]


@signed_in_only
async def charts(request: Request) -> Response:
    adherence, adherence_problems = _each(request, DEADLINE_SERVICES, _deadlines)
    payments, payment_problems = _each(request, PAYING_SERVICES, _payments)
    return render(request, "charts.html", adherence=adherence, adherence_chart=adherence_chart(adherence),
                  adherence_problems=adherence_problems, payments=payments,
                  payments_chart=payments_chart(payments), payment_problems=payment_problems)


def _each(request: Request, services: dict[str, Any],
          read: Callable[[Request, str], list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows from every service; a service that refuses (the role may not read it), is down or does
    not run here is named in a line of its own, and the others still show."""
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for service, named in services.items():
        title = named[0] if isinstance(named, tuple) else named
        try:
            rows.extend(read(request, service))
        except NotRunHere:
            continue
        except ServiceDown:
            problems.append(f"{title}：服务暂时无法连接。")
        except Refused as refused:
            problems.append(f"{title}：无法读取（{refused.message}）")
    return rows, problems


def _call(request: Request, service: str, method: str, message: Any, api: str = "") -> Any:
    return config_of(request).gateway.call(clerk_of(request), service, method, message, api=api)


def _deadlines(request: Request, service: str) -> list[dict[str, Any]]:
    title, make_request = DEADLINE_SERVICES[service]
    answer = _call(request, service, "CountDeadlines", make_request())
    rows = []
    for o in answer.offices:
        decided = o.decided_on_time + o.decided_late
        rows.append({"service": title, "short": SHORT_NAMES[service], "office": o.office_code,
                     "on_time": o.decided_on_time, "late": o.decided_late,
                     "open_on_time": o.open_on_time, "open_overdue": o.open_overdue,
                     "rate": f"{100 * o.decided_on_time / decided:.0f}%" if decided else "—"})
    return rows


def _payments(request: Request, service: str) -> list[dict[str, Any]]:
    batches = _call(request, service, "ListBatches", ppb.ListBatchesRequest(), api="payments").batches
    return [{"service": PAYING_SERVICES[service], "month": b.month, "lines": b.line_count, "total_fen": b.total_fen,
             "total": labels.yuan(b.total_fen), "confirmed": labels.yuan(b.confirmed_fen),
             "returned": labels.yuan(b.returned_fen), "state": b.state} for b in batches]


def adherence_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One bar per service and office, split into decided within (solid) and after (hatched) the
    limits; lengths to scale with the office that decided most."""
    top = max([r["on_time"] + r["late"] for r in rows] + [1])
    bars = []
    for i, r in enumerate(rows):
        on_time = round(BAR_WIDTH * r["on_time"] / top)
        bars.append({**r, "y": ROW * i, "on_time_width": on_time,
                     "late_width": round(BAR_WIDTH * r["late"] / top), "late_x": 240 + on_time})
    return {"bars": bars, "height": max(ROW * len(bars), ROW)}


def payments_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One bar per service and month, oldest month first, to scale with the largest run."""
    ordered = sorted(rows, key=lambda r: (r["month"], r["service"]))
    top = max([r["total_fen"] for r in ordered] + [1])
    bars = [{**r, "y": ROW * i, "width": round(BAR_WIDTH * r["total_fen"] / top)} for i, r in enumerate(ordered)]
    return {"bars": bars, "height": max(ROW * len(bars), ROW)}
