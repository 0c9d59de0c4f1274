"""Who is signed in: a clerk of an office of a region, with a role, until the session expires.

The session lives in a cookie signed by the console (itsdangerous, through Starlette's
SessionMiddleware), so a browser cannot change who it is; it holds the credential the console
presents to the services on the clerk's behalf. An expired session is forgotten and the clerk is
asked to sign in again, with the page they wanted kept."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SESSION_KEY = "clerk"
EXPIRED_KEY = "expired"  # set when a clerk's session ran out, so the sign-in page can say why
DEFAULT_LIFETIME = timedelta(hours=8)  # one working day at the window
NATIONAL_AUDITOR = "national_auditor"  # services.common.trust.national.NATIONAL_AUDITOR_ROLE

ROLES: dict[str, str] = {
    "registrar": "婚姻登记员",
    "window": "民政服务窗口（残疾人两项补贴）",
    "cdpf": "县级残联",
    "approver": "县级民政部门（审定）",
    "relief": "社会救助经办人员",
    "auditor": "审计员",
    "national_auditor": "国家审计",
    "supervisor": "监督检查人员",
    "court": "法院",
    "public_security": "公安",
}


@dataclass(frozen=True)
class Clerk:
    region: str
    office: str
    clerk_id: str
    role: str
    expires_at: str  # ISO 8601, UTC
    credential: str = ""  # what the console presents to the services for this clerk

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)

    @property
    def is_auditor(self) -> bool:
        return self.role in ("auditor", NATIONAL_AUDITOR)

    @property
    def is_national(self) -> bool:
        """Signed in with the national IdP: every region's front door accepts the credential for
        audit reads (services/common/trust/national.py); `region` is where the console starts."""
        return self.role == NATIONAL_AUDITOR

    def expired(self, now: datetime) -> bool:
        return now >= datetime.fromisoformat(self.expires_at)

    def to_session(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_session(cls, data: Any) -> Clerk | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(**{key: str(data[key]) for key in cls.__dataclass_fields__ if key in data})
        except TypeError:  # a cookie from an older console: treat as signed out
            return None


def signed_in(session: dict[str, Any], now: datetime | None = None) -> Clerk | None:
    """The clerk of this session, or None when nobody is signed in or the session expired."""
    clerk = Clerk.from_session(session.get(SESSION_KEY))
    if clerk is None:
        return None
    if clerk.expired(now or datetime.now(UTC)):
        session.pop(SESSION_KEY, None)
        session[EXPIRED_KEY] = True
        return None
    return clerk


def sign_in(session: dict[str, Any], clerk: Clerk) -> None:
    session.pop(EXPIRED_KEY, None)
    session[SESSION_KEY] = clerk.to_session()


def sign_out(session: dict[str, Any]) -> None:
    session.pop(SESSION_KEY, None)


def expiry(now: datetime, lifetime: timedelta = DEFAULT_LIFETIME) -> str:
    return (now + lifetime).isoformat()
