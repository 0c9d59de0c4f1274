"""What every page of the console shares: its configuration, rendering a template as the
signed-in clerk, the anti-forgery token, and the guard that sends a visitor to sign in first."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from services.common.clock import Clock, SystemClock
from services.web.gateway import Gateway
from services.web.session import DEFAULT_LIFETIME, EXPIRED_KEY, Clerk, signed_in

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


def day(value: Any) -> str:
    """A tongban.common.v1.Date as YYYY-MM-DD, or "—" when unset."""
    if value is None or not getattr(value, "year", 0):
        return "—"
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def when(value: Any) -> str:
    """A protobuf Timestamp in China time, to the minute."""
    if value is None or (not value.seconds and not value.nanos):
        return "—"
    return value.ToDatetime(tzinfo=UTC).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
