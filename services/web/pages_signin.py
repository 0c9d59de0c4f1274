"""Signing in and out. In development `tongban up` is each region's identity provider and the
console asks it for the clerk's credential; the credential, not the form, is what the services
believe."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from wtforms import SelectChoice

from services.web import labels
from services.web.forms import SignInForm
from services.web.rendering import config_of, csrf_ok, render, signed_in_only
from services.web.session import Clerk, expiry, sign_in, sign_out, signed_in


def routes() -> list[Route]:
    return [
        Route("/", home, methods=["GET"]),
        Route("/signin", signin_page, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
    ]


async def home(request: Request) -> Response:
    clerk = signed_in(request.session, datetime.now(UTC))
    if clerk is None:
        return RedirectResponse("/signin", status_code=303)
    return RedirectResponse(_landing(clerk), status_code=303)


def _form(request: Request, data: Any = None) -> SignInForm:
    config = config_of(request)
    form = SignInForm(data)
    form.region.choices = [SelectChoice(code, labels.region(code)) for code in config.regions]
    if data is None:
        form.next.data = _local(request.query_params.get("next", ""))
    return form


async def signin_page(request: Request) -> Response:
    if request.method == "GET":
        expired = request.query_params.get("expired") == "1"
        return render(request, "signin.html", form=_form(request), expired=expired, clerk=None)
    data = await request.form()
    form = _form(request, data)
    if not csrf_ok(request, data):
        return render(request, "signin.html", status_code=400, form=form, clerk=None,
                      problem="页面已过期，请重新提交。")
    if not form.validate():
        return render(request, "signin.html", status_code=422, form=form, clerk=None)
    config = config_of(request)
    now = datetime.now(UTC)
    clerk = Clerk(region=form.region.data or "", office=(form.office.data or "").strip(),
                  clerk_id=(form.clerk_id.data or "").strip(), role=form.role.data or "registrar",
                  expires_at=expiry(now, config.session_lifetime))
    try:
        credential = config.issue_credential(clerk)
    except PermissionError as refused:  # the identity provider does not know this clerk or office
        return render(request, "signin.html", status_code=403, form=form, clerk=None, problem=str(refused))
    request.session.clear()  # a new session for a new person: nothing of the last one carries over
    sign_in(request.session, Clerk(**{**clerk.to_session(), "credential": credential}))
    target = _local(form.next.data or "") or _landing(clerk)
    return RedirectResponse(target, status_code=303)


@signed_in_only
async def signout(request: Request) -> Response:
    data = await request.form()
    if csrf_ok(request, data):
        sign_out(request.session)
        request.session.clear()
    return RedirectResponse("/signin", status_code=303)


def _landing(clerk: Clerk) -> str:
    """Where a clerk starts: the office's queues, an auditor's pages; the national auditor, whose
    token is good for audit reads only, the cross-region timeline."""
    if clerk.is_national:
        return "/audit/trail"
    return "/audit" if clerk.is_auditor else "/queues"


def _local(target: str) -> str:
    """Only a path on this console: a sign-in link must not send a clerk to another site."""
    return target if target.startswith("/") and not target.startswith("//") else ""
