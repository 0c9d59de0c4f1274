"""The office's work queues, one section per service the region runs: marriage's registration
queues, disability's review stages (国发〔2015〕52号 三) and relief's procedure and 先行救助 cases
awaiting proof; deadlines in working days as each service computed them, overdue rows in red. A
chart on top counts the cases per state per service. A service the region does not run (or that
is down) is named as such in its section; the other sections still show."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.web import labels
from services.web.gateway import Refused, ServiceDown
from services.web.rendering import china_today, clerk_of, config_of, render, signed_in_only
from services.web.session import Clerk
from tongban.disability.v1 import disability_service_pb2 as dpb
from tongban.marriage.v1 import marriage_service_pb2 as mpb
from tongban.relief.v1 import relief_service_pb2 as rpb

QUEUE_PAGE = 100
COUNT_PAGE = 500  # cases read to count states for the chart (relief's most per call)
SERVICE_NAMES = {"marriage": "婚姻登记", "disability": "残疾人两项补贴", "relief": "社会救助（低保、临时救助）"}
COUNTY_ROLES = ("cdpf", "approver")  # a county's 残联 and 民政 see every application of their county
# The service a role works in comes first on the page; the others follow.
ROLE_SERVICE = {"registrar": "marriage", "window": "disability", "cdpf": "disability", "approver": "disability",
                "relief": "relief"}


def routes() -> list[Route]:
    return [Route("/queues", queues, methods=["GET"])]


@signed_in_only
async def queues(request: Request) -> Response:
    today = china_today(config_of(request).clock)
    readers: dict[str, Callable[[Request, date], dict[str, Any]]] = {
        "marriage": _marriage, "disability": _disability, "relief": _relief}
    first = ROLE_SERVICE.get(clerk_of(request).role, "marriage")
    readers = {first: readers[first], **readers}
    services, down = [], []
    for service, read in readers.items():
        try:
            section = read(request, today)
        except (ServiceDown, Refused) as problem:
            down.append(problem)
            section = {"queues": [], "states": [], "problem": _why(problem)}
        services.append({"service": service, "title": SERVICE_NAMES[service], **section})
    if len(down) == len(readers) and isinstance(down[0], ServiceDown):
        raise down[0]  # nothing to show: the whole page says the services cannot be reached
    chart = bar_chart([(s["title"], label, count) for s in services for label, count in s["states"]])
    return render(request, "queues.html", services=services, chart=chart)


def _why(problem: Exception) -> str:
    if isinstance(problem, ServiceDown):
        return "本地区未运行该服务，或服务暂时无法连接。其他服务的队列照常显示。"
    return f"无法读取该服务的队列：{problem}"


def _call(request: Request, service: str, method: str, message: Any) -> Any:
    return config_of(request).gateway.call(clerk_of(request), service, method, message)


def _overdue(due: Any, today: date) -> bool:
    return bool(due.year) and date(due.year, due.month, due.day) < today


def _marriage(request: Request, today: date) -> dict[str, Any]:
    office = clerk_of(request).office
    queues = []
    for queue, title in labels.QUEUES.items():
        answer = _call(request, "marriage", "ListCases", mpb.ListCasesRequest(office_code=office, queue=queue,
                                                                              page_size=QUEUE_PAGE))
        rows = [_row(c.case_id, "、".join(c.party_names), labels.case_type(c.case_type), c.due_on,
                     _overdue(c.due_on, today), f"/cases/{c.case_id}") for c in answer.cases]
        queues.append({"queue": f"marriage-{queue}", "title": title, "rows": rows,
                       "more": bool(answer.next_page_token)})
    recent = _call(request, "marriage", "ListCases", mpb.ListCasesRequest(office_code=office,
                                                                          page_size=QUEUE_PAGE)).cases
    states = Counter(labels.state(c.state) for c in recent)
    return {"queues": queues, "states": sorted(states.items())}


def disability_office(clerk: Clerk) -> str:
    """The office whose work a clerk lists: a county's 残联 and 民政 list their county's (its code)."""
    return clerk.office[:6] if clerk.role in COUNTY_ROLES else clerk.office


def _disability(request: Request, today: date) -> dict[str, Any]:
    items = _call(request, "disability", "ListWork",
                  dpb.ListWorkRequest(office_code=disability_office(clerk_of(request)))).items
    queues = []
    for stage, title in labels.DISABILITY_STAGES.items():
        rows = [_row(i.case_id, i.applicant_name, labels.stage(i.stage), i.due_on, i.overdue,
                     f"/disability/cases/{i.case_id}") for i in items if i.stage == stage]
        queues.append({"queue": f"disability-{stage}", "title": title, "rows": rows, "more": False})
    late = [_row(i.case_id, i.applicant_name, labels.stage(i.stage), i.due_on, True,
                 f"/disability/cases/{i.case_id}") for i in items if i.overdue]
    queues.append({"queue": "disability-overdue", "title": "逾期未办", "rows": late, "more": False})
    # Only open applications are listed by the service: the chart counts them by stage.
    states = Counter(f"审核中：{labels.stage(i.stage)}" for i in items)
    return {"queues": queues, "states": sorted(states.items())}


def _relief(request: Request, today: date) -> dict[str, Any]:
    office = clerk_of(request).office
    queues = []
    for queue, title in labels.RELIEF_QUEUES.items():
        cases = _call(request, "relief", "ListCases", rpb.ListCasesRequest(office_code=office, queue=queue,
                                                                           page_size=QUEUE_PAGE)).cases
        rows = [_row(c.case_id, c.applicant_citizen_id, labels.case_type(c.case_type), c.due_on,
                     bool(c.overdue) or _overdue(c.due_on, today), f"/relief/cases/{c.case_id}",
                     late=[labels.RELIEF_LIMITS.get(o, o) for o in c.overdue]) for c in cases]
        queues.append({"queue": f"relief-{queue}", "title": title, "rows": rows, "more": len(cases) >= QUEUE_PAGE})
    every = _call(request, "relief", "ListCases", rpb.ListCasesRequest(office_code=office, page_size=COUNT_PAGE)).cases
    states = Counter(f"{labels.case_type(c.case_type)}：{labels.state(c.state, 'relief')}" for c in every)
    return {"queues": queues, "states": sorted(states.items())}


def _row(case_id: str, who: str, what: str, due: Any, overdue: bool, link: str,
         late: list[str] | None = None) -> dict[str, Any]:
    return {"case_id": case_id, "who": who, "what": what, "due": due, "overdue": overdue, "link": link,
            "late": late or []}


def bar_chart(bars: list[tuple[str, str, int]]) -> dict[str, Any]:
    """Horizontal bars per (service, state), drawn as inline SVG by the template: no script,
    readable when printed. A service's first bar carries its name as a heading row."""
    top = max([count for _, _, count in bars] + [1])
    rows: list[dict[str, Any]] = []
    previous = ""
    for service, label, count in bars:
        if service != previous:
            rows.append({"heading": service, "y": 28 * len(rows)})
            previous = service
        rows.append({"label": label, "count": count, "width": round(260 * count / top), "y": 28 * len(rows)})
    return {"rows": rows, "height": max(28 * len(rows), 28)}
