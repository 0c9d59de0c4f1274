"""`tongban window marriage ...`: the marriage service's actions at a clerk's window.

Each action is one call to tongban.marriage.v1.MarriageService, made by the window's frame
(services/stack/window.py) as the clerk named there; the answer is printed by window_text.py.
Every action that records something sends a request id (architecture invariant 9): a new one per
invocation, or the one given with --request-id to retry an action whose answer was lost."""

from __future__ import annotations

import argparse
import hashlib
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from services.stack.window import Formatter, UsageError, call, common_options

# The marriage service's named work queues (the server checks the name; listed here for --help).
QUEUES = ("awaiting_registry", "cooling_off", "awaiting_certificate_request", "awaiting_divorce_registration",
          "awaiting_dissolution")
AS_IN_THE_AGREEMENT = "见所附离婚协议书"  # an arrangement the attached agreement states
DECLARATIONS = ("consents", "no_spouse", "no_prohibited_kinship", "appears_in_person")
REQUEST_ID_HELP = (
    "retry an action whose answer you did not get (a timeout, a dropped connection) with the request id "
    "printed then: if the first call was recorded you get its case and nothing is recorded twice. "
    "Default: a new id (a new action). Never reuse an id for another action: it is refused")


def _command_options() -> argparse.ArgumentParser:
    """The parent parser of the actions that record something: --request-id."""
    once = argparse.ArgumentParser(add_help=False)
    once.add_argument("--request-id", metavar="ID", help=REQUEST_ID_HELP)
    return once


def _request_id(args: argparse.Namespace) -> str:
    """The action's request id: the one given, or a new UUID; kept on `args` so the frame can
    print it when the answer is lost."""
    args.request_id = (args.request_id or "").strip() or str(uuid.uuid4())
    return str(args.request_id)


def _stub(channel: Any) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2_grpc as api_grpc

    return api_grpc.MarriageServiceStub(channel)


def _text(answer: Any, *, history: bool = False) -> str:
    from services.marriage.entrypoints.window_text import format_answer

    return format_answer(answer, history=history)


def _refused(answer: Any) -> bool:
    """A case the service refused and recorded (不予登记): the window exits 1."""
    return getattr(answer, "state", "") == "refused"


