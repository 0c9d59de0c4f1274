"""`tongban demo`: realistic cross-region marriage cases, driven through the gRPC front doors only.

Three regions — Ningxia (640000, a window in Yinchuan), Sichuan (510000, Guangyuan) and Shaanxi
(610000, Xi'an) — each run the marriage service with its own store; the per-person registry decides
across them. The demo plays the clerks:

1. the same man registers in Yinchuan and in Guangyuan at the same moment, with two different
   brides: exactly one marriage is registered, the other is refused naming where he is held
   (民法典 第1042条, one live marriage per person);
2. a couple married in Yinchuan divorces there: the application starts the 30-day cooling-off
   (第1077条), an early certificate request is refused, the demo moves every region's clock past
   the cooling-off, both ask for the certificate within the window and the divorce is registered;
3. the former wife marries again in Xi'an once the registry has released her;
4. certificates are reissued: in Xi'an her new marriage certificate; in Xi'an too, asked for her
   divorce certificate (a Yinchuan record: any office in the country reissues, 国务院令第804号),
   Ningxia's archive answers through a hand-off and Xi'an issues a registration record certificate
   instead, since the registry shows her married again in Shaanxi; and a court in Sichuan asks
   about the man of (1);
5. a man not yet 22 asks to marry in Guangyuan: the refusal (不予登记, 民法典 第1047条) is recorded
   as a case with its reasons.

Each outcome is checked (✓/✗). The demo ends with cases per region, events per store,
`tongban audit verify` over the data directory, and the elapsed time; it exits 1 if any outcome
is wrong. With no stack running on the data directory it starts one itself (the `up` supervisor,
in this process) on a fresh directory, and stops it at the end: the directory then holds a
realistic multi-region dataset for auditors."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from services import catalogue
from services.stack.config import StackConfig
from services.stack.demo_harness import DEMO_REGIONS
from services.stack.demo_marriage import OFFICES, Demo
from services.stack.probes import port_free
from services.stack.stackfile import StackInfo, running_stack, supervisor_running
from services.stack.up import Stack, StackError

MARKER = "demo.json"
EXIT_OK = 0
EXIT_WRONG = 1
EXIT_USAGE = 2


def prepare_fresh_dir(data_dir: Path, out: Callable[[str], None]) -> str | None:
    """Make `data_dir` ready for a demo's own stack; a message saying why not, or None."""
    if supervisor_running(data_dir):
        return f"a stack is starting on {data_dir}: run the demo again once `tongban up` printed its endpoints"
    if not data_dir.exists() or not any(data_dir.iterdir()):
        data_dir.mkdir(parents=True, exist_ok=True)
    elif (data_dir / MARKER).is_file():
        out(f"clearing the previous demo's data in {data_dir}")
        for entry in data_dir.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    else:
        return (f"{data_dir} is not empty and holds no previous demo (no {MARKER}); the demo starts its stack on a "
                f"fresh directory. Give another --data, or start `tongban up --data {data_dir}` and run the demo "
                "against it")
    (data_dir / MARKER).write_text(json.dumps({"created_by": "tongban demo",
                                               "created_at": datetime.now(UTC).isoformat(timespec="seconds")}) + "\n")
    return None


def audit(data_dir: Path) -> tuple[bool, list[tuple[str, int, int, bool]], str]:
    """`tongban audit verify --data DIR`: (intact, [(store, events, streams, ok)], report text)."""
    try:
        from services.common.audit.datadir import discover_stores, regions_under
        from services.common.audit.verify import KeyPolicy, audit_verify, format_report
    except ImportError:  # the audit tool is not in this checkout: every store's own chains then
        return _verify_each_store(data_dir)
    report = audit_verify(discover_stores(data_dir), keys=KeyPolicy(data_dir),
                          complete_regions=regions_under(data_dir))
    out, err = format_report(report)
    rows = [(v.ref.label, v.events, v.streams, v.ok) for v in report.stores]
    return report.ok, rows, "\n".join(t for t in (out, err) if t)


def _verify_each_store(data_dir: Path) -> tuple[bool, list[tuple[str, int, int, bool]], str]:
    from services.common.store import EventStore, sqlite_url, verify_store

    rows = []
    texts = []
    for path in sorted(data_dir.glob("[0-9]*/*.db")):
        store = EventStore.open(sqlite_url(path), region=path.parent.name, service=path.stem, create=False)
        try:
            report = verify_store(store)
        finally:
            store.close()
        label = f"{path.parent.name}/{path.stem}"
        rows.append((label, report.events_checked, report.streams, report.ok))
        texts.append(f"{label}: {'intact' if report.ok else f'BROKEN at {report.problem}'}")
    return all(r[3] for r in rows), rows, "\n".join(texts)


# -- the command ---------------------------------------------------------------------------------


WEB_PORT = 8080  # the console's usual port; a free one when it is taken

