"""`tongban window disability ...`: the disability two-subsidies service at a clerk's window.

Each action is one call to tongban.disability.v1.DisabilityService, made by the window's frame
(services/stack/window.py) as the clerk named there. Every action that records something sends a
request id (architecture invariant 9): a new one per invocation, or the one given with
--request-id to retry an action whose answer was lost."""

from __future__ import annotations

import argparse
import uuid
from datetime import datetime
from typing import Any

from services.common.payments.window import add_payment_commands
from services.stack.window import Formatter, UsageError, call, common_options, day, region_name

STAGES = ("township_review", "certificate_check", "approval")
HOUSEHOLDS = ("dibao", "low_income", "none")
SUBSIDIES = ("living", "nursing")
STOP_REASONS = ("death", "moved_out", "false_materials", "failed_review", "left_dibao", "own_request",
                "tekun_support", "work_injury_nursing")
FINDINGS = ("death", "hukou_move", "tekun_enrolment", "work_injury_allowance", "dibao_ended")
REQUEST_ID_HELP = ("retry an action whose answer you did not get with the request id printed then: if the first "
                   "call was recorded you get its case and nothing is recorded twice (default: a new id)")


def _stub(channel: Any) -> Any:
    from tongban.disability.v1 import disability_service_pb2_grpc as api_grpc

    return api_grpc.DisabilityServiceStub(channel)


def _api() -> Any:
    from tongban.disability.v1 import disability_service_pb2 as api

    return api


def _request_id(args: argparse.Namespace) -> str:
    args.request_id = (args.request_id or "").strip() or str(uuid.uuid4())
    return str(args.request_id)


def _date(value: str, flag: str) -> dict[str, int]:
    try:
        parsed = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise UsageError(f"{flag} {value!r}: give a date as YYYY-MM-DD") from None
    return {"year": parsed.year, "month": parsed.month, "day": parsed.day}


