"""`tongban serve`: one service of one region from arguments and environment.

    python -m services.host --service marriage --region 640000 --kafka 127.0.0.1:9092

The service is found in the catalogue (services/catalogue.py), or given as `--definition
module:attr` (a ServiceDefinition, or a function returning one: the tests' own services)."""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Sequence
from pathlib import Path

from services.common.log_format import LOG_LEVELS
from services.common.store import sqlite_url
from services.common.trust.national import NATIONAL_IDP_KEYS_ENV
from services.common.trust.tls import ServerTls
from services.common.trust.tokens import PUBLIC_SUFFIX, idp_keys_dir
from services.host.definition import ServiceDefinition
from services.host.host import CLOCKS, HostConfig, ServiceHost

KAFKA_ENV = "TONGBAN_KAFKA"
DATA_ENV = "TONGBAN_DATA"
REGION_ENV = "TONGBAN_REGION"
GRPC_ENV = "TONGBAN_GRPC"
CLOCK_ENV = "TONGBAN_CLOCK"
TOPIC_PREFIX_ENV = "TONGBAN_TOPIC_PREFIX"
IDP_KEYS_ENV = "TONGBAN_IDP_KEYS"


def load_definition(service: str | None, definition: str | None) -> ServiceDefinition:
    """`--definition module:attr`, else the catalogue's entry for `service`."""
    if not definition:
        from services.catalogue import entry

        assert service is not None
        return entry(service).definition()
    module_name, _, attr = definition.partition(":")
    found = getattr(importlib.import_module(module_name), attr or "definition")
    result = found() if callable(found) and not isinstance(found, ServiceDefinition) else found
    if not isinstance(result, ServiceDefinition):
        raise TypeError(f"{definition} is not a ServiceDefinition")
    if service and result.name != service:
        raise ValueError(f"{definition} defines service {result.name!r}, not {service!r}")
    return result


def build_parser() -> argparse.ArgumentParser:
    from services import catalogue

    env = os.environ
    parser = argparse.ArgumentParser(
        prog="tongban serve",
        description="Run one service of one region: gRPC front door, outbox relay, deadline scheduler and Kafka "
                    "consumers in one process. Stops cleanly on SIGTERM or Ctrl-C.",
        epilog="example: tongban serve --service marriage --region 640000 --kafka 127.0.0.1:9092")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--service", choices=catalogue.names(),
                       help="a service of the catalogue (services/catalogue.py): " + ", ".join(catalogue.names()))
    which.add_argument("--definition", metavar="MODULE:ATTR", help="load the service definition from here")
    parser.add_argument("--region", default=env.get(REGION_ENV), help=f"GB/T 2260 code (env {REGION_ENV})")
    parser.add_argument("--kafka", default=env.get(KAFKA_ENV), help=f"bootstrap servers host:port (env {KAFKA_ENV})")
    parser.add_argument("--data-dir", type=Path, default=Path(env.get(DATA_ENV, "data")),
                        help=f"SQLite stores, endpoint files, readiness markers, the clock offset (env {DATA_ENV}, "
                             "default ./data)")
    parser.add_argument("--key-directory", type=Path, default=None,
                        help="the public keys this host trusts: <speaker>*.pub files, or a data directory's "
                             "*/keys/ (default: the data directory); the region's own key is <data-dir>/<region>/keys")
    parser.add_argument("--store", help="store URL or SQLite path (default <data-dir>/<region>/<service>.db)")
    parser.add_argument("--grpc", default=env.get(GRPC_ENV, "127.0.0.1:0"),
                        help=f"gRPC listen address (env {GRPC_ENV}; default 127.0.0.1:0, a free port, printed)")
    parser.add_argument("--tracing", choices=["none", "console", "otlp", "memory"],
                        help="span exporter (default: env TONGBAN_TRACING, else none)")
    parser.add_argument("--clock", choices=CLOCKS, default=env.get(CLOCK_ENV, "system"),
                        help=f"'controlled' adds the offset in <data-dir>/clock-offset (time travel; env {CLOCK_ENV})")
    parser.add_argument("--topic-prefix", default=env.get(TOPIC_PREFIX_ENV, ""),
                        help="prefix for every topic and the consumer group (side-by-side runs on one broker)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of topics this host creates")
    parser.add_argument("--scheduler-interval", type=float, default=1.0, help="seconds between deadline passes")
    parser.add_argument("--relay-interval", type=float, default=0.2, help="seconds between idle relay polls")
    parser.add_argument("--refill-check-interval", type=float, default=30.0,
                        help="seconds between checks that the broker still holds this store's events")
    parser.add_argument("--idp-keys", type=Path, default=env.get(IDP_KEYS_ENV),
                        help="directory of the region's identity-provider public keys (*.pub.pem) that callers' "
                             f"tokens must be signed with (env {IDP_KEYS_ENV}; default <data-dir>/<region>/keys/idp)")
    parser.add_argument("--national-idp-keys", type=Path, default=env.get(NATIONAL_IDP_KEYS_ENV),
                        help="directory of the national identity provider's public keys, trusted for a national "
                             f"auditor's audit reads only (env {NATIONAL_IDP_KEYS_ENV}; default "
                             "<data-dir>/national/keys/idp; none: no national auditor)")
    tls = parser.add_argument_group("TLS", "TLS on the gRPC port (production); without --tls-cert the port is "
                                           "plaintext (development only)")
    tls.add_argument("--tls-cert", default=env.get("TONGBAN_TLS_CERT"), help="server certificate, PEM "
                     "(env TONGBAN_TLS_CERT)")
    tls.add_argument("--tls-key", default=env.get("TONGBAN_TLS_KEY"), help="its private key, PEM (env TONGBAN_TLS_KEY)")
    tls.add_argument("--tls-client-ca", default=env.get("TONGBAN_TLS_CLIENT_CA"),
                     help="mutual TLS: require client certificates signed by this CA (env TONGBAN_TLS_CLIENT_CA)")
    parser.add_argument("--loglevel", default="warning", choices=LOG_LEVELS)
    return parser