def run_demo(data_dir: Path, *, kafka: str | None = None, topic_prefix: str = "",
             out: Callable[[str], None] | None = None, keep: bool = False) -> int:
    """The whole demo; returns the exit code. `keep`: the demo's own stack, with its web console,
    stays up afterwards (supervised, as `tongban up` runs it) until Ctrl-C or SIGTERM."""
    from services.common.telemetry import setup_tracing

    say = out or (lambda line: print(line, flush=True))
    started = time.monotonic()
    data_dir = Path(data_dir)
    info = running_stack(data_dir)
    stack: Stack | None = None
    previous = signal.getsignal(signal.SIGTERM)
    on_main = threading.current_thread() is threading.main_thread()
    if on_main:
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops the demo like Ctrl-C
    try:
        if info is None:
            problem = prepare_fresh_dir(data_dir, say)
            if problem:
                print(f"tongban demo: {problem}", file=sys.stderr, flush=True)
                return EXIT_USAGE
            say(f"tongban demo: starting a stack on {data_dir} (regions {', '.join(DEMO_REGIONS)})")
            web_port = (WEB_PORT if port_free(WEB_PORT) else 0) if keep else None
            stack = Stack(StackConfig(data_dir, regions=DEMO_REGIONS, services=catalogue.names(), kafka=kafka,
                                      topic_prefix=topic_prefix, scheduler_interval=0.5, web_port=web_port),
                          out=say)
            try:
                info = stack.start()
            except StackError as exc:
                print(f"tongban demo: the stack did not start: {exc}", file=sys.stderr, flush=True)
                return EXIT_WRONG
            say(f"  stack ready in {time.monotonic() - started:.1f}s: "
                + ", ".join(f"{e.region} {e.address}" for e in info.endpoints))
        else:
            problem = _unsuitable(info)
            if problem:
                print(f"tongban demo: {problem}", file=sys.stderr, flush=True)
                return EXIT_USAGE
            say(f"tongban demo: using the stack running on {data_dir} (supervisor pid {info.supervisor_pid})")
        setup_tracing("tongban-demo")
        demo = Demo(info, say)
        demo.run()
        counts = demo.case_counts()  # through the front doors, before an own stack stops
    except BaseException:
        if stack is not None and keep:
            stack.stop()  # nothing to keep serving after a failed or interrupted demo
        raise
    finally:
        if stack is not None and not keep:
            say("")
            say("stopping the demo's stack ...")
            stack.stop()
        if on_main:
            signal.signal(signal.SIGTERM, previous)
    intact, stores, report = audit(data_dir)
    print_summary(say, demo, counts, stores, intact, report, time.monotonic() - started)
    wrong = [text for ok, text in demo.results if not ok]
    code = EXIT_OK if intact and not wrong and demo.results else EXIT_WRONG
    if stack is not None and keep:
        serve_until_stopped(stack, say)
    return code


def serve_until_stopped(stack: Stack, say: Callable[[str], None]) -> None:
    """Keep the demo's stack and its web console up, supervised, until Ctrl-C or SIGTERM."""
    from services.stack.supervisor import Supervisor

    info = stack.info
    assert info is not None
    say("")
    say(f"the stack keeps running with the demo's cases. Web console: {info.web_url}")
    say("  sign in as region 640000, office 640104-MRO-01, any clerk id (婚姻登记员), or as 审计员 to audit;")
    say(f"  the window CLI: tongban window marriage list --data {info.data_dir} (after tongban login). "
        "Ctrl-C stops it.")
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        Supervisor(stack, stack.config.restart, say).run(stop)
    finally:
        say("stopping the demo's stack ...")
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _unsuitable(info: StackInfo) -> str | None:
    missing = [r for r in DEMO_REGIONS if (r, "marriage") not in {(e.region, e.service) for e in info.endpoints}]
    if missing:
        return (f"the stack on {info.data_dir} runs no marriage service for {', '.join(missing)}; the demo needs "
                f"{', '.join(DEMO_REGIONS)} (tongban up --regions {','.join(DEMO_REGIONS)})")
    if info.clock != "controlled":
        return f"the stack on {info.data_dir} runs on the {info.clock} clock; the demo moves time (--clock controlled)"
    return None


def print_summary(say: Callable[[str], None], demo: Demo, counts: dict[str, Counter[str]],
                  stores: list[tuple[str, int, int, bool]], intact: bool, report: str, elapsed: float) -> None:
    from services.common.identity.regions import REGION_NAMES

    say("")
    say("Summary")
    say("  cases at the demo's offices, by region:")
    for office in OFFICES:
        tally = counts.get(office.region, Counter())
        text = ", ".join(f"{n} {kind}" for kind, n in sorted(tally.items())) or "none"
        say(f"    {office.region} {REGION_NAMES.get(office.region, '')} ({office.office_code}): {text}")
    say("  events per store (tongban audit verify):")
    for label, events, streams, ok in stores:
        say(f"    {label:<18} {events:>5} events in {streams:>3} streams  {'intact' if ok else 'BROKEN'}")
    say(f"  audit verify: {'intact' if intact else 'FINDINGS'}")
    if not intact:
        for line in report.splitlines():
            say(f"    {line}")
    good = sum(1 for ok, _ in demo.results if ok)
    bad = len(demo.results) - good
    say(f"  outcomes: {good} ✓, {bad} ✗")
    say(f"  data left in {demo.data_dir} (try: tongban audit verify --data {demo.data_dir})")
    say(f"elapsed {elapsed:.1f}s")
    say("demo " + ("passed" if intact and not bad and demo.results else "FAILED"))
