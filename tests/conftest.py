"""Suite-wide fixtures: the database backends every database test runs on.

``database_url`` is parametrized over the backends, ids ``sqlite`` and ``postgresql``; each
test gets a fresh, empty database. PostgreSQL comes from ``HANGAR_TEST_POSTGRES_URL`` (a
server URL such as ``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``) or, when that
is unset, from a throwaway cluster started once per session (tests/support/postgres.py).
Without either the postgresql leg is skipped, or fails when HANGAR_TEST_REQUIRE_POSTGRES=1
(CI sets it, so the leg cannot vanish silently).

Pick backends with ``--backends=sqlite`` or ``HANGAR_TEST_BACKENDS=sqlite`` (comma-separated);
restrict one test with ``@pytest.mark.backends("sqlite")``.

Under pytest-xdist (``-n N``) the workers share one server, the given one or a cluster the
controller starts before them, and every test still gets its own database on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.postgres import (
    PostgresCluster,
    PostgresUnavailable,
    create_database,
    drop_database,
    normalized_url,
    start_temporary_cluster,
)

BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=None,
        help="comma-separated database backends to run database tests on "
        f"({', '.join(BACKENDS)}; default: $HANGAR_TEST_BACKENDS or all)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names): run this test only on these database backends"
    )
    for name in BACKENDS:
        config.addinivalue_line("markers", f"{name}: the {name} leg of a database test")
    selected = _selected_backends(config)  # a typo in --backends stops the run before collection
    if "postgresql" in selected and _xdist_controller(config):
        _share_postgres_with_workers(config)


def _xdist_controller(config: pytest.Config) -> bool:
    """Whether this process hands tests to pytest-xdist workers (``-n N``, N > 0)."""
    workers = getattr(config.option, "numprocesses", None)
    return bool(workers) and not hasattr(config, "workerinput")


def _share_postgres_with_workers(config: pytest.Config) -> None:
    """One throwaway cluster for all workers, started here before they are: they inherit
    HANGAR_TEST_POSTGRES_URL instead of each starting a cluster of their own. Each test
    still gets its own database on it."""
    if os.environ.get("HANGAR_TEST_POSTGRES_URL"):
        return
    server = _PostgresServer()
    server.open()
    if server.base_url is not None:
        os.environ["HANGAR_TEST_POSTGRES_URL"] = server.base_url
        config.add_cleanup(server.close)
        config.add_cleanup(lambda: os.environ.pop("HANGAR_TEST_POSTGRES_URL", None))


def _selected_backends(config: pytest.Config) -> list[str]:
    raw = config.getoption("--backends") or os.environ.get("HANGAR_TEST_BACKENDS") or ""
    chosen = [name.strip() for name in raw.split(",") if name.strip()] or list(BACKENDS)
    unknown = sorted(set(chosen) - set(BACKENDS))
    if unknown:
        raise pytest.UsageError(
            f"unknown database backend(s) {unknown}; choose from {', '.join(BACKENDS)}"
        )
    return chosen


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" not in metafunc.fixturenames:
        return
    selected = _selected_backends(metafunc.config)
    marker = metafunc.definition.get_closest_marker("backends")
    wanted = list(marker.args) if marker is not None else list(BACKENDS)
    if not wanted or set(wanted) - set(BACKENDS):
        raise pytest.UsageError(f"backends marker wants {wanted}; choose from {BACKENDS}")
    params = [
        pytest.param(name, id=name, marks=getattr(pytest.mark, name))
        for name in wanted
        if name in selected
    ]
    if not params:  # a clear reason instead of pytest's "got empty parameter set"
        reason = f"runs on {', '.join(wanted)} only; selected backends: {', '.join(selected)}"
        params = [pytest.param(wanted[0], id=wanted[0], marks=pytest.mark.skip(reason=reason))]
    metafunc.parametrize("database_url", params, indirect=True)


class _PostgresServer:
    """The session's PostgreSQL server: from the environment, self-started, or unavailable."""

    def __init__(self) -> None:
        self.base_url: str | None = None
        self.unavailable: str | None = None
        self.cluster: PostgresCluster | None = None

    def open(self) -> None:
        given = os.environ.get("HANGAR_TEST_POSTGRES_URL")
        if given:
            self.base_url = normalized_url(given)
            return
        try:
            self.cluster = start_temporary_cluster()
        except PostgresUnavailable as exc:
            self.unavailable = (
                "PostgreSQL leg skipped: HANGAR_TEST_POSTGRES_URL is not set and no throwaway "
                f"cluster could be started: {exc}"
            )
            return
        self.base_url = self.cluster.url

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[_PostgresServer]:
    server = _PostgresServer()
    server.open()
    try:
        yield server
    finally:
        server.close()


def _postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    server: _PostgresServer = request.getfixturevalue("postgres_server")
    if server.base_url is None:
        reason = server.unavailable or "PostgreSQL is unavailable"
        if os.environ.get("HANGAR_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (HANGAR_TEST_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(reason)
    try:
        url = create_database(server.base_url)
    except Exception as exc:  # refused, auth, permissions: the server named is not usable
        where = make_url(server.base_url)  # its repr hides the password
        pytest.fail(f"cannot create a database on {where!r}: {exc!r}", pytrace=False)
    try:
        yield url
    finally:
        drop_database(server.base_url, url)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLAlchemy async URL of a fresh, empty database on this test's backend.

    A plain sync fixture (create/drop run on their own thread), so sync and async tests and
    fixtures of any loop scope can use it.
    """
    backend: str = request.param
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'hangar.db'}"
    else:
        yield from _postgres_database(request)
