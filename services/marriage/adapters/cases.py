"""A stored stream of the marriage service as its aggregate: decode each payload, fold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from services.common.events import RecordedEvent
from services.marriage.adapters.payloads import decode
from services.marriage.domain import divorce as divorce_module
from services.marriage.domain import marriage as marriage_module
from services.marriage.domain.divorce import Divorce
from services.marriage.domain.events import CertificateReissued, MaritalStatusQueried, ReissueRequested
from services.marriage.domain.marriage import Marriage
from services.marriage.domain.reissue import REISSUE_STREAM_TYPE, STATUS_QUERY_STREAM_TYPE, RemoteReissue

CASE_STREAM_TYPES = frozenset({
    marriage_module.STREAM_TYPE, divorce_module.STREAM_TYPE, REISSUE_STREAM_TYPE, STATUS_QUERY_STREAM_TYPE,
})
CASE_TYPE_OF_STREAM = {
    marriage_module.STREAM_TYPE: "marriage",
    divorce_module.STREAM_TYPE: "divorce",
    REISSUE_STREAM_TYPE: "reissue",
    STATUS_QUERY_STREAM_TYPE: "status_query",
}


@dataclass(frozen=True)
class OneShotCase:
    """A case that is complete with its first event: a reissue or a recorded status query."""

    event: CertificateReissued | MaritalStatusQueried
    version: int
    opened_at: datetime
    updated_at: datetime

    @property
    def case_id(self) -> str:
        return self.event.case_id

    @property
    def state(self) -> str:
        return "issued" if isinstance(self.event, CertificateReissued) else "answered"


A = TypeVar("A", Marriage, Divorce, RemoteReissue)
CaseAggregate = Marriage | Divorce | OneShotCase | RemoteReissue


def _fold(cls: type[A], events: Sequence[RecordedEvent]) -> A:
    return cls.fold((decode(e), e.recorded_at) for e in events)


def fold_case(events: Sequence[RecordedEvent]) -> CaseAggregate | None:
    """The case a stream holds, or None if the stream is empty or not a case of this service."""
    if not events or events[0].stream_type not in CASE_STREAM_TYPES:
        return None
    stream_type = events[0].stream_type
    if stream_type == marriage_module.STREAM_TYPE:
        return _fold(Marriage, events)
    if stream_type == divorce_module.STREAM_TYPE:
        return _fold(Divorce, events)
    first = decode(events[0])
    if isinstance(first, ReissueRequested):
        return _fold(RemoteReissue, events)
    return OneShotCase(decode(events[0]), len(events), events[0].recorded_at, events[-1].recorded_at)


def case_type(aggregate: CaseAggregate) -> str:
    if isinstance(aggregate, Marriage):
        return "marriage"
    if isinstance(aggregate, Divorce):
        return "divorce"
    if isinstance(aggregate, RemoteReissue):
        return "reissue"
    return "reissue" if isinstance(aggregate.event, CertificateReissued) else "status_query"
