"""The registry's decisions topic as an audit witness: every decision must carry the registry's
signature (invariant 8: only the registry decides). No store holds the decisions as published, so
what is checked is the signature, over the exact bytes on the topic; a decision that fails is
named — who it claims to decide for, on which claim, at which offset, and why it is forged."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import DecodeError

from services.common.audit.kafka_log import TopicProblem, TopicRecord, TopicReport
from services.common.trust.keys import REGISTRY, KeyDirectory
from services.common.trust.signing import DECISION_PURPOSE, message_problem
from tongban.registry.v1 import registry_pb2

DECISIONS = "decisions"


def check_decisions_topic(topic: str, records: Iterable[TopicRecord], keys: KeyDirectory) -> TopicReport:
    report = TopicReport(topic, kind=DECISIONS, signatures_checked=True)
    for record in records:
        report.records += 1
        where = f"partition {record.partition} offset {record.offset}"
        try:
            decision = registry_pb2.RegistryDecision.FromString(record.value)
        except DecodeError as exc:
            report.problems.append(TopicProblem(topic, "", "", 0, "", 0, f"{where}: not a registry decision ({exc})"))
            continue
        problem = message_problem(keys, REGISTRY, DECISION_PURPOSE, record.value, record.headers)
        if problem is not None:
            outcome = registry_pb2.DecisionOutcome.Name(decision.outcome).removeprefix("DECISION_OUTCOME_")
            report.problems.append(TopicProblem(
                topic, "", "", 0, "", 0,
                f"{where}: FORGED decision {decision.decision_id or '?'} ({outcome} on claim {decision.claim_id} "
                f"of {decision.region}/{decision.service}, case {decision.case_id}): {problem}"))
            continue
        report.events_checked += 1
    return report
