"""`tongban marriage ...`: operator commands of the marriage service. `add_commands(sub)` adds
them to the project CLI's subparsers (services/cli.py, through the catalogue); nothing heavy is
imported until a command runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_commands(sub: Any) -> None:
    marriage = sub.add_parser(
        "marriage", help="marriage registration: read models and cases",
        description="Operator commands of one region's marriage registration service.")
    actions = marriage.add_subparsers(dest="marriage_command", metavar="ACTION", required=True)

    rebuild = actions.add_parser(
        "rebuild", help="rebuild the case list and person-status tables from the log",
        description="Recreate the marriage read models (marriage_cases, marriage_person_status) from the "
                    "store's event log, in one transaction during which appends wait. Safe at any time: the "
                    "tables are derived data.",
        epilog="example: tongban marriage rebuild --db data/640000/marriage.db --region 640000")
    rebuild.add_argument("--db", required=True, help="an SQLite file path or a SQLAlchemy URL")
    rebuild.add_argument("--region", required=True, help="GB/T 2260 code of the store's region, e.g. 640000")
    rebuild.set_defaults(func=cmd_rebuild)

    case = actions.add_parser(
        "case", help="show a case with its full history (gRPC GetCase), as JSON",
        description="Ask a running marriage service for one case: its state, details and every event with "
                    "its provenance. The call presents the clerk's signed token (--token-file, TONGBAN_TOKEN, "
                    "or the token `tongban login` saved for --clerk-id under --data).",
        epilog="example: tongban marriage case 127.0.0.1:50051 marriage-640000-0123456789abcdef "
               "--clerk-id c-07 --region 640000 --data data")
    case.add_argument("address", help="host:port of the marriage service's gRPC server")
    case.add_argument("case_id")
    case.add_argument("--token-file", type=Path, help="the clerk's signed token")
    case.add_argument("--clerk-id", help="the clerk who signed in with `tongban login`")
    case.add_argument("--region", help="the clerk's region")
    case.add_argument("--data", type=Path, default=Path("data"), help="where `tongban login` saved the token")
    case.add_argument("--role", help="act in this one of the token's roles")
    case.add_argument("--timeout", type=float, default=10.0)
    case.set_defaults(func=cmd_case)


def cmd_rebuild(args: argparse.Namespace) -> int:
    from services.common.store import EventStore, sqlite_url
    from services.marriage import bootstrap
    from services.marriage.projections.read_models import rebuild

    url = args.db if "://" in args.db else sqlite_url(args.db)
    store = EventStore.open(url, region=args.region, service=bootstrap.SERVICE, tables=bootstrap.TABLES)
    try:
        cases, persons = rebuild(store)
    finally:
        store.close()
    print(f"rebuilt {cases} cases and {persons} person statuses from the log")
    return 0


def cmd_case(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf import json_format

    from services.common.grpc_context import error_details, token_metadata
    from services.common.trust.signin import NoToken, find_token
    from tongban.marriage.v1 import marriage_service_pb2 as api
    from tongban.marriage.v1 import marriage_service_pb2_grpc as api_grpc

    try:
        token = find_token(token_file=args.token_file, data_dir=args.data, region=args.region, clerk_id=args.clerk_id)
    except NoToken as problem:
        print(f"tongban marriage case: {problem}", file=sys.stderr)
        return 2
    with grpc.insecure_channel(args.address) as channel:
        try:
            case = api_grpc.MarriageServiceStub(channel).GetCase(
                api.GetCaseRequest(case_id=args.case_id), metadata=token_metadata(token, role=args.role),
                timeout=args.timeout).case
        except grpc.RpcError as error:
            print(json.dumps(error_details(error).as_dict(), ensure_ascii=False, indent=2), file=sys.stderr)
            return 1
    print(json_format.MessageToJson(case, preserving_proto_field_name=True, ensure_ascii=False))
    return 0
