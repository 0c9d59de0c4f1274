"""`tongban window marriage ...`: a clerk's window on the command line, against a running stack.

Every action is one call to the region's gRPC front door (tongban.marriage.v1.MarriageService),
made as the clerk named by --clerk/--office/--role (or TONGBAN_CLERK, TONGBAN_OFFICE, TONGBAN_ROLE)
at the region given by --region (or TONGBAN_REGION). The endpoint comes from the stack file that
`tongban up` writes (DIR/stack.json, --data or TONGBAN_DATA), or from --address.

Output is the case as a window sees it; --json prints the protobuf message as JSON instead.
Refusals are decoded from the call's rich status: the rule and article that were broken, each
bad field, the region that owns a case. Exit codes: 0 done, 1 refused by the service, 2 the call
could not be made (bad arguments, no stack, service unreachable)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

CLERK_ENV = "TONGBAN_CLERK"
OFFICE_ENV = "TONGBAN_OFFICE"
ROLE_ENV = "TONGBAN_ROLE"
REGION_ENV = "TONGBAN_REGION"
DATA_ENV = "TONGBAN_DATA"
CHINA = timezone(timedelta(hours=8))
# The marriage service's named work queues (the server checks the name; listed here for --help).
QUEUES = ("awaiting_registry", "cooling_off", "awaiting_certificate_request", "awaiting_divorce_registration")
DECLARATIONS = ("consents", "no_spouse", "no_prohibited_kinship", "appears_in_person")

WINDOW_DESCRIPTION = """\
A clerk's window on a running stack (`tongban up`). Each action calls the region's marriage
service once, as the clerk you name, and prints the case as the window sees it. Identify yourself
once per shell:

  export TONGBAN_DATA=data TONGBAN_REGION=640000 TONGBAN_CLERK=c-07 TONGBAN_OFFICE=640104-MRO-01

or give --data/--region/--clerk/--office on each command. Exit codes: 0 done, 1 refused (the rule
or field is printed), 2 the call could not be made."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks."""


class UsageError(Exception):
    """Something the clerk must fix before a call can be made."""


# -- the parser ---------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    env = os.environ
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_argument_group("where and who")
    where.add_argument("--region", default=env.get(REGION_ENV),
                       help=f"your region, GB/T 2260 code, e.g. 640000 (env {REGION_ENV})")
    where.add_argument("--data", type=Path, default=Path(env.get(DATA_ENV, "data")),
                       help=f"data directory of the running stack, to find the endpoint (env {DATA_ENV}, "
                            "default ./data)")
    where.add_argument("--address", metavar="HOST:PORT", help="call this gRPC endpoint instead of the stack's")
    where.add_argument("--clerk", default=env.get(CLERK_ENV), help=f"your clerk id (env {CLERK_ENV})")
    where.add_argument("--office", default=env.get(OFFICE_ENV),
                       help=f"your office code, e.g. 640104-MRO-01 (env {OFFICE_ENV})")
    where.add_argument("--role", default=env.get(ROLE_ENV, "registrar"),
                       help=f"your role: registrar, court, public_security, auditor, ... (env {ROLE_ENV}, "
                            "default registrar)")
    where.add_argument("--json", action="store_true", help="print the answer as JSON")
    where.add_argument("--timeout", type=float, default=70.0, help="seconds to wait for the answer (default 70)")
    return common


