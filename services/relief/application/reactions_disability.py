"""Relief's reaction to the disability service's events (tongban.disability.events.v1, any region):
only what changes a 低保 household's income would matter to it — and the two disability subsidies
do not (国发〔2015〕52号 二(四): 困难残疾人生活补贴和重度残疾人护理补贴 不计入低保家庭收入; domain
rule "Disability two subsidies"; household.py leaves `disability_subsidy_fen` out of the counted
income for the same reason).

So a grant, stop or resumption of a disability subsidy is let through to nothing: `wants` says no
before any transaction (no inbox row, no event, the household's amount untouched). The reaction is
wired all the same, so that the day an event of that service does bear on income (none does today)
its handling has one place, named here, and the rule that keeps the subsidies out stays visible."""

from __future__ import annotations

from services.common.events import RecordedEvent
from services.common.store import StoreTransaction
from services.host.definition import Reaction
from tongban.disability.v1 import events_pb2 as disability

CONSUMER = "relief.disability-events"  # the inbox name: never renamed
DISABILITY_EVENTS_TOPIC = "tongban.disability.events.v1"
SUBSIDY_RULE = "国发〔2015〕52号 二(四) 两项补贴不计入低保家庭收入"

# The disability events that could bear on a household's income, and whether they do.
COUNTS_AS_INCOME: dict[str, bool] = {
    disability.EntitlementGranted.DESCRIPTOR.full_name: False,  # a subsidy is not income (SUBSIDY_RULE)
    disability.EntitlementStopped.DESCRIPTOR.full_name: False,
    disability.EntitlementResumed.DESCRIPTOR.full_name: False,
}


def matters_for_income(event: RecordedEvent) -> bool:
    """Whether a disability event changes what counts as a 低保 household's income."""
    return event.service == "disability" and COUNTS_AS_INCOME.get(event.type, False)


def when_a_disability_subsidy_changes_leave_the_income_alone() -> Reaction:
    def handle(tx: StoreTransaction, event: RecordedEvent) -> None:
        if matters_for_income(event):  # unreachable while every entry of COUNTS_AS_INCOME is False
            raise NotImplementedError(f"{event.type} counts as income, but relief has no reaction to it yet")

    return Reaction(name=CONSUMER, event_types=frozenset(COUNTS_AS_INCOME), handle=handle,
                    topic=DISABILITY_EVENTS_TOPIC, wants=matters_for_income)