def add_window_commands(services: Any) -> None:
    """Add `disability` and its actions to the `tongban window` service subparsers."""
    disability = services.add_parser(
        "disability", help="残疾人两项补贴: the living and nursing subsidies",
        description="困难残疾人生活补贴 and 重度残疾人护理补贴 (国发〔2015〕52号) at your office: receive an\n"
                    "application, carry it through township review, the county 残联's certificate check and the\n"
                    "county's approval (or refuse it with reasons), stop, resume, renew, and see your work.",
        formatter_class=Formatter)
    actions = disability.add_subparsers(dest="window_action", metavar="ACTION", required=True)
    common = common_options()
    once = argparse.ArgumentParser(add_help=False)
    once.add_argument("--request-id", metavar="ID", help=REQUEST_ID_HELP)

    def action(name: str, help_: str, example: str, *, records: bool = True) -> argparse.ArgumentParser:
        return actions.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {example}",
                                  parents=[common, once] if records else [common], formatter_class=Formatter)

    apply = action("apply", "受理: receive an application for one or both subsidies",
                   "tongban window disability apply 640104197005060012 马小红 640104 64010419700506001241 "
                   "--valid-until 2030-06-30 --household dibao --account 6222021234567890123 --living --nursing")
    apply.add_argument("citizen_id", metavar="CITIZEN_ID")
    apply.add_argument("name", metavar="NAME")
    apply.add_argument("hukou_region", metavar="HUKOU_REGION", help="GB/T 2260 code of the applicant's 户籍 place")
    apply.add_argument("certificate", metavar="CERTIFICATE_NUMBER", help="the 20-character 残疾人证 number")
    apply.add_argument("--valid-until", required=True, help="the certificate's validity, YYYY-MM-DD")
    apply.add_argument("--household", required=True, choices=HOUSEHOLDS, help="the household's declared status")
    apply.add_argument("--account", required=True, help="the bank account the subsidy is paid to")
    apply.add_argument("--living", action="store_true", help="apply for the living subsidy")
    apply.add_argument("--nursing", action="store_true", help="apply for the nursing subsidy")
    apply.add_argument("--care-months", type=int, default=12, help="how long the care need lasts (default 12)")
    apply.add_argument("--tekun", action="store_true", help="the person is in 特困 support")
    apply.add_argument("--work-injury-nursing", action="store_true", help="receives the 工伤 nursing allowance")
    apply.add_argument("--orphan", action="store_true", help="an orphan or de-facto-unsupported child")
    apply.add_argument("--similar-subsidy-fen", type=int, default=0, help="a similar subsidy's monthly amount")
    apply.set_defaults(handler=_apply, refused=_refused)

    for name, help_, method in (("township-pass", "乡镇审核 passed: on to the county 残联", "CompleteTownshipReview"),
                                ("confirm-certificate", "县级残联 confirms certificate and grade: on to approval",
                                 "ConfirmCertificate"),
                                ("forward", "异地代收代办: forward to the 户籍 region (within 3 working days)",
                                 "ForwardApplication"),
                                ("inform", "the applicant was told the 户籍 region's result", "InformApplicant")):
        step = action(name, help_, f"tongban window disability {name} disability-640000-… --note 核实无误")
        step.add_argument("case_id", metavar="CASE_ID")
        step.add_argument("--note", default="")
        step.set_defaults(handler=_step, method=method)

    approve = action("approve", "县级民政 审定: approve with the household's confirmed status",
                     "tongban window disability approve disability-640000-… --household dibao")
    approve.add_argument("case_id", metavar="CASE_ID")
    approve.add_argument("--household", required=True, choices=HOUSEHOLDS)
    approve.set_defaults(handler=_approve, refused=_refused)

    refuse = action("refuse", "refuse the application at its stage, with reasons",
                    "tongban window disability refuse disability-640000-… township_review --reason 不在本地居住")
    refuse.add_argument("case_id", metavar="CASE_ID")
    refuse.add_argument("stage", choices=STAGES)
    refuse.add_argument("--reason", required=True)
    refuse.set_defaults(handler=_refuse)

    stop = action("stop", "stop a subsidy from the month after the event",
                  "tongban window disability stop disability-640000-… nursing death --on 2026-06-30")
    stop.add_argument("case_id", metavar="CASE_ID")
    stop.add_argument("subsidy", choices=SUBSIDIES)
    stop.add_argument("reason", choices=STOP_REASONS)
    stop.add_argument("--on", required=True, help="the day of the event, YYYY-MM-DD")
    stop.add_argument("--note", default="")
    stop.set_defaults(handler=_stop)

    resume = action("resume", "a stop found wrong on review: resume, with back-pay",
                    "tongban window disability resume disability-640000-… nursing --reason 误报")
    resume.add_argument("case_id", metavar="CASE_ID")
    resume.add_argument("subsidy", choices=SUBSIDIES)
    resume.add_argument("--reason", required=True)
    resume.set_defaults(handler=_resume)

    renew = action("renew", "a renewed certificate: payment resumes from the month of issue",
                   "tongban window disability renew disability-640000-… 64010419700506001241 "
                   "--issued 2031-06-03 --valid-until 2041-06-02")
    renew.add_argument("case_id", metavar="CASE_ID")
    renew.add_argument("certificate", metavar="CERTIFICATE_NUMBER")
    renew.add_argument("--issued", required=True)
    renew.add_argument("--valid-until", required=True)
    renew.set_defaults(handler=_renew)

    match = action("match", "数据比对: another department's finding acts on the person's applications",
                   "tongban window disability match death 640104197005060012 --on 2026-06-30 "
                   "--source '公安 死亡登记 2026-0042'")
    match.add_argument("kind", choices=FINDINGS)
    match.add_argument("citizen_id", metavar="CITIZEN_ID")
    match.add_argument("--on", required=True, help="the day of the death, move, enrolment, allowance (YYYY-MM-DD)")
    match.add_argument("--source", required=True, help="the department and its record")
    match.add_argument("--moved-to", default="", help="for hukou_move: the new 户籍 region")
    match.set_defaults(handler=_match)

    show = action("show", "an application with its entitlements", "tongban window disability show disability-640000-…",
                  records=False)
    show.add_argument("case_id", metavar="CASE_ID")
    show.set_defaults(handler=_show)

    work = action("work", "your office's (or county's) open applications, due first",
                  "tongban window disability work --of-office 640104 --overdue", records=False)
    work.add_argument("--of-office", default="", metavar="OFFICE", help="an office code or a division's code")
    work.add_argument("--stage", default="", choices=("", *STAGES))
    work.add_argument("--overdue", action="store_true", help="only the overdue ones")
    work.set_defaults(handler=_work)
    add_payment_commands(actions, "disability")  # 按月发放: the shared payment run's desk
    disability.set_defaults(window_service="disability", stub=_stub, show=format_answer)


def _refused(answer: Any) -> bool:
    return getattr(answer, "state", "") == "refused"


# -- the calls ------------------------------------------------------------------------------------


