"""`tongban window relief ...`: the relief service's actions at a clerk's window — every step of a
低保 case (民发〔2021〕57号) and of a 临时救助 case (国发〔2014〕47号), a case, the office's work
queues, and a person's household view.

Each action is one call to tongban.relief.v1.ReliefService, made by the window's frame
(services/stack/window.py) as the clerk named there. Every action that records something sends a
request id (invariant 9): a new one per invocation, or the one given with --request-id to retry."""

from __future__ import annotations

import argparse
import uuid
from datetime import datetime
from typing import Any

from services.common.payments.window import add_payment_commands
from services.stack.window import Formatter, UsageError, call, common_options

QUEUES = ("dibao_to_accept", "dibao_in_procedure", "dibao_in_notice", "dibao_to_decide", "dibao_refusals_to_notify",
          "dibao_granted", "assistance_open", "assistance_awaiting_proof", "overdue",
          "dibao_review_requested", "dibao_ended")
MEMBER_FIELDS = ("citizen_id", "name", "relation", "hukou_region", "residence_permit_region", "earned_income_fen",
                 "other_income_fen", "disability_subsidy_fen", "assets_fen")


def _request_id(args: argparse.Namespace) -> str:
    args.request_id = (args.request_id or "").strip() or str(uuid.uuid4())
    return str(args.request_id)


def _stub(channel: Any) -> Any:
    from tongban.relief.v1 import relief_service_pb2_grpc as api_grpc

    return api_grpc.ReliefServiceStub(channel)


def _member(text: str) -> dict[str, Any]:
    parts = text.split(",")
    if not 4 <= len(parts) <= len(MEMBER_FIELDS):
        raise UsageError(f"--member {text!r}: give {','.join(MEMBER_FIELDS[:4])}[,permit[,earned,other,subsidy,"
                         "assets in fen]]")
    member: dict[str, Any] = dict(zip(MEMBER_FIELDS, (p.strip() for p in parts), strict=False))
    for name in MEMBER_FIELDS[5:]:
        try:
            member[name] = int(member.get(name) or 0)
        except ValueError:
            raise UsageError(f"--member {text!r}: {name} is a whole number of fen") from None
    return member


# action name → (rpc, positional arguments, options (flag, dest, kwargs), help)
Option = tuple[str, str, dict[str, Any]]
ACTIONS: dict[str, dict[str, tuple[str, tuple[str, ...], tuple[Option, ...], str]]] = {
    "dibao": {
        "apply": ("ApplyForDibao", ("applicant_citizen_id",), (
            ("--member", "members", {"action": "append", "required": True, "type": _member,
                                     "help": "citizen_id,name,relation,hukou[,permit[,earned,other,subsidy,assets]]"}),
            ("--area", "area", {"choices": ["urban", "rural"], "default": "urban"}),
            ("--bank-account", "bank_account", {"required": True, "help": "the payee account (digits)"}),
            ("--special", "special", {"action": "store_true", "help": "a special case: 45 working days"}),
            ("--unstable-income", "unstable_income", {"action": "store_true"})),
            "申请: a household's application at your township"),
        "accept": ("AcceptDibao", ("case_id",), (), "受理: the limits start"),
        "investigate": ("StartInvestigation", ("case_id",), (), "the family economic investigation starts"),
        "visit": ("RecordHomeVisit", ("case_id", "first_visitor", "second_visitor"), (
            ("--by-county", "by_county", {"action": "store_true"}), ("--findings", "findings", {"default": ""})),
            "入户调查 by two named staff"),
        "review": ("RecordDemocraticReview", ("case_id", "outcome"), (), "民主评议 (optional)"),
        "opinion": ("GiveTownshipOpinion", ("case_id",), (
            ("--not-recommended", "not_recommended", {"action": "store_true"}),
            ("--reasons", "reasons", {"default": ""})), "乡镇审核意见"),
        "notice": ("StartPublicNotice", ("case_id",), (), "公示 for 7 days"),
        "object": ("RaiseObjection", ("case_id", "objection"), (), "record an objection during the notice"),
        "answer": ("AnswerObjection", ("case_id", "objection_id", "answer"), (), "answer an objection"),
        "decide": ("DecideDibao", ("case_id",), (
            ("--refuse", "refuse", {"action": "store_true"}), ("--reasons", "reasons", {"default": ""})),
            "县级确认: grant, or --refuse with --reasons"),
        "notify-refusal": ("NotifyRefusal", ("case_id", "reference"), (), "the written refusal was given"),
        "income": ("RecordIncomeChange", ("case_id", "citizen_id"), (
            ("--earned", "earned_income_fen", {"type": int, "default": 0}),
            ("--other", "other_income_fen", {"type": int, "default": 0})), "a member's monthly income changed"),
        "periodic-review": ("RecordReview", ("case_id", "findings"), (), "定期核查 done; the next one is scheduled"),
    },
    "check": {
        "answer": ("AnswerEconomicCheck", ("handoff_id",), (
            ("--income-fen", "monthly_income_fen", {"type": int, "default": 0}),
            ("--deposits-fen", "deposits_fen", {"type": int, "default": 0}),
            ("--vehicles", "vehicles", {"type": int, "default": 0}),
            ("--properties", "properties", {"type": int, "default": 0}),
            ("--businesses", "businesses", {"type": int, "default": 0}),
            ("--note", "note", {"default": ""})),
            "家庭经济状况核对: answer a check another region asked of yours"),
    },
    "assistance": {
        "apply": ("ApplyForAssistance", ("citizen_id", "name"), (
            ("--place", "emergency_place", {"required": True, "help": "county where the emergency happened"}),
            ("--on", "emergency_on", {"required": True, "help": "the day of the emergency, YYYY-MM-DD"}),
            ("--cause", "cause", {"required": True}), ("--kind", "kind", {"choices": ["urgent", "expenditure"],
                                                                          "default": "urgent"}),
            ("--hukou", "hukou_region", {"default": ""}), ("--permit", "residence_permit_region", {"default": ""})),
            "临时救助 where the emergency happened"),
        "pay": ("PayUrgently", ("case_id",), (("--amount-fen", "amount_fen", {"type": int, "required": True}),),
                "先行救助: pay at once"),
        "proof": ("CompleteProof", ("case_id", "documents"), (), "the paperwork completed"),
        "refer": ("ReferToRescueAgency", ("case_id", "reason"), (), "refer to the county rescue agency"),
        "decide": ("DecideAssistance", ("case_id",), (
            ("--refuse", "refuse", {"action": "store_true"}),
            ("--amount-fen", "amount_fen", {"type": int, "default": 0}),
            ("--reasons", "reasons", {"default": ""})), "grant an amount, or --refuse with --reasons"),
    },
}


