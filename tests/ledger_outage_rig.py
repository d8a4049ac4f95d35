"""A PostgreSQL cluster of the test's own, so a test can take the ledger's database away and
bring it back without touching the machine's shared PostgreSQL on 127.0.0.1:5432.

The cluster runs from the installed server binaries (initdb, pg_ctl, postgres) in a fresh
temporary folder, on a free loopback port, with trust authentication. PostgreSQL refuses to
run as root, so when the tests run as root every binary runs as the `postgres` OS user and
the folder belongs to that user. Missing binaries or user fail the test, with what to
install, unless MENTORFLOW_SKIP_POSTGRES=1 (the convention of tests/test_ledger_store.py).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NoReturn

import pytest

from tests.fault_rig import WAIT, free_port

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
OS_USER = "postgres"  # who runs the server when the tests run as root
# A throwaway cluster: durability against a power cut buys nothing here and costs seconds.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "'32MB'",
}


def _unavailable(reason: str) -> NoReturn:
    """CI must not pass silently without PostgreSQL: fail, unless the run opted out."""
    if os.environ.get("MENTORFLOW_SKIP_POSTGRES") == "1":
        pytest.skip(f"{reason}; MENTORFLOW_SKIP_POSTGRES=1")
    pytest.fail(
        f"{reason}. Install the PostgreSQL server (apt-get install postgresql), or set "
        "MENTORFLOW_SKIP_POSTGRES=1 to skip the PostgreSQL tests.",
        pytrace=False,
    )


def server_binaries() -> Path:
    """The newest installed server's bin folder (Debian keeps them per major version)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _major(p.parent.name)
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in reversed(candidates):
        if all((folder / name).is_file() for name in SERVER_BINARIES):
            return folder
    _unavailable(
        "the PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed: "
        "looked in /usr/lib/postgresql/*/bin and on PATH"
    )


def _major(version: str) -> int:
    return int(version) if version.isdigit() else -1


def _as_server_user() -> list[str]:
    """The command prefix that runs a server binary as someone PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    if not _user_exists(OS_USER):
        _unavailable(
            f"the tests run as root and PostgreSQL refuses root, but there is no {OS_USER!r} "
            "OS user to run it as"
        )
    runuser = shutil.which("runuser")
    if runuser is None:
        _unavailable("the tests run as root and `runuser` (util-linux) is not installed")
    return [str(runuser), "-u", OS_USER, "--"]


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@dataclass
class PrivatePostgres:
    """One cluster in `folder`: `stop()` takes the database off the network as an outage
    would (connections cut, the port refusing); `start()` brings it back on the same port."""

    folder: Path
    binaries: Path
    prefix: list[str]
    port: int = field(default_factory=free_port)
    stops: int = 0

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    @property
    def url(self) -> str:
        """The ledger URL the worker and the tests use (the default `postgres` database)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, binary: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [*self.prefix, str(self.binaries / binary), *args]
        done = subprocess.run(
            command, cwd=self.folder, capture_output=True, text=True, timeout=WAIT, check=False
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{binary} {' '.join(args)} exited with {done.returncode}:\n"
                f"{done.stdout}{done.stderr}{self._log_tail()}"
            )
        return done

    def _log_tail(self) -> str:
        if not self.log.exists():
            return ""
        return "\nserver log:\n" + "\n".join(self.log.read_text().splitlines()[-20:])

    def create(self) -> None:
        self._run(
            "initdb",
            f"--pgdata={self.data}",
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        )
        lines = [f"{name} = {value}" for name, value in SETTINGS.items()]
        lines += [f"port = {self.port}", f"unix_socket_directories = '{self.folder}'"]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# the test's private cluster\n" + "\n".join(lines) + "\n")

    def start(self) -> None:
        """Returns once the server accepts connections (`-w`)."""
        self._run("pg_ctl", "start", f"--pgdata={self.data}", f"--log={self.log}", "-w", "-t", "60")

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """`fast` cuts every connection and shuts down cleanly; `immediate` is a crash."""
        self._run("pg_ctl", "stop", f"--pgdata={self.data}", "-m", mode, "-w", "-t", "60")
        self.stops += 1

    @property
    def is_up(self) -> bool:
        command = [*self.prefix, str(self.binaries / "pg_ctl"), "status", f"--pgdata={self.data}"]
        done = subprocess.run(command, cwd=self.folder, capture_output=True, timeout=WAIT)
        return done.returncode == 0

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[PrivatePostgres]:
        """A fresh cluster, started; stopped and deleted afterwards, whatever happened."""
        binaries, prefix = server_binaries(), _as_server_user()
        folder = Path(tempfile.mkdtemp(prefix="mentorflow-pg-"))
        try:
            if prefix:
                shutil.chown(folder, user=OS_USER, group=OS_USER)
            cluster = cls(folder=folder, binaries=binaries, prefix=prefix)
            try:
                cluster.create()
                cluster.start()
                yield cluster
            finally:
                if cluster.is_up:  # also after a start that timed out half way
                    cluster.stop("immediate")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
