"""The demo's disability story (issue 13), played by `tongban demo` after the marriage scenarios
through the same harness (services/stack/demo_harness.py): 王芳, whose 户籍 is in Guangyuan, applies
for both subsidies at a Yinchuan window; the window forwards it (异地代收代办); Sichuan reviews,
decides and pays; the result is shown in Yinchuan, where the window informs her. Sichuan's
finance office pays her month by month through the shared payment run (run, send, the bank's
confirmation; the demo moves every region's clock to the next month between runs); a death record
in the second month stops payment from the month after, so the third month's run has no line for
her. Every step is a gRPC call of a clerk."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from services.common.events import Actor
from services.common.payments.due import next_month
from services.stack.demo_harness import DemoHarness, as_date
from services.stack.stackfile import StackNotRunning

YINCHUAN_WINDOW = Actor("clerk", "yc-dp-02", "640104-DPO-01", "640000", "window")  # 兴庆区 民政服务窗口
GUANGYUAN_TOWNSHIP = Actor("clerk", "gy-dp-05", "510802-DPO-01", "510000", "window")  # 利州区 乡镇（街道）
GUANGYUAN_CDPF = Actor("clerk", "gy-cdpf-01", "510802-CDPF", "510000", "cdpf")  # 利州区残联
GUANGYUAN_COUNTY = Actor("clerk", "gy-mz-01", "510802-MZJ", "510000", "approver")  # 利州区民政局
GUANGYUAN_FINANCE = Actor("clerk", "gy-cw-01", "510802-MZJ-CW", "510000", "finance")  # 资金发放


class DisabilityStory:
    def __init__(self, demo: DemoHarness) -> None:
        self.demo = demo
        self.stubs: dict[str, Any] = {}
        self.payments: Any = None  # Sichuan's payment API: the 户籍 region pays
        self.channels: list[Any] = []

    def call(self, actor: Actor, method: str, request: Any) -> Any:
        return getattr(self.stubs[actor.region], method)(request, metadata=self.demo.signed_in(actor), timeout=70)

    def case(self, actor: Actor, case_id: str) -> Any:
        from tongban.disability.v1 import disability_service_pb2 as api

        return self.call(actor, "GetCase", api.GetCaseRequest(case_id=case_id)).case

    def play(self, number: int) -> None:

        from tongban.disability.v1 import disability_service_pb2_grpc as api_grpc
        from tongban.payments.v1 import payment_service_pb2_grpc as pay_grpc

        try:
            for region in ("640000", "510000"):
                channel = self.demo.open_channel(region, "disability")
                self.channels.append(channel)
                self.stubs[region] = api_grpc.DisabilityServiceStub(channel)
            self.payments = pay_grpc.PaymentServiceStub(channel)  # the last: Sichuan's
        except StackNotRunning as missing:
            self.demo.note(f"(no disability story: {missing})")
            return
        try:
            self._story(number)
        finally:
            for channel in self.channels:
                channel.close()

    def _story(self, number: int) -> None:
        from services.common.identity.citizen_id import make_citizen_id
        from tongban.disability.v1 import disability_service_pb2 as api

        demo, rng = self.demo, self.demo.rng
        who = make_citizen_id("510802", date(1968, 4, 1) + timedelta(days=rng.randrange(0, 300)),
                              rng.randrange(0, 499) * 2)
        with demo.journey(f"{number}. 王芳 (户籍 Guangyuan 广元) applies for the two disability subsidies in "
                          "Yinchuan 银川 (异地代收代办)"):
            received = self.call(YINCHUAN_WINDOW, "ReceiveApplication", api.ReceiveApplicationRequest(
                applicant=api.ApplicantInput(citizen_id=who, name="王芳", hukou_region="510802"),
                certificate_number=f"{who}41", certificate_valid_until={"year": 2030, "month": 6, "day": 30},
                household="dibao", bank_account="6222 0212 3456 7890 123", living=True, nursing=True,
                circumstances=api.CircumstancesInput(long_term_care_months=24), request_id=_id(rng))).case
            case_id = received.case_id
            demo.require(received.state == "forwarding",
                         f"received at the Yinchuan window as {case_id}: to forward by {as_date(received.stage_due_on)}"
                         " (3 working days)")
            self.call(YINCHUAN_WINDOW, "ForwardApplication", api.ForwardApplicationRequest(
                case_id=case_id, request_id=_id(rng)))
            there = demo.poll("the application in Sichuan", lambda: self._maybe(GUANGYUAN_TOWNSHIP, case_id),
                              lambda c: c is not None and c.stage == "township_review")
            demo.require(there is not None and there.received_from == "640000",
                         "forwarded to Sichuan, where the 户籍 county reviews it (the decision right stays there)")
            self.call(GUANGYUAN_TOWNSHIP, "CompleteTownshipReview", api.CompleteTownshipReviewRequest(
                case_id=case_id, note="入户核查属实", request_id=_id(rng)))
            self.call(GUANGYUAN_CDPF, "ConfirmCertificate", api.ConfirmCertificateRequest(
                case_id=case_id, note="肢体一级", request_id=_id(rng)))
            held = demo.poll("the registry's grants", lambda: self.case(GUANGYUAN_COUNTY, case_id),
                             lambda c: sorted(c.registry_held) == ["living", "nursing"])
            demo.check(sorted(held.registry_held) == ["living", "nursing"],
                       "the national registry holds her for both subsidies in Sichuan (one place only)")
            approved = self.call(GUANGYUAN_COUNTY, "ApproveApplication", api.ApproveApplicationRequest(
                case_id=case_id, household="dibao", request_id=_id(rng))).case
            amounts = ", ".join(f"{e.subsidy} {e.amount_fen / 100:.2f} 元 from {e.start_month}"
                                for e in approved.entitlements)
            demo.require(approved.state == "approved", f"approved in Sichuan, which pays: {amounts}")
            back = demo.poll("the result in Yinchuan", lambda: self.case(YINCHUAN_WINDOW, case_id),
                             lambda c: c.stage == "informing")
            demo.check(back.stage == "informing" and back.hukou_region_result.startswith("approved"),
                       f"the result is shown at the Yinchuan window ({back.hukou_region_result}); "
                       f"inform her by {as_date(back.stage_due_on)}")
            informed = self.call(YINCHUAN_WINDOW, "InformApplicant", api.InformApplicantRequest(
                case_id=case_id, note="电话告知", request_id=_id(rng))).case
            demo.check(informed.informed_on.year > 0, "the window informed her; both regions keep their part")
            first = approved.entitlements[0].start_month
            self.pay_month(first, who, expected=2)
            self.move_to_month(next_month(first))
            self.pay_month(next_month(first), who, expected=2)
            found = self.call(GUANGYUAN_COUNTY, "RecordDataMatch", api.RecordDataMatchRequest(
                kind="death", citizen_id=who, effective_on=_day(self.today()),
                source="公安 死亡登记 (demo)", request_id=_id(rng)))
            stopped = self.case(GUANGYUAN_COUNTY, case_id)
            months = sorted({e.stop_month for e in stopped.entitlements})
            demo.check(list(found.affected_case_ids) == [case_id] and len(months) == 1 and months != [""],
                       f"a death record from public security stops both subsidies from {months[0] if months else '?'}"
                       " (the month after)")
            third = next_month(next_month(first))
            self.move_to_month(third)
            self.pay_month(third, who, expected=0)
            paid = self.pay("PersonHistory", pay_api().PersonHistoryRequest(citizen_id=who), GUANGYUAN_COUNTY)
            demo.check([(h.line.month, h.status) for h in paid.lines]
                       == [(first, "confirmed")] * 2 + [(next_month(first), "confirmed")] * 2,
                       f"her payment history in Sichuan: {first} and {next_month(first)}, both subsidies, "
                       "each paid once")

    # -- the monthly payment run (services/common/payments), by Sichuan's finance office ---------

    def pay(self, method: str, request: Any, reader: Actor = GUANGYUAN_FINANCE) -> Any:
        return getattr(self.payments, method)(request, metadata=self.demo.signed_in(reader), timeout=70)

    def pay_month(self, month: str, who: str, *, expected: int) -> None:
        """Run the month (twice: nothing new), send its batch to the bank, record the bank's answer."""
        run, again, roll = self.demo.pay_month(self.payments, GUANGYUAN_FINANCE, month)
        hers = [line for line in roll if line.citizen_id == who]
        what = ", ".join(f"{line.benefit} {line.amount_fen / 100:.2f} 元" for line in hers) or "no line for her"
        self.demo.check(len(hers) == expected and again.added == 0,
                        f"{month} payment run in Sichuan: {run.batch.line_count} line(s), "
                        f"{run.batch.total_fen / 100:.2f} 元 ({what}); run again: nothing new; sent, confirmed")

    def today(self) -> date:
        return self.demo.today()

    def move_to_month(self, month: str) -> None:
        self.demo.move_to_month(month)

    def _maybe(self, actor: Actor, case_id: str) -> Any:
        import grpc

        try:
            return self.case(actor, case_id)
        except grpc.RpcError as missing:
            if missing.code() is grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                return None
            raise


def pay_api() -> Any:
    from tongban.payments.v1 import payment_service_pb2

    return payment_service_pb2


def _id(rng: random.Random) -> str:
    return f"demo-{rng.getrandbits(64):016x}"


def _day(value: date) -> dict[str, int]:
    return {"year": value.year, "month": value.month, "day": value.day}


def play_disability_story(demo: DemoHarness, number: int) -> None:
    DisabilityStory(demo).play(number)