# Sample values for the examples each action's help shows.
SAMPLES = {"case_id": "dibao-640000-…", "applicant_citizen_id": "640104196005010011",
           "citizen_id": "640104196005010011",
           "first_visitor": "李明", "second_visitor": "张华", "outcome": "评议通过", "objection": "邻居反映有车辆",
           "objection_id": "objection-1", "answer": "车辆已出售", "reference": "兴民低字〔2026〕3号", "name": "陈旅",
           "documents": "医院证明", "reason": "无固定住所", "handoff_id": "dibao-640000-…-check-610302…",
           "findings": "收入无变化"}
EXTRA = {"ApplyForDibao": " --member 640104196005010011,王芳,self,640104 --area urban"
                          " --bank-account 6228480012345678901",
         "ApplyForAssistance": " --place 510802 --on 2026-03-02 --cause traffic_accident --kind urgent",
         "PayUrgently": " --amount-fen 80000", "DecideAssistance": " --amount-fen 80000",
         "RecordIncomeChange": " --earned 130000", "AnswerEconomicCheck": " --income-fen 150000 --vehicles 1"}


def _example(kind: str, action: str, rpc: str, positional: tuple[str, ...]) -> str:
    words = [SAMPLES[p].replace("dibao-", f"{kind}-") if p == "case_id" else SAMPLES[p] for p in positional]
    return f"example:\n  tongban window relief {kind} {action} {' '.join(words)}{EXTRA.get(rpc, '')}"