def _apply(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    api = _api()
    request = api.ReceiveApplicationRequest(
        applicant=api.ApplicantInput(citizen_id=args.citizen_id.strip(), name=args.name,
                                     hukou_region=args.hukou_region.strip()),
        certificate_number=args.certificate.strip(), certificate_valid_until=_date(args.valid_until, "--valid-until"),
        household=args.household, bank_account=args.account, living=args.living, nursing=args.nursing,
        circumstances=api.CircumstancesInput(
            in_tekun_support=args.tekun, work_injury_nursing_allowance=args.work_injury_nursing,
            orphan_or_unsupported_child=args.orphan, similar_subsidy_fen=args.similar_subsidy_fen,
            long_term_care_months=args.care_months),
        request_id=_request_id(args))
    return call(stub, "ReceiveApplication", request, metadata, args).case


def _step(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    api = _api()
    message = getattr(api, f"{args.method}Request")(case_id=args.case_id, note=args.note, request_id=_request_id(args))
    return call(stub, args.method, message, metadata, args).case


def _approve(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    request = _api().ApproveApplicationRequest(case_id=args.case_id, household=args.household,
                                               request_id=_request_id(args))
    return call(stub, "ApproveApplication", request, metadata, args).case


def _refuse(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    request = _api().RefuseApplicationRequest(case_id=args.case_id, stage=args.stage, reason=args.reason,
                                              request_id=_request_id(args))
    return call(stub, "RefuseApplication", request, metadata, args).case


def _stop(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    request = _api().StopEntitlementRequest(case_id=args.case_id, subsidy=args.subsidy, reason=args.reason,
                                            effective_on=_date(args.on, "--on"), note=args.note,
                                            request_id=_request_id(args))
    return call(stub, "StopEntitlement", request, metadata, args).case


def _resume(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    request = _api().ResumeEntitlementRequest(case_id=args.case_id, subsidy=args.subsidy, reason=args.reason,
                                              request_id=_request_id(args))
    return call(stub, "ResumeEntitlement", request, metadata, args).case


def _renew(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    request = _api().RenewCertificateRequest(
        case_id=args.case_id, certificate_number=args.certificate.strip(), issued_on=_date(args.issued, "--issued"),
        valid_until=_date(args.valid_until, "--valid-until"), request_id=_request_id(args))
    return call(stub, "RenewCertificate", request, metadata, args).case


def _match(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    request = _api().RecordDataMatchRequest(kind=args.kind, citizen_id=args.citizen_id.strip(),
                                            effective_on=_date(args.on, "--on"), source=args.source,
                                            new_hukou_region=args.moved_to, request_id=_request_id(args))
    return call(stub, "RecordDataMatch", request, metadata, args)


def _show(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    return call(stub, "GetCase", _api().GetCaseRequest(case_id=args.case_id), metadata, args).case


def _work(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    request = _api().ListWorkRequest(office_code=args.of_office, stage=args.stage, overdue_only=args.overdue)
    return call(stub, "ListWork", request, metadata, args)


# -- what the clerk reads -------------------------------------------------------------------------


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d} 元"


def format_answer(answer: Any, *, history: bool = False) -> str:
    if answer.DESCRIPTOR.name == "RecordDataMatchResponse":
        return f"{answer.match_id}: acted on {len(answer.affected_case_ids)} application(s)" + "".join(
            f"\n  {case_id}" for case_id in answer.affected_case_ids)
    if answer.DESCRIPTOR.name == "ListWorkResponse":
        if not answer.items:
            return "no open applications"
        return "\n".join(f"{i.case_id}  {i.stage:<18} due {day(i.due_on)}{'  OVERDUE' if i.overdue else ''}  "
                         f"{i.applicant_name}  ({i.office_code})" for i in answer.items)
    lines = [f"{answer.case_id}  {answer.state.upper()}  (version {answer.version})",
             f"  {answer.applicant_name}, 户籍 {answer.hukou_region} {region_name(answer.hukou_region)}; "
             f"received at {answer.office_code}; account {answer.bank_account_masked}"]
    if answer.stage:
        lines.append(f"  at {answer.stage}, due {day(answer.stage_due_on)}{'  OVERDUE' if answer.overdue else ''}")
    for e in answer.entitlements:
        stopped = f", stopped from {e.stop_month} ({e.stop_reason})" if e.stop_month else ""
        lines.append(f"  {e.subsidy}: {_yuan(e.amount_fen)} a month from {e.start_month}{stopped}; "
                     f"certificate covers until {e.covered_until}")
    lines += [f"  refused {r}" for r in answer.refusals]
    if answer.forwarded_to:
        lines.append(f"  forwarded to region {answer.forwarded_to} {region_name(answer.forwarded_to)}")
    if answer.received_from:
        lines.append(f"  received by a window of region {answer.received_from} {region_name(answer.received_from)}")
    if answer.hukou_region_result:
        lines.append(f"  result: {answer.hukou_region_result}")
    if answer.informed_on.year:
        lines.append(f"  applicant informed on {day(answer.informed_on)}")
    return "\n".join(lines)
