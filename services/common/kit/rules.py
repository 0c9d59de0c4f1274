"""Rules in one shape: a named rule, the legal article it encodes, and the error it raises.

Marriage, hand-offs and the registry all speak this shape, so a refusal anywhere reads the same
to a clerk ("rule NoExistingMarriage, 民法典 第1042条: …") and maps to the same gRPC status:
FAILED_PRECONDITION, or PERMISSION_DENIED for rules about who may act (architecture invariant 7).

A rule is an object built from the facts it judges (pgorecki/python-ddd's `is_broken()`), so a
test names it and its article, and `check(...)` raises for the first one broken."""

from __future__ import annotations

from typing import ClassVar

from services.common.errors import RuleViolation


class Rule:
    """Subclasses set `article` (and `name` when it differs from the class name), and answer
    `is_broken()` and `message`. `error` is RuleViolation unless the rule is about who may act
    (NotAuthorised)."""

    name: ClassVar[str] = ""
    article: ClassVar[str] = ""
    error: ClassVar[type[RuleViolation]] = RuleViolation

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__

    def is_broken(self) -> bool:
        return True  # a rule built only when it was found broken (e.g. from a registry denial)

    @property
    def message(self) -> str:
        raise NotImplementedError

    def violation(self, detail: str = "") -> RuleViolation:
        """The error that refuses a command by this rule; `detail` adds what the facts were."""
        text = self.message + (f": {detail}" if detail else "")
        return self.error(self.name, f"{text} ({self.article})" if self.article else text)


def first_broken(*rules: Rule) -> Rule | None:
    """The first broken rule, in the order given, or None: for refusals that are recorded as a
    case's outcome (不予登记 with its reasons) rather than raised."""
    return next((rule for rule in rules if rule.is_broken()), None)


def check(*rules: Rule) -> None:
    """Raise the violation of the first broken rule, in the order given."""
    for rule in rules:
        if rule.is_broken():
            raise rule.violation()
