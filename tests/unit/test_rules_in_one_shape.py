"""Rules in one shape (issue 9): every named rule of marriage, the hand-off protocol and the
registry is a kit Rule with a name and the article it rests on, and raises the error a clerk's
window decodes (rule name, then the article in the message)."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

from services.common.audit import front_door_reads as auditor_read_rules
from services.common.errors import NotAuthorised, RuleViolation
from services.common.handoff.domain import commands as handoff_rules
from services.common.kit.rules import Rule
from services.common.registry import claims as registry_rules
from services.common.trust import reads as read_rules
from services.disability.domain import rules as disability_rules
from services.marriage.domain import divorce_rules, record_rules, rules

MODULES = (rules, divorce_rules, record_rules, handoff_rules, registry_rules, disability_rules, read_rules,
           auditor_read_rules)


def _rules(module: ModuleType) -> list[type[Rule]]:
    return [c for _, c in inspect.getmembers(module, inspect.isclass)
            if issubclass(c, Rule) and c is not Rule and c.__module__ == module.__name__]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: ".".join(m.__name__.split(".")[-2:]))
def test_every_rule_names_itself_and_its_article(module: ModuleType) -> None:
    found = _rules(module)
    assert found, f"{module.__name__} defines its rules as kit Rules"
    for rule in found:
        assert rule.name and rule.article, f"{rule.__name__} names its article"
        assert issubclass(rule.error, RuleViolation)


def test_a_broken_rule_raises_its_error_with_the_article() -> None:
    refusal = handoff_rules.OneAnswerPerHandoff().violation("h-1")
    assert (refusal.rule, type(refusal)) == ("OneAnswerPerHandoff", RuleViolation)
    assert refusal.message == "the hand-off was already answered: h-1 (国办发〔2020〕35号 跨省通办)"
    who = record_rules.ClerkOfThisRegion("clerk", "510000", "510802-MRO-01", "640000").violation()
    assert isinstance(who, NotAuthorised), "rules about who may act answer PERMISSION_DENIED"
