"""The demo's relief story (issue 14), played by `tongban demo` after the disability story through
the same harness (services/stack/demo_harness.py). 李建军's household — he and his son with 户籍 in
Baoji 宝鸡 (Shaanxi, living in Yinchuan on a residence permit), his wife 马秀英 with 户籍 in Yinchuan —
applies for 低保 in Yinchuan (多地联办): the family economic check of the Shaanxi members goes to
Shaanxi and back, the 7-day public notice passes (every region's clock is moved), the county
grants it. The disability service sees the enrolment (her waiting living-subsidy application's
household status is verified from relief's record); the son marries in Guangyuan, which triggers the
household's review; a traveller from Shaanxi hurt in Guangyuan is helped there at once (先行救助)
and the paperwork completed afterwards. Every step is a gRPC call of a clerk.

Yinchuan's finance office pays the household for two months through the shared payment run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.common.events import Actor
from services.stack.demo_harness import GUANGYUAN, DemoHarness, Person, as_date, register_request
from services.stack.stackfile import StackNotRunning

YINCHUAN_TOWNSHIP = Actor("clerk", "yc-mz-03", "640104-MZ-01", "640000", "relief")  # 兴庆区 乡镇（街道）
BAOJI_TOWNSHIP = Actor("clerk", "bj-mz-02", "610302-MZ-01", "610000", "relief")  # 渭滨区, 户籍 of two members
GUANGYUAN_TOWNSHIP = Actor("clerk", "gy-mz-07", "510802-MZ-01", "510000", "relief")  # 利州区, where it happened
YINCHUAN_DISABILITY = Actor("clerk", "yc-dp-02", "640104-DPO-01", "640000", "window")
YINCHUAN_FINANCE = Actor("clerk", "yc-cw-01", "640104-CZJ", "640000", "finance")  # 兴庆区 资金发放


class ReliefStory:
    def __init__(self, demo: DemoHarness) -> None:
        self.demo = demo
        self.relief: dict[str, Any] = {}
        self.disability: Any = None
        self.channels: list[Any] = []

    def call(self, actor: Actor, method: str, request: Any) -> Any:
        stub = self.disability if actor.role == "window" else self.relief[actor.region]
        return getattr(stub, method)(request, metadata=self.demo.signed_in(actor), timeout=70)

    def case(self, actor: Actor, case_id: str) -> Any:
        from tongban.relief.v1 import relief_service_pb2 as api

        return self.call(actor, "GetCase", api.GetCaseRequest(case_id=case_id)).case

    def play(self, number: int) -> None:

        from tongban.disability.v1 import disability_service_pb2_grpc as disability_grpc
        from tongban.relief.v1 import relief_service_pb2_grpc as relief_grpc

        def channel(region: str, service: str) -> Any:
            opened = self.demo.open_channel(region, service)
            self.channels.append(opened)
            return opened

        try:
            for region in ("640000", "610000", "510000"):
                self.relief[region] = relief_grpc.ReliefServiceStub(channel(region, "relief"))
            self.disability = disability_grpc.DisabilityServiceStub(channel("640000", "disability"))
        except StackNotRunning as missing:
            self.demo.note(f"(no relief story: {missing})")
            return
        try:
            self._story(number)
        finally:
            for opened in self.channels:
                opened.close()

    def _story(self, number: int) -> None:
        father, mother = _citizen(self.demo, "610302", 1968, male=True), _citizen(self.demo, "640104", 1970, male=False)
        son = _citizen(self.demo, "610302", 1998, male=True)
        with self.demo.journey(f"{number}. 李建军's household (户籍 Baoji 宝鸡) applies for 低保 in Yinchuan 银川 "
                               "(多地联办)"):
            waiting = self._disability_application(mother)
            case_id = self._granted(father, mother, son)
            self._enrolment_seen(waiting)
            self.monthly_runs(case_id)
            self._son_marries(case_id, Person("李强", son))
        with self.demo.journey(f"{number + 1}. a traveller from Shaanxi is hurt in Guangyuan 广元: 临时救助 at once"):
            self._traveller(_citizen(self.demo, "610302", 1985, male=True))

    def _disability_application(self, mother: str) -> str:
        from tongban.disability.v1 import disability_service_pb2 as dapi

        received = self.call(YINCHUAN_DISABILITY, "ReceiveApplication", dapi.ReceiveApplicationRequest(
            applicant=dapi.ApplicantInput(citizen_id=mother, name="马秀英", hukou_region="640104"),
            certificate_number=f"{mother}42", certificate_valid_until={"year": 2030, "month": 6, "day": 30},
            household="dibao", bank_account="6222 0212 3456 7890 456", living=True, nursing=False,
            circumstances=dapi.CircumstancesInput(), request_id=_id(self.demo))).case
        self.demo.check(received.state == "under_review" and received.household_source == "declared",
                        f"马秀英 applies for the disability living subsidy in Yinchuan ({received.case_id}): her "
                        "household's 低保 status is as declared, to be verified")
        return str(received.case_id)

    def _granted(self, father: str, mother: str, son: str) -> str:
        from services.relief.domain.dibao_names import check_handoff_id
        from tongban.relief.v1 import relief_service_pb2 as api

        demo = self.demo
        members = [api.MemberInput(citizen_id=father, name="李建军", relation="self", hukou_region="610302",
                                   residence_permit_region="640104"),
                   api.MemberInput(citizen_id=mother, name="马秀英", relation="spouse", hukou_region="640104"),
                   api.MemberInput(citizen_id=son, name="李强", relation="child", hukou_region="610302",
                                   residence_permit_region="640104", earned_income_fen=150_000)]
        case_id = self.call(YINCHUAN_TOWNSHIP, "ApplyForDibao", api.ApplyForDibaoRequest(
            applicant_citizen_id=father, members=members, area="urban", bank_account="6228480012345678901",
            request_id=_id(demo))).case_id
        self.call(YINCHUAN_TOWNSHIP, "AcceptDibao", api.AcceptDibaoRequest(case_id=case_id, request_id=_id(demo)))
        self.call(YINCHUAN_TOWNSHIP, "StartInvestigation", api.StartInvestigationRequest(case_id=case_id,
                                                                                         request_id=_id(demo)))
        demo.check(True, f"accepted in Yinchuan as {case_id}; the investigation started")
        for member in (father, son):
            answer = api.AnswerEconomicCheckRequest(handoff_id=check_handoff_id(case_id, member),
                                                    monthly_income_fen=150_000 if member == son else 0,
                                                    note="陕西省 家庭经济状况核对: 无车辆、房产、工商登记",
                                                    request_id=_id(demo))
            demo.poll("the economic check in Shaanxi", lambda a=answer: self._answered(a), lambda done: done)
        opinion = demo.poll("the answers back in Yinchuan", lambda: self._opinion(case_id), lambda done: done)
        demo.check(opinion, "Shaanxi answered the economic check of its two members (a recorded hand-off each); "
                            "the home visit and the township's opinion are recorded")
        self.call(YINCHUAN_TOWNSHIP, "StartPublicNotice", api.StartPublicNoticeRequest(case_id=case_id,
                                                                                       request_id=_id(demo)))
        notice_ends = as_date(self.case(YINCHUAN_TOWNSHIP, case_id).summary.due_on)
        self._move_clock_past(notice_ends)
        demo.poll("the notice to end", lambda: self.case(YINCHUAN_TOWNSHIP, case_id).summary.state,
                  lambda state: state == "awaiting_decision", timeout=30)
        decided = demo.poll("the registry's answers on the members' places", lambda: self._decided(case_id),
                            lambda state: state is not None)
        granted = self.case(YINCHUAN_TOWNSHIP, case_id).summary
        demo.require(decided == "granted",
                     f"the 7-day public notice ended {notice_ends}; the county granted 低保: "
                     f"{granted.monthly_amount_fen / 100:.2f} 元 a month (620 元 × 3 − 1500 元 income)")
        return str(case_id)

    def _enrolment_seen(self, waiting: str) -> None:
        from tongban.disability.v1 import disability_service_pb2 as dapi

        seen = self.demo.poll("the disability service to see the enrolment", lambda: self.call(
            YINCHUAN_DISABILITY, "GetCase", dapi.GetCaseRequest(case_id=waiting)).case,
            lambda c: c.household_source == "relief")
        self.demo.check(seen.household == "dibao" and seen.household_source == "relief",
                        "the disability service saw her enter 低保: her living-subsidy application's household "
                        "status is verified from relief's record")

    def monthly_runs(self, case_id: str) -> None:
        """Two monthly runs by Yinchuan's finance office through the shared payment run: 低保 is paid
        from the month after the decision (民发〔2021〕57号), each run repeated adds nothing."""
        from services.common.payments.due import month_of, next_month
        from tongban.payments.v1 import payment_service_pb2_grpc as pay_grpc

        payments = pay_grpc.PaymentServiceStub(self.demo.open_channel("640000", "relief"))
        first = next_month(month_of(self.demo.today()))
        for month in (first, next_month(first)):
            self.demo.move_to_month(month)
            run, again, roll = self.demo.pay_month(payments, YINCHUAN_FINANCE, month)
            ours = [line for line in roll if line.case_id == case_id]
            self.demo.check(bool(ours) and again.added == 0,
                            f"{month} 低保 payment run in Yinchuan: the household is paid "
                            f"{sum(line.amount_fen for line in ours) / 100:.2f} 元 ({run.batch.line_count} line(s) in "
                            "the batch); run again: nothing new; sent, confirmed")

    def _son_marries(self, case_id: str, son: Person) -> None:
        bride = Person("王静", _citizen(self.demo, "510802", 1999, male=False))
        married = self.demo.settled(GUANGYUAN, self.demo.call(GUANGYUAN, "RegisterMarriage",
                                                              register_request(son, bride)).case)
        self.demo.require(married.state == "registered", f"李强 marries 王静 in Guangyuan 广元 ({married.case_id})")
        reviewed = self.demo.poll("the household review", lambda: [
            h for h in self.case(YINCHUAN_TOWNSHIP, case_id).history if h.type.endswith("HouseholdReviewTriggered")],
            lambda triggered: bool(triggered))
        self.demo.check(len(reviewed) == 1, "relief in Yinchuan saw a member's marriage in Sichuan: the household's "
                                            "review is triggered (the household changed)")

    def _traveller(self, traveller: str) -> None:
        from tongban.relief.v1 import relief_service_pb2 as api

        today = as_date_now(self.demo)
        applied = self.call(GUANGYUAN_TOWNSHIP, "ApplyForAssistance", api.ApplyForAssistanceRequest(
            citizen_id=traveller, name="赵伟", emergency_place="510802", cause="traffic_accident",
            emergency_on={"year": today.year, "month": today.month, "day": today.day}, kind="urgent",
            hukou_region="610302", request_id=_id(self.demo)))
        paid = self.call(GUANGYUAN_TOWNSHIP, "PayUrgently", api.PayUrgentlyRequest(
            case_id=applied.case_id, amount_fen=80_000, request_id=_id(self.demo)))
        open_case = self.case(GUANGYUAN_TOWNSHIP, applied.case_id).summary
        self.demo.check(paid.state == "urgent_paid" and open_case.due_on.year > 0,
                        f"Guangyuan helps him at once (先行救助, 800.00 元 from the township's reserve) though his "
                        f"户籍 is in Shaanxi; the case stays open for proof until {as_date(open_case.due_on)}")
        proved = self.call(GUANGYUAN_TOWNSHIP, "CompleteProof", api.CompleteProofRequest(
            case_id=applied.case_id, documents="医院诊断证明; 交警事故认定书", request_id=_id(self.demo)))
        self.demo.check(proved.state == "proof_completed", "the paperwork is completed afterwards: the case is "
                                                           "documented")

    # -- helpers ------------------------------------------------------------------------------------

    def _answered(self, answer: Any) -> bool:
        import grpc

        try:
            self.call(BAOJI_TOWNSHIP, "AnswerEconomicCheck", answer)
        except grpc.RpcError as refused:
            if refused.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):  # type: ignore[attr-defined]
                return False  # not arrived, or not taken on yet
            raise
        return True

    def _opinion(self, case_id: str) -> bool:
        import grpc

        from services.common.grpc_context import error_details
        from tongban.relief.v1 import relief_service_pb2 as api

        try:
            self.call(YINCHUAN_TOWNSHIP, "RecordHomeVisit", api.RecordHomeVisitRequest(
                case_id=case_id, first_visitor="李明", second_visitor="张华", request_id=f"{case_id}-visit"))
            self.call(YINCHUAN_TOWNSHIP, "GiveTownshipOpinion", api.GiveTownshipOpinionRequest(
                case_id=case_id, recommends=True, request_id=f"{case_id}-opinion"))
        except grpc.RpcError as refused:
            if error_details(refused).rule in ("EconomicChecksAnswered", "RegistryAnswersFirst"):
                return False
            raise
        return True

    def _decided(self, case_id: str) -> str | None:
        import grpc

        from services.common.grpc_context import error_details
        from tongban.relief.v1 import relief_service_pb2 as api

        try:
            return str(self.call(YINCHUAN_TOWNSHIP, "DecideDibao", api.DecideDibaoRequest(
                case_id=case_id, approve=True, request_id=f"{case_id}-decision")).state)
        except grpc.RpcError as refused:
            if error_details(refused).rule == "RegistryAnswersFirst":
                return None
            raise

    def _move_clock_past(self, last_day: date) -> None:
        """Every service on the data directory reads the same offset file: all regions move."""
        from zoneinfo import ZoneInfo

        from services.common.clock_control import advance, read_offset

        runs_out = datetime.combine(last_day + timedelta(days=1), datetime.min.time(),
                                    tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
        now = datetime.now(UTC) + read_offset(self.demo.data_dir)
        jump = max(timedelta(0), runs_out + timedelta(minutes=5) - now)
        advance(self.demo.data_dir, jump)
        self.demo.note(f"moving every region's clock forward {jump.days} days, past the public notice ...")


def as_date_now(demo: DemoHarness) -> date:
    """Today in China on the stack's controlled clock."""
    from zoneinfo import ZoneInfo

    from services.common.clock_control import read_offset

    return (datetime.now(UTC) + read_offset(demo.data_dir)).astimezone(ZoneInfo("Asia/Shanghai")).date()


def _citizen(demo: DemoHarness, address: str, year: int, *, male: bool) -> str:
    from services.common.identity.citizen_id import make_citizen_id

    return make_citizen_id(address, date(year, 5, 1) + timedelta(days=demo.rng.randrange(300)),
                           demo.rng.randrange(0, 499) * 2 + (1 if male else 0))


def _id(demo: DemoHarness) -> str:
    return f"demo-{demo.rng.getrandbits(64):016x}"


def play_relief_story(demo: DemoHarness, number: int) -> None:
    ReliefStory(demo).play(number)
