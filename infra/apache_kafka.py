"""A real single-node Apache Kafka 4.x (KRaft, broker and controller in one JVM) for tests and local runs.

Kafka is on neither PyPI nor Debian here, so its jars come from Maven Central through Maven
(``infra/kafka/pom.xml``), once, into ``${TONGBAN_CACHE:-~/.cache/tongban}/kafka-<version>/libs``. Each
start formats fresh storage in a temp dir, so every ApacheKafka starts empty, like tansu.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from infra.broker_processes import (
    BrokerStartError,
    free_ports,
    log_says_address_in_use,
    log_tail,
    spawn,
    stop_process,
    timed,
    wait_until_answers,
)

DEFAULT_KAFKA_VERSION = "4.3.1"
VERSION_ENV = "TONGBAN_KAFKA_VERSION"
CACHE_ENV = "TONGBAN_CACHE"
POM = Path(__file__).with_name("kafka") / "pom.xml"
_MARKER = "COMPLETE"
_PORT_ATTEMPTS = 3

# One node: every internal topic must accept replication factor 1 or groups and transactions never work.
# Fewer partitions for __consumer_offsets / __transaction_state than the default 50 because creating them
# happens on the first group join / first transaction and is a visible part of a test's wait on 2 cores.
_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
log.dirs={data_dir}
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
"""

# Small heap and the serial collector: the machine has 2 cores shared with the services under test, and
# a test broker holds little data. slf4j-simple (from the pom) writes to stderr, which goes to the log file.
_JVM_OPTS = [
    "-Xms128m",
    "-XX:+UseSerialGC",
    "-Djava.awt.headless=true",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
    # Per-request and state-change logging would dominate the log file without helping a diagnosis.
    "-Dorg.slf4j.simpleLogger.log.kafka.request.logger=warn",
    "-Dorg.slf4j.simpleLogger.log.state.change.logger=warn",
]


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tongban")


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise BrokerStartError("Apache Kafka needs Java 17+ ('java' not on PATH and JAVA_HOME unset)")
    return found


