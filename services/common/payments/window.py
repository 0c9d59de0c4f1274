"""`tongban window <service> payments ...`: the monthly payment run at the county finance office's
desk, for every service that pays (disability, relief). One set of commands over the shared
tongban.payments.v1.PaymentService; each paying service adds it to its window actions:

    add_payment_commands(actions, "disability")       # in its entrypoints/window.py

Commands that record send a request id (invariant 9): a new one per invocation, or the one given
with --request-id to retry an action whose answer was lost. Pay as `--role finance`; read as
finance, approver or auditor."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path
from typing import Any

from services.stack.window import Formatter, UsageError, call, common_options

REQUEST_ID_HELP = ("retry an action whose answer you did not get with the request id printed then: if the first "
                   "call was recorded nothing is recorded twice (default: a new id)")


def _stub(channel: Any) -> Any:
    from tongban.payments.v1 import payment_service_pb2_grpc as api_grpc

    return api_grpc.PaymentServiceStub(channel)


def _api() -> Any:
    from tongban.payments.v1 import payment_service_pb2 as api

    return api


def add_payment_commands(actions: Any, service: str) -> argparse.ArgumentParser:
    """Add `payments` and its actions to one service's window actions."""
    example = f"tongban window {service} payments"
    payments = actions.add_parser(
        "payments", help="按月发放: run a month's payments, send the batch, record the bank's answers, export the roll",
        description="The region's monthly payment run (services/common/payments): run a month (twice is safe: nobody\n"
                    "is paid twice), send its batch to the bank once, confirm or return lines as the bank answers\n"
                    "(a returned line is re-queued by the next month's run unless stopped), read the roll, a\n"
                    "person's history, and export a batch as CSV with masked accounts. Pay as --role finance.",
        formatter_class=Formatter)
    steps = payments.add_subparsers(dest="payments_action", metavar="ACTION", required=True)
    common = common_options()
    once = argparse.ArgumentParser(add_help=False)
    once.add_argument("--request-id", metavar="ID", help=REQUEST_ID_HELP)

    def step(name: str, help_: str, usage: str, *, records: bool = True) -> argparse.ArgumentParser:
        return steps.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {example} {usage}",
                                parents=[common, once] if records else [common], formatter_class=Formatter)

    run = step("run", "pay a month: every line owed and not paid yet, in one batch",
               "run --month 2027-01 --role finance")
    run.add_argument("--month", required=True, help="YYYY-MM")
    run.set_defaults(handler=_run)
    send = step("send", "the month's batch goes to the bank (once)", "send 2027-01 --role finance")
    send.add_argument("batch", metavar="MONTH_OR_BATCH_ID")
    send.set_defaults(handler=_send)
    confirm = step("confirm", "the bank paid these lines (or every line still with it: --all)",
                   "confirm 2027-01 --all --role finance")
    confirm.add_argument("batch", metavar="MONTH_OR_BATCH_ID")
    confirm.add_argument("line_ids", metavar="LINE_ID", nargs="*", help="<entitlement_id>@<YYYY-MM>")
    confirm.add_argument("--all", action="store_true", help="every line of the batch the bank still holds")
    confirm.set_defaults(handler=_confirm)
    for name, help_, method in (("return", "the bank returned a line: re-queued next month unless stopped",
                                 "ReturnLine"),
                                ("stop", "a returned line is not paid again", "StopLine")):
        settle = step(name, help_, f"{name} disability-640000-…/living@2027-01 --reason 账户已销户 --role finance")
        settle.add_argument("line_id", metavar="LINE_ID")
        settle.add_argument("--reason", required=True)
        settle.set_defaults(handler=_settle, method=method)
    batch = step("batch", "a month's batch: counts and totals (--lines: its roll)", "batch 2027-01 --lines",
                 records=False)
    batch.add_argument("batch", metavar="MONTH_OR_BATCH_ID")
    batch.add_argument("--lines", action="store_true", help="the lines too (the first 1000)")
    batch.set_defaults(handler=_batch)
    listed = step("list", "the region's monthly roll: every batch, with counts and totals", "list", records=False)
    listed.add_argument("--month", default="", help="only this month, YYYY-MM")
    listed.set_defaults(handler=_list)
    history = step("history", "a person's payments, month by month", "history 640104197005060012", records=False)
    history.add_argument("citizen_id", metavar="CITIZEN_ID")
    history.set_defaults(handler=_history)
    export = step("export", "a batch's roll as CSV (accounts masked) to a file (- : standard output)",
                  "export 2027-01 --out roll-2027-01.csv", records=False)
    export.add_argument("batch", metavar="MONTH_OR_BATCH_ID")
    export.add_argument("--out", required=True, help="the CSV file, or - for standard output")
    export.set_defaults(handler=_export)
    payments.set_defaults(stub=_stub, show=format_answer)
    return payments