def add_window_commands(services: Any) -> None:
    """Add `marriage` and its actions to the `tongban window` service subparsers."""
    marriage = services.add_parser(
        "marriage", help="marriage registration, divorce, reissue, status queries",
        description="婚姻登记 at your office: register a marriage, receive and carry a divorce by agreement, "
                    "reissue a certificate, answer a status query, record a court judgment, look at cases.",
        formatter_class=Formatter)
    actions = marriage.add_subparsers(dest="window_action", metavar="ACTION", required=True)
    common = common_options()
    command = [common, _command_options()]

    def action(name: str, help_: str, description: str, example: str, *, records: bool = True
               ) -> argparse.ArgumentParser:
        return actions.add_parser(name, help=help_, description=description, epilog=f"example:\n  {example}",
                                  parents=command if records else [common], formatter_class=Formatter)

    register = action(
        "register", "结婚登记: register a marriage (both parties present)",
        "Record the application with both parties' declarations, and ask the national registry whether\n"
        "either is held by another marriage. The answer usually comes within seconds: the case is then\n"
        "'registered' with its certificate number, or 'refused' naming the rule and where the person is\n"
        "held. If it takes longer, the case is shown as 'awaiting_registry': look again with `case show`.",
        "tongban window marriage register 640104199503140015 王磊 640104199708020025 李娜 --region 640000")
    register.add_argument("party_a", metavar="A_CITIZEN_ID", help="first party's 18-character citizen ID")
    register.add_argument("name_a", metavar="A_NAME", help="first party's name as on the ID card")
    register.add_argument("party_b", metavar="B_CITIZEN_ID", help="second party's citizen ID")
    register.add_argument("name_b", metavar="B_NAME", help="second party's name")
    register.add_argument("--not-declared", action="append", default=[], choices=DECLARATIONS, metavar="WHAT",
                          help="a declaration a party did not make (repeatable): " + ", ".join(DECLARATIONS)
                               + "; the registration is then refused")
    for side in ("a", "b"):
        register.add_argument(f"--{side}-status", choices=("unmarried", "divorced", "widowed"), default="",
                              help=f"the status party {side.upper()} declares; where the national record differs, "
                                   f"give --{side}-proof (婚姻登记工作规范 2025)")
        register.add_argument(f"--{side}-proof", metavar="KIND:NUMBER:ISSUED_BY", default="",
                              help="the document proving it (divorce_certificate, court_judgment or death_record), "
                                   "recorded on the case")
    register.add_argument("--wait", type=float, default=30.0,
                          help="seconds to wait for the registry's answer (default 30, at most 60)")
    register.set_defaults(handler=_register, refused=_refused)  # exit 1 when the case is refused

    divorce = actions.add_parser(
        "divorce", help="离婚登记: receive, withdraw, request the certificate, register",
        description="Divorce by agreement (民法典 第1076-1078条): receive the application (the 30-day cooling-off\n"
                    "starts), a withdrawal during the cooling-off, the certificate request by both within the\n"
                    "following 30 days, and the registration.", formatter_class=Formatter)
    steps = divorce.add_subparsers(dest="divorce_step", metavar="STEP", required=True)

    def step(name: str, help_: str, description: str, example: str) -> argparse.ArgumentParser:
        return steps.add_parser(name, help=help_, description=description, epilog=f"example:\n  {example}",
                                parents=command, formatter_class=Formatter)

    receive = step(
        "receive", "受理: receive a divorce application; the cooling-off starts",
        "Receive both spouses' application with their written agreement. Both must appear in person.\n"
        "The agreement settles children, property and debts (民法典 第1076条): give each with --children,\n"
        "--property and --debts, or give the signed agreement itself with --agreement-file (its SHA-256\n"
        "is recorded, and an arrangement not given reads 见所附离婚协议书: as in the attached agreement).\n"
        "The answer shows the last day of the cooling-off and of the certificate window.\n"
        "A marriage another region records (its code is in the case id) is received here all the same\n"
        "(国务院令第804号: any office): the cooling-off, withdrawal and certificate request happen at this\n"
        "office; that region checks the spouses against its record and, at registration, dissolves the\n"
        "marriage. `case show` says where the record is and what happens next.",
        "tongban window marriage divorce receive marriage-640000-… 640104199503140015 王磊 "
        "640104199708020025 李娜 --children 无子女 --property 各自名下财产归各自所有 --debts 无共同债务")
    receive.add_argument("marriage_case", metavar="MARRIAGE_CASE", help="the marriage's case id")
    receive.add_argument("spouse_a", metavar="A_CITIZEN_ID")
    receive.add_argument("name_a", metavar="A_NAME")
    receive.add_argument("spouse_b", metavar="B_CITIZEN_ID")
    receive.add_argument("name_b", metavar="B_NAME")
    receive.add_argument("--intention", default="双方自愿离婚", help="the agreement's intention (default 双方自愿离婚)")
    # The agreement must settle children, property and debts (第1076条): each given here, or in
    # the agreement's own file.
    receive.add_argument("--children", help="agreed arrangement for children, e.g. 无子女")
    receive.add_argument("--property", help="agreed division of property")
    receive.add_argument("--debts", help="agreed handling of debts, e.g. 无共同债务")
    receive.add_argument("--agreement-file", type=Path, metavar="FILE",
                         help="the signed agreement (a scan or a text); its SHA-256 is recorded")
    receive.add_argument("--document-sha256", default="", help="fingerprint of the scanned agreement")
    receive.add_argument("--not-signed", action="store_true", help="the agreement is not signed by both")
    receive.add_argument("--not-in-person", action="store_true", help="a spouse did not appear in person")
    receive.set_defaults(handler=_receive_divorce)

    withdraw = step(
        "withdraw", "撤回: a spouse withdraws during the cooling-off",
        "Either spouse may withdraw during the cooling-off, at the office that received the application.",
        "tongban window marriage divorce withdraw divorce-640000-… 640104199503140015 --reason 和好")
    withdraw.add_argument("divorce_case", metavar="DIVORCE_CASE")
    withdraw.add_argument("citizen_id", metavar="CITIZEN_ID", help="the withdrawing spouse")
    withdraw.add_argument("--reason", default="", help="why (recorded)")
    withdraw.set_defaults(handler=_withdraw_divorce)

    request = step(
        "request-certificate", "申请发证: both spouses ask for the divorce certificate",
        "After the cooling-off and within the next 30 days, both spouses ask in person for the certificate.\n"
        "Too early is refused with the rule CoolingOffPeriod.",
        "tongban window marriage divorce request-certificate divorce-640000-…")
    request.add_argument("divorce_case", metavar="DIVORCE_CASE")
    request.add_argument("--not-in-person", action="store_true", help="a spouse did not appear in person")
    request.set_defaults(handler=_request_certificate)

    register_divorce = step(
        "register", "登记: register the divorce and issue the certificate",
        "After review: the divorce is registered, the certificate number issued, the marriage dissolved, and\n"
        "both persons released in the national registry.",
        "tongban window marriage divorce register divorce-640000-…")
    register_divorce.add_argument("divorce_case", metavar="DIVORCE_CASE")
    register_divorce.set_defaults(handler=_register_divorce)

    reissue = action(
        "reissue", "补领: reissue a marriage or divorce certificate",
        "Issue the certificate again, or a registration record certificate when the status it certifies\n"
        "has changed since (a divorce, a judgment, a later marriage anywhere in the country).",
        "tongban window marriage reissue marriage-640000-… 640104199708020025 --reason 遗失")
    reissue.add_argument("record_case", metavar="RECORD_CASE", help="the marriage or divorce case")
    reissue.add_argument("applicant", metavar="CITIZEN_ID", help="the applicant (a party of the record)")
    reissue.add_argument("--reason", default="遗失", help="why the applicant asks (default 遗失, lost)")
    reissue.set_defaults(handler=_reissue)

    status = action(
        "status", "婚姻状况查询: answer an authorised status query",
        "The person's marital status as this region's records and the national registry show it. Only\n"
        "some roles may ask (registrar, court, public_security, auditor); the query itself is recorded\n"
        "with who asked and why.",
        "tongban window marriage status 640104199708020025 --reason 重婚案件审理 --requesting-body 人民法院 "
        "--role court")
    status.add_argument("citizen_id", metavar="CITIZEN_ID")
    status.add_argument("--reason", required=True, help="why the status is asked (recorded)")
    status.add_argument("--requesting-body", required=True, help="who asks, e.g. 宁夏回族自治区高级人民法院")
    status.set_defaults(handler=_status)

    judgment = action(
        "judgment", "record a court judgment voiding or annulling a marriage",
        "Record a court's judgment that a marriage is void (民法典 第1051条) or annulled (第1052-1053条).\n"
        "Both persons are released; a divorce still open ends.",
        "tongban window marriage judgment marriage-640000-… --void --court 银川市兴庆区人民法院 "
        "--number '(2026)宁0104民初88号' --date 2026-03-01 --ground 重婚")
    judgment.add_argument("marriage_case", metavar="MARRIAGE_CASE")
    kind = judgment.add_mutually_exclusive_group(required=True)
    kind.add_argument("--void", dest="judgment", action="store_const", const="void", help="婚姻无效")
    kind.add_argument("--annulled", dest="judgment", action="store_const", const="annulled", help="撤销婚姻")
    judgment.add_argument("--court", required=True)
    judgment.add_argument("--number", required=True, help="the judgment's number")
    judgment.add_argument("--date", required=True, help="the judgment's date, YYYY-MM-DD")
    judgment.add_argument("--ground", default="", help="the ground given")
    judgment.set_defaults(handler=_judgment)

    case = actions.add_parser("case", help="look at a case", description="Look at one case of your region.",
                              formatter_class=Formatter)
    case_actions = case.add_subparsers(dest="case_action", metavar="WHAT", required=True)
    show = case_actions.add_parser(
        "show", help="a case with its details (and history)", parents=[common], formatter_class=Formatter,
        description="Show a case of your region: its state and details; --history adds every recorded event\n"
                    "with who did it and when.",
        epilog="example:\n  tongban window marriage case show marriage-640000-… --history")
    show.add_argument("case_id", metavar="CASE_ID")
    show.add_argument("--history", action="store_true", help="list every event of the case")
    show.add_argument("--reason", default="", help="why you read it: needed for another office's case (recorded)")
    show.set_defaults(handler=_show)

    listing = action(
        "list", "your office's cases, or one work queue",
        "List your office's cases (newest first), optionally of one type and state, or one work queue:\n"
        f"{', '.join(QUEUES)}.",
        "tongban window marriage list --queue awaiting_certificate_request", records=False)
    _listing_options(listing, queue=True)
    listing.set_defaults(handler=_list)

    queue = action(
        "queue", "one work queue of your office",
        f"The cases waiting in one work queue of your office: {', '.join(QUEUES)}.",
        "tongban window marriage queue cooling_off", records=False)
    queue.add_argument("queue", metavar="QUEUE", choices=QUEUES, help=", ".join(QUEUES))
    _listing_options(queue, queue=False)
    queue.set_defaults(handler=_list)
    marriage.set_defaults(window_service="marriage", stub=_stub, show=_text)


