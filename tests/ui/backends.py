"""Browser tests whose outcome depends on the database run on each selected backend: one
live server per module and backend (``--backends`` / HANGAR_TEST_BACKENDS pick them).

In the module::

    pytest_generate_tests = server_per_backend

    @pytest.fixture(scope="module")
    def server(request, tmp_path_factory):
        yield from live_server_on(request, tmp_path_factory, "ui-admin", EXTRA_ENV)
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.live import LiveServer
from tests.support.postgres import create_database, drop_database

BACKENDS = ("sqlite", "postgresql")


def _selected(config: pytest.Config) -> list[str]:
    raw = config.getoption("--backends") or os.environ.get("HANGAR_TEST_BACKENDS") or ""
    return [name.strip() for name in raw.split(",") if name.strip()] or list(BACKENDS)


def server_per_backend(metafunc: pytest.Metafunc) -> None:
    """The module's ``server`` fixture, parametrized (module scope) over the backends; a
    test marked ``@pytest.mark.backends("sqlite")`` (the database does not matter to it)
    runs on those only."""
    if "server" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        only = set(marker.args) if marker else set(BACKENDS)
        wanted = [b for b in BACKENDS if b in _selected(metafunc.config) and b in only]
        params = [pytest.param(b, id=b, marks=getattr(pytest.mark, b)) for b in wanted]
        if not params:  # a clear reason instead of pytest's "got empty parameter set"
            first = sorted(only)[0]
            why = f"runs on {', '.join(sorted(only))} only"
            params = [pytest.param(first, id=first, marks=pytest.mark.skip(reason=why))]
        metafunc.parametrize("server", params, indirect=True, scope="module")


def _started(home_name: str, url: str, home_factory: pytest.TempPathFactory,
             extra_env: dict[str, str] | None) -> Iterator[LiveServer]:  # fmt: skip
    home = home_factory.mktemp(home_name)
    live = LiveServer(home=home, database_url=url.replace("{home}", str(home)),
                      extra_env=dict(extra_env or {}))  # fmt: skip
    live.start()
    try:
        yield live
    finally:
        live.stop()


def live_server_on(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[LiveServer]:
    """A live server on this parametrization's backend (a fresh PostgreSQL database from
    the session's cluster, dropped afterwards; skipped when there is none)."""
    backend: str = request.param
    if backend == "sqlite":
        yield from _started(f"{name}-sqlite", "sqlite+aiosqlite:///{home}/h.db",
                            tmp_path_factory, extra_env)  # fmt: skip
        return
    postgres = request.getfixturevalue("postgres_server")
    if postgres.base_url is None:
        if os.environ.get("HANGAR_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(postgres.unavailable or "PostgreSQL is unavailable")
        pytest.skip(postgres.unavailable or "PostgreSQL is unavailable")
    url = create_database(postgres.base_url)
    try:
        yield from _started(f"{name}-pg", url, tmp_path_factory, extra_env)
    finally:
        drop_database(postgres.base_url, url)