def _libs_complete(version_dir: Path) -> bool:
    """The marker lists the jars Maven produced; it is written last, so it proves the download finished."""
    marker = version_dir / _MARKER
    libs = version_dir / "libs"
    if not marker.is_file():
        return False
    jars = [line for line in marker.read_text().splitlines() if line.strip()]
    return bool(jars) and all((libs / jar).is_file() for jar in jars)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    # Two test sessions (or two engineers) starting at once must not both download into the same dir.
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_kafka_libs(
    version: str = DEFAULT_KAFKA_VERSION,
    cache_dir: Path | None = None,
    *,
    log_path: Path | None = None,
    timeout: float = 900.0,
) -> Path:
    """Return the directory holding every jar Kafka ``version`` needs, downloading with Maven if needed."""
    version_dir = (cache_dir or default_cache_dir()) / f"kafka-{version}"
    libs = version_dir / "libs"
    if _libs_complete(version_dir):
        return libs
    with _exclusive(version_dir / ".lock"):
        if _libs_complete(version_dir):  # another process finished while we waited for the lock
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerStartError(
                f"Apache Kafka {version} jars are not cached in {libs} and Maven ('mvn') is not on PATH"
            )
        print(
            f"tongban: downloading Apache Kafka {version} jars from Maven Central into {libs} "
            "(first run only; may take a few minutes)...",
            file=sys.stderr,
            flush=True,
        )
        # Download next to the final place and rename, so `libs` never holds a partial set of jars.
        staging = Path(tempfile.mkdtemp(prefix="libs.partial-", dir=version_dir))
        mvn_log = log_path or version_dir / "maven.log"
        try:
            with mvn_log.open("ab") as out:
                result = subprocess.run(
                    [
                        mvn,
                        "-q",
                        "-B",
                        "-f",
                        str(POM),
                        "dependency:copy-dependencies",
                        f"-Dkafka.version={version}",
                        f"-DoutputDirectory={staging}",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                )
            jars = sorted(p.name for p in staging.glob("*.jar"))
            if result.returncode != 0 or f"kafka_2.13-{version}.jar" not in jars:
                raise BrokerStartError(
                    f"Maven could not fetch Apache Kafka {version} (exit {result.returncode}); "
                    f"log {mvn_log}:\n{log_tail(mvn_log)}"
                )
            shutil.rmtree(libs, ignore_errors=True)
            staging.rename(libs)
            (version_dir / _MARKER).write_text("\n".join(jars) + "\n")
        except subprocess.TimeoutExpired as exc:
            raise BrokerStartError(
                f"Maven did not finish fetching Apache Kafka {version} within {timeout:.0f}s; "
                f"log {mvn_log}:\n{log_tail(mvn_log)}"
            ) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        print(f"tongban: Apache Kafka {version} jars cached in {libs}", file=sys.stderr, flush=True)
    return libs


def _cluster_id() -> str:
    # Kafka's Uuid text form: URL-safe base64 of 16 bytes without padding. Kafka itself never hands out
    # one starting with "-" because the CLI would read it as an option; do the same.
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class ApacheKafka:
    """Apache Kafka in KRaft combined mode on free loopback ports, as a context manager.

    ``timings`` holds the seconds spent in "download" (0 when cached), "format" and "start" (JVM launch
    until it answers a metadata request).
    """

    kind = "apache"

    def __init__(
        self,
        log_dir: Path | None = None,
        *,
        version: str | None = None,
        cache_dir: Path | None = None,
        heap: str = "512m",
        start_timeout: float = 120.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.version = version or os.environ.get(VERSION_ENV) or DEFAULT_KAFKA_VERSION
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self._cache_dir = cache_dir
        self._heap = heap
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._data_dir: Path | None = None
        self._log_path: Path | None = None
        self.timings: dict[str, float] = {}

    @property
    def bootstrap(self) -> str:
        if self._port is None:
            raise RuntimeError("ApacheKafka is not started")
        return f"127.0.0.1:{self._port}"

    @property
    def log_path(self) -> Path:
        if self._log_path is None:
            raise RuntimeError("ApacheKafka is not started")
        return self._log_path

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        if self.running:
            return self
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="tongban-kafka-"))
        self._log_dir.mkdir(parents=True, exist_ok=True)
        java = _java()
        with timed(self.timings, "download"):
            libs = ensure_kafka_libs(
                self.version, self._cache_dir, log_path=self._log_dir / f"maven-kafka-{self.version}.log"
            )
        classpath = str(libs / "*")
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._port, controller_port = free_ports(2)
            self._log_path = self._log_dir / f"kafka-{self._port}.log"
            self._data_dir = Path(tempfile.mkdtemp(prefix="tongban-kafka-data-"))
            config = self._data_dir / "server.properties"
            config.write_text(self._server_properties(self._port, controller_port, self._data_dir))
            try:
                with timed(self.timings, "format"):
                    self._format(java, classpath, config)
                with timed(self.timings, "start"):
                    args = [java, f"-Xmx{self._heap}", *_JVM_OPTS, "-cp", classpath, "kafka.Kafka", str(config)]
                    self._proc = spawn(args, self._log_path)
                    wait_until_answers(self.bootstrap, self._proc, self._log_path, self._start_timeout,
                                       "Apache Kafka", client_config=self._probe_config())
                return self
            except BrokerStartError:
                self._stop_and_clean()
                # A port taken between choosing and binding it is worth another pair of ports.
                if attempt == _PORT_ATTEMPTS or not log_says_address_in_use(self._log_path):
                    raise
            except BaseException:
                # Ctrl-C or a bug while waiting: __exit__ will not run, so do not leave a JVM behind.
                self._stop_and_clean()
                raise
        raise AssertionError("unreachable")

    def _server_properties(self, port: int, controller_port: int, data_dir: Path) -> str:
        """server.properties for one start; a secured variant (infra/secured_kafka.py) adds its listener."""
        return _SERVER_PROPERTIES.format(port=port, controller_port=controller_port, data_dir=data_dir / "logs")

    def _format_arguments(self) -> list[str]:
        """Extra StorageTool arguments (a secured broker adds its SCRAM users here, before it first starts)."""
        return []

    def _probe_config(self) -> dict[str, object]:
        """kafka-python settings the start-up probe needs to be answered (none for a PLAINTEXT broker)."""
        return {}

    def _format(self, java: str, classpath: str, config: Path) -> None:
        # --standalone writes a one-voter dynamic quorum (this node's CONTROLLER listener) into the
        # bootstrap checkpoint, which is what controller.quorum.bootstrap.servers expects.
        args = [java, "-Xmx256m", "-XX:+UseSerialGC", "-cp", classpath, "kafka.tools.StorageTool", "format"]
        args += ["--standalone", "--cluster-id", _cluster_id(), "--config", str(config), *self._format_arguments()]
        assert self._log_path is not None
        with self._log_path.open("ab") as log:
            result = subprocess.run(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, timeout=120, check=False
            )
        if result.returncode != 0:
            raise BrokerStartError(
                f"formatting Kafka storage failed (exit {result.returncode}); "
                f"log {self._log_path}:\n{log_tail(self._log_path)}"
            )

    def _stop_and_clean(self) -> None:
        stop_process(self._proc, self._stop_timeout)
        self._proc = None
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def stop(self) -> None:
        with timed(self.timings, "stop"):
            self._stop_and_clean()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"127.0.0.1:{self._port}" if self._port else "not started"
        return f"<ApacheKafka {self.version} {where} {'running' if self.running else 'stopped'}>"