def add_window_commands(services: Any) -> None:
    """Add `relief` and its actions to the `tongban window` service subparsers."""
    relief = services.add_parser("relief", help="最低生活保障 and 临时救助", formatter_class=Formatter,
                                 description="低保 for households (民发〔2021〕57号) and 临时救助 (国发〔2014〕47号).")
    kinds = relief.add_subparsers(dest="relief_kind", metavar="WHAT", required=True)
    common = common_options()
    once = argparse.ArgumentParser(add_help=False)
    once.add_argument("--request-id", metavar="ID", help="retry an action whose answer was lost with its id")
    for kind, actions in ACTIONS.items():
        parser = kinds.add_parser(kind, help=f"{kind} case steps", formatter_class=Formatter)
        steps = parser.add_subparsers(dest="relief_step", metavar="STEP", required=True)
        for name, (rpc, positional, options, help_) in actions.items():
            step = steps.add_parser(name, help=help_, description=help_, parents=[common, once],
                                    epilog=_example(kind, name, rpc, positional), formatter_class=Formatter)
            for arg in positional:
                step.add_argument(arg)
            for flag, dest, kwargs in options:
                step.add_argument(flag, dest=dest, **kwargs)
            step.set_defaults(handler=_command, rpc=rpc, fields=positional + tuple(o[1] for o in options))
    show = kinds.add_parser("case", help="a case with its history", parents=[common], formatter_class=Formatter,
                            epilog="example:\n  tongban window relief case dibao-640000-… --history")
    show.add_argument("case_id")
    show.add_argument("--history", action="store_true")
    show.set_defaults(handler=_show)
    queue = kinds.add_parser("queue", help="a work queue of your office", parents=[common], formatter_class=Formatter,
                             epilog="example:\n  tongban window relief queue overdue")
    queue.add_argument("queue", nargs="?", default="", choices=("", *QUEUES), metavar="QUEUE", help=", ".join(QUEUES))
    queue.add_argument("--of-office", default="", metavar="OFFICE")
    queue.set_defaults(handler=_queue)
    household = kinds.add_parser("household", help="the cases naming a person", parents=[common],
                                 formatter_class=Formatter, epilog="example:\n  tongban window relief household "
                                                                   "640104196005010011 --reason 复核")
    household.add_argument("citizen_id")
    household.add_argument("--reason", required=True, help="why you look (recorded)")
    household.set_defaults(handler=_household)
    add_payment_commands(kinds, "relief")  # 按月发放: the shared payment run's desk
    relief.set_defaults(window_service="relief", stub=_stub, show=format_answer)


def _command(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.relief.v1 import relief_service_pb2 as api

    values = {name: getattr(args, name) for name in args.fields}
    if "not_recommended" in values:
        values["recommends"] = not values.pop("not_recommended")
    if "refuse" in values:
        values["approve"] = not values.pop("refuse")
    if "emergency_on" in values:
        try:
            on = datetime.strptime(values["emergency_on"], "%Y-%m-%d").date()
        except ValueError:
            raise UsageError(f"--on {values['emergency_on']!r}: YYYY-MM-DD") from None
        values["emergency_on"] = {"year": on.year, "month": on.month, "day": on.day}
    request = getattr(api, f"{args.rpc}Request")(**values, request_id=_request_id(args))
    return call(stub, args.rpc, request, metadata, args)


def _show(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.relief.v1 import relief_service_pb2 as api

    return call(stub, "GetCase", api.GetCaseRequest(case_id=args.case_id), metadata, args).case


def _queue(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.relief.v1 import relief_service_pb2 as api

    return call(stub, "ListCases", api.ListCasesRequest(office_code=args.of_office, queue=args.queue), metadata, args)


def _household(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    from tongban.relief.v1 import relief_service_pb2 as api

    request = api.GetHouseholdRequest(citizen_id=args.citizen_id, reason=args.reason)
    return call(stub, "GetHousehold", request, metadata, args)


def format_answer(answer: Any, *, history: bool = False) -> str:
    name = answer.DESCRIPTOR.name
    if name in ("ListCasesResponse", "GetHouseholdResponse"):
        return "\n".join(_summary_line(s) for s in answer.cases) or "(no cases)"
    if name == "Case":
        lines = [_summary_line(answer.summary), f"  region {answer.region}, version {answer.version}"]
        if history:
            lines += [f"    v{h.version:<3} {h.type.rsplit('.', 1)[-1]:<32} {h.actor}  {h.payload_json}"
                      for h in answer.history]
        return "\n".join(lines)
    if name == "AnswerEconomicCheckResponse":
        return f"{answer.handoff_id}  {answer.state.upper()}"
    extra = f"  objection {answer.objection_id}" if name == "RaiseObjectionResponse" else ""
    return f"{answer.case_id}  {answer.state.upper()}{extra}"


def _summary_line(s: Any) -> str:
    due = f"  due {s.due_on.year:04d}-{s.due_on.month:02d}-{s.due_on.day:02d}" if s.HasField("due_on") else ""
    overdue = f"  OVERDUE: {', '.join(s.overdue)}" if s.overdue else ""
    amount = f"  {s.monthly_amount_fen / 100:.2f} 元" if s.monthly_amount_fen else ""
    flagged = "  [近亲属备案]" if s.relatives_flagged else ""
    return f"{s.case_id}  [{s.case_type}]  {s.state.upper()}  {s.office_code}{amount}{due}{overdue}{flagged}"