def _listing_options(parser: argparse.ArgumentParser, *, queue: bool) -> None:
    if queue:
        parser.add_argument("--queue", choices=QUEUES, default="", help="a named work queue")
        parser.add_argument("--type", dest="case_type", default="",
                            choices=["marriage", "divorce", "reissue", "status_query"], help="only this type")
        parser.add_argument("--state", default="", help="only this state, e.g. registered")
    else:
        parser.set_defaults(case_type="", state="")
    parser.add_argument("--of-office", default="", metavar="OFFICE", help="another office's list (default: yours)")
    parser.add_argument("--reason", default="", help="why you read another office's list (recorded)")
    parser.add_argument("--page-size", type=int, default=50, help="cases per page (default 50, at most 500)")
    parser.add_argument("--page-token", default="", help="the next page, as printed under the list")


# -- the calls ------------------------------------------------------------------------------------


def _declaration(not_declared: list[str]) -> dict[str, bool]:
    return {name: name not in not_declared for name in DECLARATIONS}


def _register(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    declaration = _declaration(args.not_declared)
    request = api.RegisterMarriageRequest(
        party_a=api.PartyInput(citizen_id=args.party_a.strip(), name=args.name_a, declaration=declaration,
                               declared_status=args.a_status, proof=_proof(args.a_proof)),
        party_b=api.PartyInput(citizen_id=args.party_b.strip(), name=args.name_b, declaration=declaration,
                               declared_status=args.b_status, proof=_proof(args.b_proof)),
        wait_seconds=args.wait, request_id=_request_id(args))
    return call(stub, "RegisterMarriage", request, metadata, args).case


def _proof(given: str) -> Any:
    """KIND:NUMBER:ISSUED_BY as a ProofDocument (None when not given; the service checks each part)."""
    from tongban.marriage.v1 import events_pb2

    if not given:
        return None
    kind, _, rest = given.partition(":")
    number, _, issued_by = rest.partition(":")
    return events_pb2.ProofDocument(kind=kind.strip(), number=number.strip(), issued_by=issued_by.strip())


def _receive_divorce(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import events_pb2
    from tongban.marriage.v1 import marriage_service_pb2 as api

    fingerprint, as_attached = args.document_sha256, ""
    if args.agreement_file is not None:
        try:
            fingerprint = hashlib.sha256(args.agreement_file.read_bytes()).hexdigest()
        except OSError as problem:
            raise UsageError(f"--agreement-file {args.agreement_file}: {problem.strerror or problem}") from None
        as_attached = AS_IN_THE_AGREEMENT
    missing = [f"--{flag}" for flag in ("children", "property", "debts") if getattr(args, flag) is None]
    if missing and not as_attached:
        raise UsageError(f"the agreement must settle children, property and debts (民法典 第1076条): give "
                         f"{', '.join(missing)}, or the signed agreement with --agreement-file")
    agreement = events_pb2.DivorceAgreement(
        signed_by_both=not args.not_signed, intention=args.intention,
        children_arrangement=args.children or as_attached, property_arrangement=args.property or as_attached,
        debt_arrangement=args.debts or as_attached, document_sha256=fingerprint)
    request = api.ReceiveDivorceRequest(
        marriage_case_id=args.marriage_case, agreement=agreement, both_appear_in_person=not args.not_in_person,
        spouse_a=events_pb2.Spouse(citizen_id=args.spouse_a.strip(), name=args.name_a),
        spouse_b=events_pb2.Spouse(citizen_id=args.spouse_b.strip(), name=args.name_b), request_id=_request_id(args))
    return call(stub, "ReceiveDivorce", request, metadata, args).case


def _withdraw_divorce(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    request = api.WithdrawDivorceRequest(divorce_case_id=args.divorce_case, citizen_id=args.citizen_id.strip(),
                                         reason=args.reason, request_id=_request_id(args))
    return call(stub, "WithdrawDivorce", request, metadata, args).case


def _request_certificate(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    request = api.RequestDivorceCertificateRequest(divorce_case_id=args.divorce_case,
                                                   both_appear_in_person=not args.not_in_person,
                                                   request_id=_request_id(args))
    return call(stub, "RequestDivorceCertificate", request, metadata, args).case


def _register_divorce(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    request = api.RegisterDivorceRequest(divorce_case_id=args.divorce_case, request_id=_request_id(args))
    case = call(stub, "RegisterDivorce", request, metadata, args).case
    # A marriage another region records: that region dissolves it by machine, usually within a
    # second or two; show the registered divorce if it comes back within ten, else the case as it is.
    deadline = time.monotonic() + 10.0
    while case.state == "awaiting_dissolution" and time.monotonic() < deadline:
        time.sleep(0.5)
        case = call(stub, "GetCase", api.GetCaseRequest(case_id=case.case_id), metadata, args).case
    return case


def _reissue(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    request = api.ReissueCertificateRequest(record_case_id=args.record_case,
                                            applicant_citizen_id=args.applicant.strip(), reason=args.reason,
                                            request_id=_request_id(args))
    return call(stub, "ReissueCertificate", request, metadata, args).case


def _status(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    request = api.QueryMaritalStatusRequest(citizen_id=args.citizen_id.strip(), reason=args.reason,
                                            requesting_body=args.requesting_body, request_id=_request_id(args))
    return call(stub, "QueryMaritalStatus", request, metadata, args).case


def _judgment(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    try:
        day = datetime.strptime(args.date, "%Y-%m-%d").date()
    except ValueError:
        raise UsageError(f"--date {args.date!r}: give the judgment's date as YYYY-MM-DD") from None
    request = api.RecordCourtJudgmentRequest(
        marriage_case_id=args.marriage_case,
        judgment=api.JUDGMENT_VOID if args.judgment == "void" else api.JUDGMENT_ANNULLED,
        court=args.court, judgment_number=args.number, ground=args.ground,
        judgment_date={"year": day.year, "month": day.month, "day": day.day}, request_id=_request_id(args))
    return call(stub, "RecordCourtJudgment", request, metadata, args).case


def _show(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    return call(stub, "GetCase", api.GetCaseRequest(case_id=args.case_id, reason=args.reason), metadata,
                args).case


def _list(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    request = api.ListCasesRequest(office_code=args.of_office, case_type=args.case_type, state=args.state,
                                   queue=args.queue, page_size=args.page_size, page_token=args.page_token,
                                   reason=args.reason)
    return call(stub, "ListCases", request, metadata, args)


