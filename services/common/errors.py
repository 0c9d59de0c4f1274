"""The errors every layer speaks. The gRPC layer maps each to a status code (architecture
invariant 7): invalid input → INVALID_ARGUMENT with field details, a broken business rule →
FAILED_PRECONDITION naming the rule, a version conflict → ABORTED, the wrong owner →
PERMISSION_DENIED naming the owner."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class TongbanError(Exception):
    """Base of every error the system raises on purpose."""


@dataclass(frozen=True)
class FieldViolation:
    field: str  # dotted path as the caller sent it, e.g. "applicant.citizen_id"
    description: str


class InvalidArgument(TongbanError):
    """Input that can never be valid. Nothing was stored."""

    def __init__(self, violations: Iterable[FieldViolation]) -> None:
        self.violations = tuple(violations)
        if not self.violations:
            raise ValueError("InvalidArgument needs at least one field violation")
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))

    @classmethod
    def single(cls, field: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field, description)])

    def prefixed(self, prefix: str) -> InvalidArgument:
        """The same violations with their field paths placed under `prefix`."""
        return InvalidArgument(FieldViolation(f"{prefix}.{v.field}", v.description) for v in self.violations)


class RuleViolation(TongbanError):
    """A valid request that a legal or business rule refuses (e.g. MinimumMarriageAge)."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        self.message = message
        super().__init__(f"{rule}: {message}")


class NotAuthorised(RuleViolation):
    """The caller's role or office may not do this (e.g. a status query by a window clerk): a rule
    about who may act, answered PERMISSION_DENIED rather than FAILED_PRECONDITION."""


class ConcurrencyConflict(TongbanError):
    """The stream moved on since the caller read it. Nothing was appended; reload and retry."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"stream {stream_id!r} is at version {actual}, expected {expected}")


class WrongOwner(TongbanError):
    """A write command reached a region that does not own the case."""

    def __init__(self, case_id: str, owner_region: str) -> None:
        self.case_id = case_id
        self.owner_region = owner_region
        super().__init__(f"case {case_id!r} is owned by region {owner_region}")


class NotFound(TongbanError):
    def __init__(self, what: str, key: str) -> None:
        self.what = what
        self.key = key
        super().__init__(f"{what} {key!r} not found")
