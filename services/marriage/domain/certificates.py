"""Certificate numbers (字号): one counter stream per office and year. The counter's version is
the last sequence given, so two offices' numbers never collide and one office never gives the
same number twice (the store's expected-version check settles a race)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from services.common.kit.aggregate import Aggregate
from services.marriage.domain.events import CertificateNumberIssued
from services.marriage.domain.values import Document, certificate_number

COUNTER_STREAM_TYPE = "marriage.CertificateNumbers"


def counter_stream_id(office_code: str, year: int) -> str:
    return f"certificate-numbers-{office_code}-{year}"


@dataclass
class CertificateNumbers(Aggregate):
    stream_type: ClassVar[str] = COUNTER_STREAM_TYPE
    what: ClassVar[str] = "certificate number counter"
    fold_is_count: ClassVar[bool] = True  # `when` assigns nothing: loaded from its stream's ends

    def when(self, event: CertificateNumberIssued) -> None:
        pass  # the version is the count

    def issue(self, *, document: Document, office_code: str, on: date, case_id: str) -> CertificateNumberIssued:
        sequence = self.version + 1
        number = certificate_number(document, office_code, on.year, sequence)
        return CertificateNumberIssued(number, office_code, on.year, sequence, document.value, case_id)
