"""A throwaway PostgreSQL server for tests: initdb in a temp folder, listen on a free
127.0.0.1 port (its unix socket in the same folder), stop and delete it afterwards.

Debian's binaries live in ``/usr/lib/postgresql/<version>/bin`` (not on PATH);
``NEWSWATCH_PG_BINDIR`` overrides the search. PostgreSQL refuses to run as root, so under
root the server runs as the ``postgres`` user (``runuser``) in a folder it owns; pytest's
``tmp_path`` is private to root, hence a folder of its own under the temp dir.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NEEDED = ("initdb", "pg_ctl", "postgres", "createdb")


@dataclass(frozen=True)
class PgServer:
    bindir: Path
    port: int
    user: str = "postgres"

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"dbname={dbname} host=127.0.0.1 port={self.port} user={self.user}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its libpq connection string."""
        subprocess.run(
            [
                str(self.bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                name,
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return self.conninfo(name)


def find_bindir() -> tuple[Path | None, str]:
    """The folder holding every binary in :data:`NEEDED`, or ``None`` and why not."""
    override = os.environ.get("NEWSWATCH_PG_BINDIR")
    candidates = [Path(override)] if override else []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if all((folder / name).is_file() for name in NEEDED):
            return folder, ""
    looked = ", ".join(str(folder) for folder in candidates) or "/usr/lib/postgresql/*/bin"
    return None, f"PostgreSQL binaries ({', '.join(NEEDED)}) not found (looked in {looked})"


def run_as_prefix() -> tuple[list[str], int | None, str]:
    """The command prefix to run the server with, the uid to own its folder, or why not."""
    if os.geteuid() != 0:
        return [], None, ""
    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        return [], None, "running as root and there is no postgres user to run the server"
    runuser = shutil.which("runuser")
    if runuser is None:
        return [], None, "running as root and runuser is missing"
    return [runuser, "-u", "postgres", "--"], uid, ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def postgres_server(bindir: Path) -> Iterator[PgServer]:
    """Start a server; it is stopped and its folder removed whatever happens."""
    prefix, uid, why_not = run_as_prefix()
    if why_not:
        raise RuntimeError(why_not)
    folder = Path(tempfile.mkdtemp(prefix="newswatch-pg-"))
    data = folder / "data"
    started = False
    try:
        if uid is not None:
            os.chown(folder, uid, -1)
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        port = free_port()
        options = f"-h 127.0.0.1 -p {port} -k {folder} -F -c fsync=off"
        started = True  # a failed start may still leave a server behind: stop it too
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "log"),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
        yield PgServer(bindir, port)
    finally:
        if started:
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(folder, ignore_errors=True)