def add_window_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `window` and its actions to a `tongban` subparsers object; returns the `window` parser."""
    window = subparsers.add_parser("window", help="a clerk's window: do marriage cases by hand on a running stack",
                                   description=WINDOW_DESCRIPTION, formatter_class=_Formatter)
    services = window.add_subparsers(dest="window_service", metavar="SERVICE", required=True)
    marriage = services.add_parser(
        "marriage", help="marriage registration, divorce, reissue, status queries",
        description="婚姻登记 at your office: register a marriage, receive and carry a divorce by agreement, "
                    "reissue a certificate, answer a status query, record a court judgment, look at cases.",
        formatter_class=_Formatter)
    actions = marriage.add_subparsers(dest="window_action", metavar="ACTION", required=True)
    common = _common()

    def action(name: str, help_: str, description: str, example: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, help=help_, description=description, epilog=f"example:\n  {example}",
                                  parents=[common], formatter_class=_Formatter)

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
    register.add_argument("--wait", type=float, default=30.0,
                          help="seconds to wait for the registry's answer (default 30, at most 60)")
    register.set_defaults(handler=_register)

    divorce = actions.add_parser(
        "divorce", help="离婚登记: receive, withdraw, request the certificate, register",
        description="Divorce by agreement (民法典 第1076-1078条): receive the application (the 30-day cooling-off\n"
                    "starts), a withdrawal during the cooling-off, the certificate request by both within the\n"
                    "following 30 days, and the registration.", formatter_class=_Formatter)
    steps = divorce.add_subparsers(dest="divorce_step", metavar="STEP", required=True)

    def step(name: str, help_: str, description: str, example: str) -> argparse.ArgumentParser:
        return steps.add_parser(name, help=help_, description=description, epilog=f"example:\n  {example}",
                                parents=[common], formatter_class=_Formatter)

    receive = step(
        "receive", "受理: receive a divorce application; the cooling-off starts",
        "Receive both spouses' application with their written agreement. Both must appear in person.\n"
        "The answer shows the last day of the cooling-off and of the certificate window.",
        "tongban window marriage divorce receive marriage-640000-… 640104199503140015 王磊 "
        "640104199708020025 李娜 --children 无子女 --property 各自名下财产归各自所有 --debts 无共同债务")
    receive.add_argument("marriage_case", metavar="MARRIAGE_CASE", help="the marriage's case id")
    receive.add_argument("spouse_a", metavar="A_CITIZEN_ID")
    receive.add_argument("name_a", metavar="A_NAME")
    receive.add_argument("spouse_b", metavar="B_CITIZEN_ID")
    receive.add_argument("name_b", metavar="B_NAME")
    receive.add_argument("--intention", default="双方自愿离婚", help="the agreement's intention (default 双方自愿离婚)")
    # The agreement must settle children, property and debts (第1076条): asked for up front.
    receive.add_argument("--children", required=True, help="agreed arrangement for children, e.g. 无子女")
    receive.add_argument("--property", required=True, help="agreed division of property")
    receive.add_argument("--debts", required=True, help="agreed handling of debts, e.g. 无共同债务")
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
                              formatter_class=_Formatter)
    case_actions = case.add_subparsers(dest="case_action", metavar="WHAT", required=True)
    show = case_actions.add_parser(
        "show", help="a case with its details (and history)", parents=[common], formatter_class=_Formatter,
        description="Show a case of your region: its state and details; --history adds every recorded event\n"
                    "with who did it and when.",
        epilog="example:\n  tongban window marriage case show marriage-640000-… --history")
    show.add_argument("case_id", metavar="CASE_ID")
    show.add_argument("--history", action="store_true", help="list every event of the case")
    show.set_defaults(handler=_show)

    listing = action(
        "list", "your office's cases, or one work queue",
        "List your office's cases (newest first), optionally of one type and state, or one work queue:\n"
        f"{', '.join(QUEUES)}.",
        "tongban window marriage list --queue awaiting_certificate_request")
    _listing_options(listing, queue=True)
    listing.set_defaults(handler=_list)

    queue = action(
        "queue", "one work queue of your office",
        f"The cases waiting in one work queue of your office: {', '.join(QUEUES)}.",
        "tongban window marriage queue cooling_off")
    queue.add_argument("queue", metavar="QUEUE", choices=QUEUES, help=", ".join(QUEUES))
    _listing_options(queue, queue=False)
    queue.set_defaults(handler=_list)
    return window


def _listing_options(parser: argparse.ArgumentParser, *, queue: bool) -> None:
    if queue:
        parser.add_argument("--queue", choices=QUEUES, default="", help="a named work queue")
        parser.add_argument("--type", dest="case_type", default="",
                            choices=["marriage", "divorce", "reissue", "status_query"], help="only this type")
        parser.add_argument("--state", default="", help="only this state, e.g. registered")
    else:
        parser.set_defaults(case_type="", state="")
    parser.add_argument("--of-office", default="", metavar="OFFICE", help="another office's list (default: yours)")
    parser.add_argument("--page-size", type=int, default=50, help="cases per page (default 50, at most 500)")
    parser.add_argument("--page-token", default="", help="the next page, as printed under the list")


# -- running an action --------------------------------------------------------------------------


def run_window(args: argparse.Namespace) -> int:
    """The `window` command: make the call, print the answer or the refusal."""
    import grpc

    from services.common.grpc_context import error_details

    try:
        with _stub(args) as (stub, metadata):
            handler: Callable[[Any, list[tuple[str, str]], argparse.Namespace], Any] = args.handler
            answer = handler(stub, metadata, args)
    except UsageError as problem:
        print(f"tongban window: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except grpc.RpcError as error:
        details = error_details(error)
        print(format_refusal(details, args), file=sys.stderr)
        unreachable = details.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        return EXIT_USAGE if unreachable else EXIT_REFUSED
    if args.json:
        from google.protobuf import json_format

        print(json_format.MessageToJson(answer, preserving_proto_field_name=True, ensure_ascii=False))
    else:
        print(format_answer(answer, history=getattr(args, "history", False)))
    return EXIT_OK


@contextmanager
def _stub(args: argparse.Namespace) -> Iterator[tuple[Any, list[tuple[str, str]]]]:
    import grpc

    from services.common.events import Actor
    from services.common.grpc_context import actor_metadata
    from services.common.telemetry import TracingClientInterceptor, setup_tracing
    from services.stack.stackfile import StackNotRunning, require_stack
    from tongban.marriage.v1 import marriage_service_pb2_grpc as api_grpc

    if not args.region:
        raise UsageError(f"which region's window? give --region (e.g. 640000) or set {REGION_ENV}")
    missing = [f"--{name} (or {env})" for name, env, value in (("clerk", CLERK_ENV, args.clerk),
                                                               ("office", OFFICE_ENV, args.office)) if not value]
    if missing:
        raise UsageError(f"who is at the window? give {' and '.join(missing)}")
    address = args.address
    if not address:
        try:
            address = require_stack(args.data).address(args.region, "marriage")
        except StackNotRunning as problem:
            raise UsageError(str(problem)) from None
    actor = Actor(kind="clerk", clerk_id=args.clerk, office_code=args.office, region=args.region, role=args.role)
    try:
        metadata = actor_metadata(actor)
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    setup_tracing("tongban-window")  # the call's trace continues into every event it causes
    channel = grpc.intercept_channel(grpc.insecure_channel(address), TracingClientInterceptor())
    try:
        yield api_grpc.MarriageServiceStub(channel), metadata
    finally:
        channel.close()


def _call(stub: Any, method: str, request: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    return getattr(stub, method)(request, metadata=metadata, timeout=args.timeout)


def _declaration(not_declared: list[str]) -> dict[str, bool]:
    return {name: name not in not_declared for name in DECLARATIONS}


def _register(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    declaration = _declaration(args.not_declared)
    request = api.RegisterMarriageRequest(
        party_a=api.PartyInput(citizen_id=args.party_a.strip(), name=args.name_a, declaration=declaration),
        party_b=api.PartyInput(citizen_id=args.party_b.strip(), name=args.name_b, declaration=declaration),
        wait_seconds=args.wait)
    return _call(stub, "RegisterMarriage", request, metadata, args).case


def _receive_divorce(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import events_pb2
    from tongban.marriage.v1 import marriage_service_pb2 as api

    agreement = events_pb2.DivorceAgreement(
        signed_by_both=not args.not_signed, intention=args.intention, children_arrangement=args.children,
        property_arrangement=args.property, debt_arrangement=args.debts, document_sha256=args.document_sha256)
    request = api.ReceiveDivorceRequest(
        marriage_case_id=args.marriage_case, agreement=agreement, both_appear_in_person=not args.not_in_person,
        spouse_a=events_pb2.Spouse(citizen_id=args.spouse_a.strip(), name=args.name_a),
        spouse_b=events_pb2.Spouse(citizen_id=args.spouse_b.strip(), name=args.name_b))
    return _call(stub, "ReceiveDivorce", request, metadata, args).case


def _withdraw_divorce(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    request = api.WithdrawDivorceRequest(divorce_case_id=args.divorce_case, citizen_id=args.citizen_id.strip(),
                                         reason=args.reason)
    return _call(stub, "WithdrawDivorce", request, metadata, args).case


def _request_certificate(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    request = api.RequestDivorceCertificateRequest(divorce_case_id=args.divorce_case,
                                                   both_appear_in_person=not args.not_in_person)
    return _call(stub, "RequestDivorceCertificate", request, metadata, args).case


def _register_divorce(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    return _call(stub, "RegisterDivorce", api.RegisterDivorceRequest(divorce_case_id=args.divorce_case), metadata,
                 args).case


def _reissue(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    request = api.ReissueCertificateRequest(record_case_id=args.record_case,
                                            applicant_citizen_id=args.applicant.strip(), reason=args.reason)
    return _call(stub, "ReissueCertificate", request, metadata, args).case


def _status(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    request = api.QueryMaritalStatusRequest(citizen_id=args.citizen_id.strip(), reason=args.reason,
                                            requesting_body=args.requesting_body)
    return _call(stub, "QueryMaritalStatus", request, metadata, args).case


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
        judgment_date={"year": day.year, "month": day.month, "day": day.day})
    return _call(stub, "RecordCourtJudgment", request, metadata, args).case


def _show(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    return _call(stub, "GetCase", api.GetCaseRequest(case_id=args.case_id), metadata, args).case


def _list(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2 as api

    request = api.ListCasesRequest(office_code=args.of_office, case_type=args.case_type, state=args.state,
                                   queue=args.queue, page_size=args.page_size, page_token=args.page_token)
    return _call(stub, "ListCases", request, metadata, args)


# -- what the clerk reads -----------------------------------------------------------------------


def format_answer(answer: Any, *, history: bool = False) -> str:
    if answer.DESCRIPTOR.name == "ListCasesResponse":
        return format_list(answer)
    return format_case(answer, history=history)


def _date(value: Any) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}" if value.year else "-"


def _time(value: Any) -> str:
    if not value.seconds and not value.nanos:
        return "-"
    return value.ToDatetime(tzinfo=UTC).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _region_name(code: str) -> str:
    from services.common.identity.regions import REGION_NAMES

    return REGION_NAMES.get(code, "")


def format_case(case: Any, *, history: bool = False) -> str:
    lines = [f"{case.case_id}  [{case.case_type}]  {case.state.upper()}",
             f"  office {case.office_code}, region {case.region} {_region_name(case.region)}; "
             f"version {case.version}; opened {_time(case.opened_at)}, updated {_time(case.updated_at)} (China time)"]
    detail = case.WhichOneof("detail")
    if detail == "marriage":
        m = case.marriage
        for label, party in (("party A", m.party_a), ("party B", m.party_b)):
            lines.append(f"  {label}: {party.name} {party.citizen_id} ({party.sex}, born {_date(party.birth_date)})")
        lines.append(f"  applied on {_date(m.application_date)}")
        if m.certificate_number:
            lines.append(f"  结婚证 {m.certificate_number}, registered on {_date(m.registered_on)}")
        if m.refusal_rule:
            held = f" (held in region {m.holder_region} {_region_name(m.holder_region)})" if m.holder_region else ""
            lines.append(f"  refused: {m.refusal_rule}{held}: {m.refusal_reason}")
        if m.open_divorce_case_id:
            lines.append(f"  divorce in progress: {m.open_divorce_case_id}")
        if m.dissolved_by_divorce_case_id:
            lines.append(f"  dissolved by divorce {m.dissolved_by_divorce_case_id} on {_date(m.dissolved_on)}")
        if m.HasField("judgment"):
            j = m.judgment
            lines.append(f"  judgment: {j.judgment} by {j.court}, {j.judgment_number} of {_date(j.judgment_date)}"
                         + (f", ground {j.ground}" if j.ground else ""))
    elif detail == "divorce":
        d = case.divorce
        lines.append(f"  marriage {d.marriage_case_id}")
        lines.append(f"  spouses: {d.spouse_a.name} {d.spouse_a.citizen_id}; {d.spouse_b.name} {d.spouse_b.citizen_id}")
        lines.append(f"  received {_date(d.received_on)}; cooling-off until {_date(d.cooling_off_last_day)}; "
                     f"certificate to be requested by {_date(d.window_last_day)}"
                     + (" (provisional: beyond the published holiday calendar)" if d.provisional_calendar else ""))
        if d.certificate_number:
            lines.append(f"  离婚证 {d.certificate_number}, registered on {_date(d.registered_on)}")
        if d.withdrawn_by:
            lines.append(f"  withdrawn by {d.withdrawn_by}")
        if d.closing_reason:
            lines.append(f"  closed: {d.closing_reason}")
    elif detail == "reissue":
        r = case.reissue.issued
        lines.append(f"  for {r.applicant_citizen_id}, record {r.record_case_id} (asked: {r.requested_document}, "
                     f"reason {r.reason or '-'})")
        lines.append(f"  issued {r.issued_document} {r.certificate_number} on {_date(r.issued_on)} "
                     f"(original {r.original_certificate_number})")
        if r.status_change:
            lines.append(f"  because {r.status_change}")
    elif detail == "status_query":
        a = case.status_query.answer
        source = a.source_region or case.region
        lines.append(f"  {a.citizen_id}: {a.status.upper()}"
                     + (f" since {_date(a.since)}" if a.since.year else "")
                     + (f", record {a.marriage_case_id}" if a.marriage_case_id else "")
                     + f" (source: region {source} {_region_name(source)})")
        lines.append(f"  asked by {a.requesting_body or '-'} for: {a.reason}")
    if history:
        lines.append("  history:")
        for h in case.history:
            actor = h.actor
            system = actor.kind == actor.KIND_SYSTEM
            who = f"system ({actor.clerk_id or actor.role})" if system else f"{actor.clerk_id}@{actor.office_code}"
            lines.append(f"    v{h.version:<3} {_time(h.recorded_at)}  {h.type.rsplit('.', 1)[-1]:<32} {who}")
    return "\n".join(lines)


def format_list(page: Any) -> str:
    if not page.cases:
        return "no cases"
    lines = [f"{'case':<44}{'type':<14}{'state':<30}{'due':<12}parties"]
    for c in page.cases:
        lines.append(f"{c.case_id:<44}{c.case_type:<14}{c.state:<30}{_date(c.due_on):<12}{', '.join(c.party_names)}")
    if page.next_page_token:
        lines.append(f"more: --page-token {page.next_page_token}")
    return "\n".join(lines)


def format_refusal(details: Any, args: argparse.Namespace | None = None) -> str:
    """A refusal as a clerk reads it: what was refused and why, each bad field, the rule, the owner."""
    import grpc

    code = details.code
    if code == grpc.StatusCode.UNAVAILABLE:
        where = f" at {args.address}" if args is not None and args.address else ""
        return (f"cannot reach the marriage service{where}: {details.message}\n"
                "  is the stack running? (tongban up)")
    heading = {
        grpc.StatusCode.INVALID_ARGUMENT: "not accepted: the request has mistakes",
        grpc.StatusCode.FAILED_PRECONDITION: "refused",
        grpc.StatusCode.PERMISSION_DENIED: "not allowed",
        grpc.StatusCode.NOT_FOUND: "not found",
        grpc.StatusCode.ABORTED: "the case changed meanwhile: look at it again and retry",
        grpc.StatusCode.DEADLINE_EXCEEDED: "no answer in time",
    }.get(code, "failed")
    # Field violations say it all, one per line; the status message repeats them.
    lines = [f"{heading} ({code.name})" + ("" if details.field_violations else f": {details.message}")]
    for violation in details.field_violations:
        lines.append(f"  {violation.field}: {violation.description}")
    if details.rule:
        lines.append(f"  rule: {details.rule}")
    if details.owner_region:
        lines.append(f"  the case is owned by region {details.owner_region} {_region_name(details.owner_region)}")
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.ABORTED):
        lines.append("  nothing was recorded")  # architecture invariant 7
    return "\n".join(lines)
