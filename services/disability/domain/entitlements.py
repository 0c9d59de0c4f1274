"""The months an entitlement owes, and which of them a month's payment run pays.

An entitlement is owed from its start month (the month of application, 国发〔2015〕52号 三) up to,
not including, its stop month, in the months a valid certificate covers: a certificate covers
up to the month it expires, so payment stops the month after; a renewed one covers from the
month of issue, back-paying up to the region's number of months of the gap.

Each owed month is *payable from* the month the decision that made it owed was recorded: the
approval (months between application and approval are back-pay), a renewal, or a review that
found a stop wrong. The run of month M pays M itself, plus every earlier owed month that became
payable in M or in the month before — so a decision recorded after a month's run is still paid
by the next one, and the run's own rule (a line for an entitlement and month already paid is
never added again) keeps the overlap from paying anything twice."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.disability.domain.values import Subsidy, add_months, months_between


@dataclass(frozen=True)
class Cover:
    """Months a certificate makes owed, and the month that was decided."""

    first: str
    last: str
    decided_month: str


@dataclass(frozen=True)
class OwedMonth:
    subsidy: Subsidy
    month: str
    amount_fen: int
    back_pay: bool  # owed for a month before the run's month


@dataclass
class Entitlement:
    subsidy: Subsidy
    amount_fen: int
    start_month: str
    decided_month: str
    covers: list[Cover] = field(default_factory=list)
    stop_month: str = ""  # the first month no longer owed ("" while paid)
    stop_reason: str = ""
    resumes: list[tuple[str, str]] = field(default_factory=list)  # (resume month, decided month)

    @property
    def stopped(self) -> bool:
        return bool(self.stop_month)

    @property
    def covered_until(self) -> str:
        """The last month a certificate covers."""
        return max(c.last for c in self.covers) if self.covers else ""

    def _cover(self, month: str) -> Cover | None:
        return next((c for c in self.covers if c.first <= month <= c.last), None)

    def is_owed(self, month: str) -> bool:
        if month < self.start_month or (self.stop_month and month >= self.stop_month):
            return False
        return self._cover(month) is not None

    def payable_from(self, month: str) -> str:
        """The month the decision making `month` owed was recorded (only for owed months)."""
        cover = self._cover(month)
        decided = [self.decided_month, cover.decided_month if cover else self.decided_month]
        decided += [when for resumed_from, when in self.resumes if resumed_from <= month]
        return max(decided)

    def owed_in_run(self, run_month: str) -> list[OwedMonth]:
        """What the run of `run_month` pays: the month itself once decided, and back-pay that became
        payable this month or last (see the module docstring)."""
        previous = add_months(run_month, -1)
        decided = [self.decided_month, *(c.decided_month for c in self.covers), *(d for _, d in self.resumes)]
        # Back-pay exists only when a decision was recorded this month or last; otherwise the run
        # month alone can be owed (the common case: one look instead of one per month since the start).
        first = self.start_month if max(decided) >= previous else max(self.start_month, run_month)
        lines: list[OwedMonth] = []
        for month in months_between(first, run_month):
            if not self.is_owed(month):
                continue
            payable = self.payable_from(month)
            if month == run_month and payable <= run_month:
                lines.append(OwedMonth(self.subsidy, month, self.amount_fen, back_pay=False))
            elif month < run_month and payable in (previous, run_month):
                lines.append(OwedMonth(self.subsidy, month, self.amount_fen, back_pay=True))
        return lines

    def expiry_warning_due(self, today_month: str, warning_months: int) -> bool:
        """The certificate runs out within `warning_months` (and nothing renewed it yet): the holder
        is warned so they renew before payment stops."""
        last = self.covered_until
        return (not self.stopped and bool(last)
                and add_months(last, -warning_months) <= today_month <= last)
