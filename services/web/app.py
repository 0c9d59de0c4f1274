"""The console application: its routes, session middleware and error pages.

Pages are plain HTML forms that work without JavaScript; `static/console.js` only adds checking a
field as it is typed. Every POST carries the session's anti-forgery token, and the session cookie
is SameSite=Lax, so another site cannot submit a form as the signed-in clerk."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from services.web import (
    labels,
    pages_auditor,
    pages_charts,
    pages_clerk,
    pages_disability,
    pages_handoffs,
    pages_queues,
    pages_relief,
    pages_signin,
    pages_timeline,
)
from services.web.gateway import ServiceDown, SignInAgain
from services.web.rendering import HERE, ConsoleConfig, day, render, when
from services.web.session import sign_out


def create_app(config: ConsoleConfig) -> Starlette:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(labels=labels, quote=quote, new_id=lambda: str(uuid.uuid4()))
    templates.env.filters.update(day=day, when=when)
    routes = [
        *pages_signin.routes(),
        *pages_queues.routes(),
        *pages_clerk.routes(),
        *pages_disability.routes(),
        *pages_relief.routes(),
        *pages_auditor.routes(),
        *pages_handoffs.routes(),
        *pages_charts.routes(),
        *pages_timeline.routes(),
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


