"""A throwaway PostgreSQL cluster for tests, and per-test databases on any server.

The cluster lives in a temp dir, listens on a free loopback port only, trusts every local
connection and runs without fsync: fast to start (~3 s) and worthless afterwards. As root it
runs as the ``postgres`` system user, since initdb and postgres refuse to run as root.

Also a command line, used by ``scripts/test`` (stdlib only, so any python3 runs it)::

    python3 tests/support/postgres.py start STATE  # prints the URL; STATE records the cluster
    python3 tests/support/postgres.py stop STATE   # stops it, removes its directory and STATE
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

SUPERUSER = "postgres"
SYSTEM_USER = "postgres"  # who runs the server when we are root
SHM = Path("/dev/shm")
SHM_MIN_FREE = 512 * 1024 * 1024


class PostgresUnavailable(RuntimeError):
    """No cluster could be started here; the message says why."""


def find_bin_dir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``; newest version first.

    Raises PostgresUnavailable when none is installed.
    """
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if all((Path(candidate) / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on "
        "PATH; install Debian's `postgresql` package or set HANGAR_TEST_POSTGRES_URL"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresCluster:
    """One cluster under ``root`` (``root/data`` holds the data, ``root/port`` the port)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self._run_as: str | None = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def port(self) -> int:
        return int((self.root / "port").read_text())

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database, as superuser."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def start(self, *, attempts: int = 3) -> str:
        """Create the cluster and start it; returns its URL.

        Raises PostgresUnavailable (with initdb's or the server's log) when it cannot.
        """
        bin_dir = find_bin_dir()
        self._make_root()
        initdb = [str(bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER]
        self._run([*initdb, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
        last_error = ""
        for _ in range(attempts):  # another process may grab the port in between
            port = free_port()
            (self.root / "port").write_text(str(port))
            options = (
                f"-h 127.0.0.1 -p {port} -k {self.data} -F "
                "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
            )
            pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log)]
            try:
                self._run([*pg_ctl, "-w", "-t", "30", "-o", options, "start"])
                return self.url
            except PostgresUnavailable as exc:
                last_error = str(exc)
        raise PostgresUnavailable(last_error)

    def stop(self) -> None:
        """Stop the server (if running) and remove the whole directory. Idempotent."""
        if (self.data / "postmaster.pid").exists():
            try:
                pg_ctl = [str(find_bin_dir() / "pg_ctl"), "-D", str(self.data)]
                self._run([*pg_ctl, "-m", "immediate", "-w", "stop"])
            except PostgresUnavailable as exc:
                print(f"warning: {exc}", file=sys.stderr)
        shutil.rmtree(self.root, ignore_errors=True)

    def _make_root(self) -> None:
        self.root.mkdir(mode=0o700, exist_ok=True)
        if any(self.root.iterdir()):
            raise PostgresUnavailable(f"{self.root} is not empty")
        if self._run_as is not None:
            try:
                user = pwd.getpwnam(self._run_as)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root, and there is no {self._run_as!r} system user to run "
                    "initdb as (it refuses root)"
                ) from None
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, argv: list[str]) -> None:
        what = Path(argv[0]).name + ("" if argv[-1].startswith("-") else f" {argv[-1]}")
        if self._run_as is not None:
            argv = ["runuser", "-u", self._run_as, "--", *argv]
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        try:
            done = subprocess.run(
                argv, cwd=self.root, env=env, capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{what} failed: {exc}") from exc
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{what} failed (exit {done.returncode}): {done.stderr.strip()}\n{log}".strip()
            )


def _scratch_parent() -> str | None:
    """/dev/shm when it has room, else the default temp dir.

    On this kind of disk CREATE DATABASE takes ~280 ms even without fsync; on tmpfs ~15 ms.
    Never pytest's tmp_path: its parents are mode 700, closed to the postgres user.
    """
    try:
        stat = os.statvfs(SHM)
    except OSError:
        return None
    if os.access(SHM, os.W_OK | os.X_OK) and stat.f_bavail * stat.f_frsize >= SHM_MIN_FREE:
        return str(SHM)
    return None


def start_temporary_cluster() -> PostgresCluster:
    """Start a cluster in a new temp dir; the caller must ``stop()`` it."""
    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="hangar-pg-", dir=_scratch_parent())))
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


# Per-test databases. asyncpg runs on a private thread and loop, so these work from sync
# and async fixtures alike, whatever loop pytest-asyncio has set up for the test.


def _run_async(coro: Coroutine[Any, Any, None]) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


def normalized_url(base_url: str) -> str:
    """``base_url`` with the asyncpg driver, whatever driver it named (or none)."""
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def _asyncpg_dsn(base_url: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(base_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def _execute(base_url: str, statement: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(_asyncpg_dsn(base_url), timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_database(base_url: str, prefix: str = "hangar_test") -> str:
    """Create a new, empty database on ``base_url``'s server; returns its SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    _run_async(_execute(base_url, f'CREATE DATABASE "{name}"'))
    url = make_url(normalized_url(base_url)).set(database=name)
    return url.render_as_string(hide_password=False)


def drop_database(base_url: str, database_url: str) -> None:
    """Drop ``database_url``'s database, disconnecting whoever still uses it."""
    from sqlalchemy.engine import make_url

    name = make_url(database_url).database
    _run_async(_execute(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    state = Path(argv[1])
    if argv[0] == "stop":
        root = state.read_text().strip() if state.exists() else ""
        if root:
            PostgresCluster(Path(root)).stop()
        state.unlink(missing_ok=True)
        return 0
    try:
        cluster = start_temporary_cluster()
    except PostgresUnavailable as exc:
        print(f"cannot start PostgreSQL: {exc}", file=sys.stderr)
        return 1
    state.write_text(f"{cluster.root}\n")
    print(cluster.url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
