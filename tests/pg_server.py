"""A real PostgreSQL server for the tests and benchmarks: Debian's `postgresql`
package, started in a temporary directory and stopped afterwards.

    with PostgresServer() as server:
        url = server.create_database("migrate")   # postgresql://...

The server refuses to run as root, so under root it runs as `nobody`; its data
directory and socket live in one temporary directory that is removed on stop.
It listens on 127.0.0.1 on a free port with `trust` authentication and on a
Unix socket, and is tuned for tests, never for durability (fsync off), unless
made with `PostgresServer(durable=True)`: then it keeps PostgreSQL's own
defaults (fsync, synchronous_commit and full_page_writes on: the WAL is flushed
at every commit), as the benchmarks run it.

`python tests/pg_server.py` starts one and prints its URL until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

# Where Debian installs the server binaries (not on PATH: /usr/lib/postgresql/<ver>/bin).
_BIN_GLOB = "/usr/lib/postgresql/*/bin"
UNPRIVILEGED_USER = "nobody"
START_TIMEOUT_SECONDS = 60


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def server_bin_dir() -> Path:
    """The newest installed server's bin directory."""
    found = sorted(
        (Path(p) for p in glob.glob(_BIN_GLOB) if (Path(p) / "postgres").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        on_path = shutil.which("pg_ctl")
        if on_path:
            return Path(on_path).resolve().parent
        raise PostgresUnavailable(
            "no PostgreSQL server found (looked in /usr/lib/postgresql/*/bin and PATH): "
            "apt-get install postgresql"
        )
    return found[-1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """One throwaway PostgreSQL cluster; use as a context manager."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.bin = server_bin_dir()
        self.port = _free_port()
        self.user = "postgres"  # the cluster's superuser role (not an OS user)
        self._root = Path(tempfile.mkdtemp(prefix="fast-langgraph-pg-"))
        self.data_dir = self._root / "data"
        self.socket_dir = self._root / "socket"
        self.log_file = self._root / "server.log"
        self._run_as: str | None = UNPRIVILEGED_USER if os.geteuid() == 0 else None
        self._started = False

    # -- lifecycle -------------------------------------------------------------

    def _command(self, *args: str) -> list[str]:
        if self._run_as is None:
            return list(args)
        return ["runuser", "-u", self._run_as, "--", *args]

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            self._command(*args), capture_output=True, text=True, cwd=self._root, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({result.returncode}): {result.stderr or result.stdout}"
            )

    def start(self) -> PostgresServer:
        self.socket_dir.mkdir()
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            for path in (self._root, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        settings = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.socket_dir}",
            "-c max_connections=100",
        ]
        if not self.durable:
            settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        options = " ".join(settings)
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "start",
        )
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            with contextlib.suppress(RuntimeError):
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop")
            self._started = False
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases -------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL. Names are the tests' own identifiers."""
        import psycopg

        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name {name!r}: letters, digits and _ only")
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    with PostgresServer() as server:
        print(server.url(), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
