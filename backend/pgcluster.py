"""A throwaway PostgreSQL server for tests and benchmarks (Debian's postgresql, started for real).

    with PgCluster() as pg:
        url = pg.url   # postgresql+psycopg://postgres@127.0.0.1:<port>/malina

initdb + pg_ctl in a temporary directory, listening on 127.0.0.1 on a free port only; run as the
``postgres`` user (through runuser) when we are root. ``stop()`` removes everything. Failing to start raises
``PgClusterError`` with the server log: a missing PostgreSQL is an error, never a skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg


class PgClusterError(RuntimeError):
    pass


def find_bindir() -> str:
    env = os.environ.get("MALINA_PG_BINDIR")
    candidates = [env] if env else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for bindir in candidates:
        if bindir and os.path.exists(os.path.join(bindir, "initdb")):
            return bindir
    raise PgClusterError("PostgreSQL server binaries not found (apt-get install postgresql, "
                         "or set MALINA_PG_BINDIR)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    def __init__(self, *, durable: bool = False, database: str = "malina",
                 settings: dict[str, str] | None = None) -> None:
        self.bindir = find_bindir()
        self.durable = durable
        self.settings = settings or {}
        self.database = database
        self.dir: Path | None = None
        self.port = 0
        self.started = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *cmd: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        argv = [os.path.join(self.bindir, cmd[0]), *cmd[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True)
        except subprocess.CalledProcessError as exc:
            raise PgClusterError(f"{cmd[0]} failed ({exc.returncode}): {exc.stderr.strip()}\n{self._log()}") \
                from None
        except subprocess.TimeoutExpired:
            raise PgClusterError(f"{cmd[0]} timed out\n{self._log()}") from None

    def _log(self) -> str:
        if self.dir is None:
            return ""
        try:
            return "server log:\n" + (self.dir / "server.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def start(self) -> str:
        self.dir = Path(tempfile.mkdtemp(prefix="malina-pg-"))
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        data = self.dir / "data"
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C",
                  *([] if self.durable else ["--no-sync"]))
        self.port = _free_port()
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c max_connections=100"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        for key, value in self.settings.items():
            opts += f" -c {key}={value}"
        self._run("pg_ctl", "-D", str(data), "-l", str(self.dir / "server.log"), "-o", opts, "-w", "-t", "60",
                  "start", timeout=90.0)
        self.started = True
        try:
            with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                 autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        except psycopg.Error as exc:
            self.stop()
            raise PgClusterError(f"cannot create the database: {exc}") from None
        return self.url

    def stop(self) -> None:
        if self.dir is None:
            return
        if self.started:
            with contextlib.suppress(PgClusterError):
                self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> PgCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