# -- the calls ------------------------------------------------------------------------------------


def _request_id(args: argparse.Namespace) -> str:
    args.request_id = (args.request_id or "").strip() or str(uuid.uuid4())
    return str(args.request_id)


def _run(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    request = _api().RunMonthRequest(month=args.month, request_id=_request_id(args))
    return call(stub, "RunMonth", request, metadata, args)


def _send(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    request = _api().SendBatchRequest(batch_id=args.batch, request_id=_request_id(args))
    return call(stub, "SendBatch", request, metadata, args)


def _confirm(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    api = _api()
    line_ids = list(args.line_ids)
    if args.all == bool(line_ids):
        raise UsageError("name the lines the bank paid, or give --all (not both)")
    if args.all:
        roll = call(stub, "GetBatch", api.GetBatchRequest(batch_id=args.batch, with_lines=True), metadata, args)
        line_ids = [line.line.line_id for line in roll.lines if line.status == "sent"]
    request = api.ConfirmLinesRequest(batch_id=args.batch, line_ids=line_ids, request_id=_request_id(args))
    return call(stub, "ConfirmLines", request, metadata, args)


def _settle(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    request = getattr(_api(), f"{args.method}Request")(line_id=args.line_id, reason=args.reason,
                                                       request_id=_request_id(args))
    return call(stub, args.method, request, metadata, args)


def _batch(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    return call(stub, "GetBatch", _api().GetBatchRequest(batch_id=args.batch, with_lines=args.lines), metadata, args)


def _list(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    return call(stub, "ListBatches", _api().ListBatchesRequest(month=args.month), metadata, args)


def _history(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    return call(stub, "PersonHistory", _api().PersonHistoryRequest(citizen_id=args.citizen_id), metadata, args)


def _export(stub: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    answer = call(stub, "ExportBatch", _api().ExportBatchRequest(batch_id=args.batch), metadata, args)
    if args.out == "-":
        sys.stdout.write(answer.csv.decode("utf-8"))
    else:
        Path(args.out).write_bytes(answer.csv)
    return answer


# -- what the desk reads --------------------------------------------------------------------------


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d} 元"


def format_batch(b: Any) -> str:
    text = f"{b.batch_id}  {b.state.upper()}  {b.line_count} lines, {_yuan(b.total_fen)}"
    settled = [f"{label} {count} ({_yuan(fen)})" for label, count, fen in (
        ("confirmed", b.confirmed_count, b.confirmed_fen), ("returned", b.returned_count, b.returned_fen),
        ("stopped", b.stopped_count, b.stopped_fen)) if count]
    return text + (f"; {', '.join(settled)}" if settled else "")


def format_line(row: Any) -> str:
    line = row.line
    requeued = f"  re-queued from {line.requeued_from}" if line.requeued_from else ""
    reason = f"  ({row.reason})" if row.reason else ""
    return (f"  {line.line_id}  {line.name}  {line.benefit}  {line.month}  {_yuan(line.amount_fen)}  "
            f"{line.bank_account}  {row.status}{reason}{requeued}")


def format_answer(answer: Any, *, history: bool = False) -> str:
    name = answer.DESCRIPTOR.name
    if name == "RunMonthResponse":
        return f"{format_batch(answer.batch)}\n  this run added {answer.added} line(s), skipped {answer.skipped}"
    if name == "ListBatchesResponse":
        return "\n".join(format_batch(b) for b in answer.batches) or "no payment batches"
    if name == "PersonHistoryResponse":
        return "\n".join(f"{format_line(row)}  in {row.batch_id}" for row in answer.lines) or "no payments"
    if name == "ExportBatchResponse":
        return f"exported {answer.lines} line(s), {_yuan(answer.total_fen)}"
    lines = [format_batch(answer.batch)]
    lines += [format_line(row) for row in getattr(answer, "lines", [])]
    return "\n".join(lines)