def config_from_args(args: argparse.Namespace) -> HostConfig:
    if not args.region:
        raise SystemExit(f"--region (or {REGION_ENV}) is required")
    if not args.kafka:
        raise SystemExit(f"--kafka (or {KAFKA_ENV}) is required")
    from services.common.errors import InvalidArgument
    from services.common.identity import RegionCode

    try:
        RegionCode.parse(args.region)
    except InvalidArgument as bad:
        raise SystemExit(f"--region {args.region!r}: {bad}") from None
    store = args.store
    if store and "://" not in store:
        store = sqlite_url(store)
    return HostConfig(
        region=args.region, kafka=args.kafka, data_dir=args.data_dir, store_url=store,
        key_directory=args.key_directory, grpc_address=args.grpc,
        tracing=args.tracing, topic_prefix=args.topic_prefix, clock=args.clock, partitions=args.partitions,
        relay_interval=args.relay_interval, scheduler_interval=args.scheduler_interval,
        refill_check_interval=args.refill_check_interval, loglevel=args.loglevel,
        idp_keys=Path(args.idp_keys) if args.idp_keys else None, tls=_tls(args),
        national_idp_keys=Path(args.national_idp_keys) if args.national_idp_keys else None,
    )


def _tls(args: argparse.Namespace) -> ServerTls | None:
    try:
        return ServerTls.from_options(args.tls_cert, args.tls_key, args.tls_client_ca)
    except ValueError as problem:
        raise SystemExit(str(problem)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    definition = load_definition(args.service, args.definition)
    config = config_from_args(args)
    keys = config.idp_keys or idp_keys_dir(config.data_dir, config.region)
    if not any(keys.glob(f"*{PUBLIC_SUFFIX}")):  # a host that cannot verify callers does not start
        raise SystemExit(f"no identity-provider public keys (*{PUBLIC_SUFFIX}) in {keys}: run `tongban up` "
                         "(development), or mount the region's IdP public keys there (--idp-keys)")
    return ServiceHost(definition, config).run()
