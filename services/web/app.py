"""The console application: configuration, the sign-in guard, rendering and error pages.

Pages are plain HTML forms that work without JavaScript; `static/console.js` only adds checking a
field as it is typed. Every POST carries the session's anti-forgery token, and the session cookie
is SameSite=Lax, so another site cannot submit a form as the signed-in clerk."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from services.common.clock import Clock, SystemClock
from services.web import labels
from services.web.gateway import Gateway, ServiceDown, SignInAgain
from services.web.session import DEFAULT_LIFETIME, EXPIRED_KEY, Clerk, sign_out, signed_in

HERE = Path(__file__).parent
CHINA = timezone(timedelta(hours=8))  # dates at a window are China dates, whatever the host's zone
CSRF_KEY = "csrf"

Page = Callable[[Request], Awaitable[Response]]


@dataclass
class ConsoleConfig:
    gateway: Gateway
    regions: Sequence[str]  # the regions a clerk may sign in to
    issue_credential: Callable[[Clerk], str] = lambda clerk: ""  # the identity provider, at sign-in
    clock: Clock = field(default_factory=SystemClock)
    session_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    session_lifetime: timedelta = DEFAULT_LIFETIME
    https_only: bool = False  # True behind TLS: the cookie is then never sent in clear


def china_today(clock: Clock) -> date:
    return clock.now().astimezone(CHINA).date()


def create_app(config: ConsoleConfig) -> Starlette:
    from services.web import pages_auditor, pages_clerk, pages_handoffs, pages_signin

    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(labels=labels, quote=quote, new_id=lambda: str(uuid.uuid4()))
    templates.env.filters.update(day=_day, when=_when)
    routes = [
        *pages_signin.routes(),
        *pages_clerk.routes(),
        *pages_auditor.routes(),
        *pages_handoffs.routes(),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        # The cookie lasts until the browser closes; the clerk's own expiry inside it decides, so an
        # expired session can still say "expired" rather than look like a first visit.
        middleware=[Middleware(SessionMiddleware, secret_key=config.session_secret, session_cookie="tongban_session",
                               max_age=None, same_site="lax", https_only=config.https_only)],
        exception_handlers={ServiceDown: _service_down, SignInAgain: _sign_in_again, 404: _not_found,
                            500: _server_error},
    )
    app.state.config = config
    app.state.templates = templates
    return app


def config_of(request: Request) -> ConsoleConfig:
    return request.app.state.config  # type: ignore[no-any-return]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    clerk = request.scope.get("clerk")
    context.setdefault("clerk", clerk)
    context.setdefault("csrf", csrf_token(request))
    context.setdefault("today", china_today(config_of(request).clock))
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_KEY)
    if not token:
        token = request.session[CSRF_KEY] = secrets.token_urlsafe(24)
    return str(token)


def csrf_ok(request: Request, form: Any) -> bool:
    expected = request.session.get(CSRF_KEY)
    return bool(expected) and secrets.compare_digest(str(form.get(CSRF_KEY, "")), str(expected))


def signed_in_only(page: Page) -> Page:
    """The page needs a signed-in clerk; anyone else is sent to sign in, and back here after."""

    @wraps(page)
    async def guarded(request: Request) -> Response:
        clerk = signed_in(request.session, datetime.now(UTC))
        if clerk is None:
            expired = bool(request.session.pop(EXPIRED_KEY, False))
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?next={quote(target)}" + ("&expired=1" if expired else ""),
                                    status_code=303)
        request.scope["clerk"] = clerk
        return await page(request)

    return guarded


def clerk_of(request: Request) -> Clerk:
    return request.scope["clerk"]  # type: ignore[no-any-return]


async def _service_down(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceDown)
    return render(request, "error.html", status_code=503, title="服务暂时无法连接",
                  message=f"{labels.region(exc.region)} 的 {exc.service} 服务暂时无法连接，请稍后再试。"
                          "已填写的内容没有提交，也没有丢失：返回上一页即可重新提交。",
                  detail=exc.detail)


async def _sign_in_again(request: Request, exc: Exception) -> Response:
    sign_out(request.session)
    return RedirectResponse(f"/signin?expired=1&next={quote(request.url.path)}", status_code=303)


async def _not_found(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", status_code=404, title="页面不存在", message="没有这个页面。", detail="")


async def _server_error(request: Request, exc: Exception) -> Response:
    # Never a stack trace in front of a clerk; the log has it.
    return render(request, "error.html", status_code=500, title="出现了内部错误",
                  message="操作没有完成。请稍后重试；如果问题持续，请联系技术支持。", detail="")


def _day(value: Any) -> str:
    """A tongban.common.v1.Date as YYYY-MM-DD, or "—" when unset."""
    if value is None or not getattr(value, "year", 0):
        return "—"
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _when(value: Any) -> str:
    """A protobuf Timestamp in China time, to the minute."""
    if value is None or (not value.seconds and not value.nanos):
        return "—"
    return value.ToDatetime(tzinfo=UTC).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def routes_of(*pairs: tuple[str, Page, list[str]]) -> list[Route]:
    return [Route(path, page, methods=methods) for path, page, methods in pairs]
