"""A throwaway PostgreSQL cluster for the tests: its own data directory, a unix socket, gone at the end.

`ThrowawayCluster` runs ``initdb`` into a temporary directory and starts ``postgres`` listening only on
a unix socket in that directory (no TCP port, so parallel runs never collide). Durability is switched
off (fsync, synchronous commit): a crash only loses a cluster that is deleted anyway.

``initdb`` and ``postgres`` refuse to run as root; as root they run as the ``postgres`` user that
Debian's package creates, and the directory is handed to it.

Each test gets its own database, cloned from a migrated template (`create_database`), or an empty
one for the migration tests. Databases are created from a helper thread with its own event loop, so
`tests.conftest.make_settings` stays a plain function that async tests can call.
"""

from __future__ import annotations

import asyncio
import atexit
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import asyncpg

from storage.database import Database

SUPERUSER = "postgres"
TEMPLATE = "opendoor_template"
# Safe only because the cluster is thrown away: nothing here has to survive a crash.
SERVER_SETTINGS = {
    "listen_addresses": "''",  # no TCP at all; pg_ctl hands these options to a shell, hence the quotes
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",  # failed statements are the tests' business, not the log's
}


class PostgresNotFound(RuntimeError):
    """PostgreSQL's server binaries (initdb, pg_ctl, postgres) are not installed."""


def find_binaries() -> Path:
    """The directory holding initdb and pg_ctl: $OPENDOOR_PG_BIN, the newest Debian one, or the PATH."""
    candidates = [os.environ.get("OPENDOOR_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).parent))
    for candidate in filter(None, candidates):
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    raise PostgresNotFound(
        "PostgreSQL's server binaries were not found (looked in $OPENDOOR_PG_BIN, /usr/lib/postgresql/*/bin "
        "and the PATH); on Debian or Ubuntu: apt-get install postgresql"
    )


def _version(path: str) -> tuple[int, ...]:
    number = Path(path).parent.name
    return tuple(int(part) for part in number.split(".") if part.isdigit())


class ThrowawayCluster:
    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.root: Path | None = None
        self._names = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._admin: asyncpg.Connection | None = None
        self._thread: threading.Thread | None = None

    @property
    def socket_dir(self) -> Path:
        assert self.root is not None, "the cluster is not running"
        return self.root

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@/{database}?host={self.socket_dir}"

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        # A short path: unix socket paths are limited to about 100 characters.
        self.root = Path(tempfile.mkdtemp(prefix="opendoor-pg-", dir="/tmp"))
        atexit.register(self.stop)  # even if the session ends without tearing down
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise RuntimeError(f"as root, PostgreSQL must run as the {SUPERUSER!r} user, which does not exist") from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.root / "data"), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="postgres-admin", daemon=True)
        self._thread.start()
        self.start_server()
        self._call(self._admin_connection().execute(f"CREATE DATABASE {TEMPLATE}"))
        self._call(_migrate(self.url(TEMPLATE)))

    def stop(self) -> None:
        """Stops the server at once and deletes its directory; safe to call twice."""
        if self.root is None:
            return
        if self._loop is not None:
            if self._admin is not None:
                self._call(self._admin.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
            self._loop = self._admin = None
        if (self.root / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "-s", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def stop_server(self) -> None:
        """Stops the server as an operator would (fast: open sessions are ended), keeping its data."""
        assert self.root is not None, "the cluster is not running"
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "-s", "stop")

    def start_server(self) -> None:
        """Starts the server on the cluster's data (again, after `stop_server`) and connects to it."""
        assert self.root is not None and self._loop is not None, "the cluster was not set up"
        settings = {**SERVER_SETTINGS, "unix_socket_directories": str(self.root)}
        options = " ".join(f"-c {key}={value}" for key, value in settings.items())
        self._run("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "server.log"), "-o", options, "-w", "-s", "start")
        if self._admin is not None:  # its session ended with the server it was connected to
            self._loop.call_soon_threadsafe(self._admin.terminate)
        self._admin = self._call(asyncpg.connect(host=str(self.root), user=SUPERUSER, database="postgres"))

    # --- databases -----------------------------------------------------------------------------

    def create_database(self, *, migrated: bool = True) -> str:
        """A new database (a copy of the migrated template, or empty); returns its name."""
        name = f"test_{next(self._names)}"
        template = TEMPLATE if migrated else "template0"
        admin = self._admin_connection()
        # FILE_COPY (PostgreSQL 15+) copies a small template in a quarter of WAL_LOG's time; with
        # fsync off its checkpoints cost nothing.
        strategy = " STRATEGY FILE_COPY" if admin.get_server_version().major >= 15 else ""
        self._call(admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}{strategy}"))
        return name

    def drop_database(self, name: str) -> None:
        """Drops it even if a test left connections open."""
        self._call(self._admin_connection().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    # --- helpers -------------------------------------------------------------------------------

    def _admin_connection(self) -> asyncpg.Connection:
        assert self._admin is not None, "the cluster is not running"
        return self._admin

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.binaries / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        completed = subprocess.run(command, capture_output=True, text=True, cwd="/")
        if completed.returncode != 0:
            log = self.root / "server.log" if self.root else None
            detail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{program} failed ({completed.returncode}): {completed.stderr.strip()}\n{detail}")


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await db.migrate()
    finally:
        await db.dispose()
