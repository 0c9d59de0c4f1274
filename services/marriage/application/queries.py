"""Reading: a case with its full history (from the event store itself), an office's case list and
work queues (from the read model), and waiting for a registration to settle."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from services.common.errors import FieldViolation, InvalidArgument, NotFound
from services.common.events import RecordedEvent, to_micros
from services.marriage.adapters.cases import CaseAggregate, fold_case
from services.marriage.application.unit import Deps
from services.marriage.domain.marriage import Marriage, MarriageState
from services.marriage.domain.reissue import RemoteReissue
from services.marriage.projections.read_models import QUEUES, CaseListRow, list_cases

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
CASE_TYPES = ("marriage", "divorce", "reissue", "status_query")

# Polling interval while a window waits for the registry's answer.
_WAIT_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class CaseWithHistory:
    case: CaseAggregate
    history: list[RecordedEvent]


def get_case(deps: Deps, case_id: str) -> CaseWithHistory:
    if not case_id:
        raise InvalidArgument.single("case_id", "required")
    history = deps.store.read_stream(case_id)
    case = fold_case(history)
    if case is None:
        raise NotFound("case", case_id)
    return CaseWithHistory(case, history)


def wait_until_settled(deps: Deps, case_id: str, timeout: float) -> CaseWithHistory:
    """The case once what it waits for has answered (a marriage: the registry; a reissue of
    another region's record: that region's archive), or as it stands after `timeout` seconds: a
    window gets its answer in one call when the answer is quick, and the case in any case."""
    deadline = time.monotonic() + max(0.0, min(timeout, deps.settings.max_wait_seconds))
    pause = threading.Event()  # never set: an interruptible pause between reads
    while True:
        found = get_case(deps, case_id)
        if not waits_for_another(found.case) or time.monotonic() >= deadline:
            return found
        pause.wait(_WAIT_POLL_SECONDS)


def waits_for_another(case: CaseAggregate) -> bool:
    """Whether the case waits for another party's answer: a marriage for the registry's, a reissue
    of another region's record for that region's archive."""
    return ((isinstance(case, Marriage) and case.state is MarriageState.AWAITING_REGISTRY)
            or (isinstance(case, RemoteReissue) and case.is_open))


@dataclass(frozen=True)
class CasePage:
    cases: list[CaseListRow]
    next_page_token: str


def list_office_cases(deps: Deps, *, office_code: str, case_type: str = "", state: str = "", queue: str = "",
                      page_size: int = 0, page_token: str = "") -> CasePage:
    violations: list[FieldViolation] = []
    if not office_code:
        violations.append(FieldViolation("office_code", "required"))
    if queue:
        if queue not in QUEUES:
            violations.append(FieldViolation("queue", f"one of {', '.join(QUEUES)}"))
        elif case_type or state:
            violations.append(FieldViolation("queue", "give either a queue or case_type/state, not both"))
    if case_type and case_type not in CASE_TYPES:
        violations.append(FieldViolation("case_type", f"one of {', '.join(CASE_TYPES)}"))
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        violations.append(FieldViolation("page_size", f"between 0 and {MAX_PAGE_SIZE}"))
    after = _parse_token(page_token, violations)
    if violations:
        raise InvalidArgument(violations)
    if queue:
        case_type, state = QUEUES[queue]
    size = page_size or DEFAULT_PAGE_SIZE
    with deps.store.engine.connect() as conn:
        rows = list_cases(conn, office_code=office_code, case_type_=case_type, state=state, limit=size + 1,
                          after=after)
    more = len(rows) > size
    rows = rows[:size]
    token = _token(rows[-1]) if more else ""
    return CasePage(rows, token)


def _token(row: CaseListRow) -> str:
    return f"{to_micros(row.opened_at)}:{row.case_id}"


def _parse_token(token: str, violations: list[FieldViolation]) -> tuple[int, str] | None:
    if not token:
        return None
    opened, _, case_id = token.partition(":")
    if not opened.isdigit() or not case_id:
        violations.append(FieldViolation("page_token", "not a token this service gave out"))
        return None
    return int(opened), case_id
