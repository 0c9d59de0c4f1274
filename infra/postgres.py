"""A throwaway PostgreSQL server on a loopback port, for tests and benchmarks.

Uses the server binaries installed on the machine (`initdb`/`pg_ctl` on PATH or under
/usr/lib/postgresql/*/bin). PostgreSQL refuses to run as root, so when we are root the cluster
is owned by, and the server runs as, the `postgres` system user the Debian package creates."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType


class PostgresUnavailable(RuntimeError):
    pass


def find_pg_bin() -> Path:
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (no pg_ctl on PATH or under /usr/lib/postgresql/*/bin); "
        "./dev installs them with apt-get when it can"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TempPostgres:
    """`with TempPostgres() as pg: pg.create_database()` → a SQLAlchemy URL of a fresh database."""

    def __init__(self, base_dir: Path | None = None, user: str = "tongban") -> None:
        self.bin = find_pg_bin()
        self.user = user
        self._base_dir = base_dir
        self.dir: Path | None = None
        self.port = 0
        self._as_user: list[str] = []

    @property
    def data_dir(self) -> Path:
        assert self.dir is not None, "server not started"
        return self.dir / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60.0) -> TempPostgres:
        self.dir = Path(tempfile.mkdtemp(prefix="tongban-pg-", dir=self._base_dir))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self._as_user = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups"]
        self.port = free_port()
        self._run(
            [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", self.user, "-A", "trust",
             "-E", "UTF8", "--no-locale", "--no-sync"],
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} "
            # A test server: durability of the test cluster itself does not matter, speed does.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.dir / "server.log"),
                   "-o", options, "-w", "-t", str(int(timeout)), "start"])
        self._wait_ready(timeout)
        return self

    def stop(self) -> None:
        if self.dir is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            self._run([str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, lines: int = 30) -> str:
        assert self.dir is not None
        log = self.dir / "server.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    def _run(self, argv: list[str], check: bool = True) -> None:
        result = subprocess.run([*self._as_user, *argv], capture_output=True, text=True)
        if check and result.returncode != 0:
            tail = self.log_tail() if self.dir else ""
            raise PostgresUnavailable(f"{' '.join(argv[:2])} failed:\n{result.stdout}{result.stderr}\n{tail}")

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres",
                                     connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(f"PostgreSQL did not accept connections:\n{self.log_tail()}") from None
                time.sleep(0.1)  # polling a server that is starting: there is nothing to wait on

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
