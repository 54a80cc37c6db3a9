"""A batch session's restart policy, set through the Backend.AI face (``config.restartPolicy``,
Hangar's own option): its command runs again when it ends, as the policy says, after a
back-off that doubles, up to a limit; the session shows how often; destroying it stops
the restarts."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.live import LiveServer, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

# Counts its runs in the scratch dir (kept across restarts): fails twice, then succeeds.
THIRD_TIME_LUCKY = (
    'n=$(( $(cat runs 2>/dev/null || echo 0) + 1 )); echo "$n" > runs; echo "run-$n"; '
    '[ "$n" -ge 3 ]'
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("restarts")
    live = LiveServer(home=home, database_url=f"sqlite+aiosqlite:///{home}/h.db")
    live.extra_env = {
        "HANGAR_SESSION_RESTART_BACKOFF_SECONDS": "0.3",
        "HANGAR_SESSION_RESTART_LIMIT": "4",
    }
    live.start()
    try:
        yield live
    finally:
        live.stop()


def create(server: LiveServer, name: str, command: str, policy: str, **extra: Any) -> Any:
    body = {"name": name, "image": "python", "type": "batch", "startupCommand": command,
            "config": {"restartPolicy": policy}, **extra}  # fmt: skip
    return server.signed("POST", "/session", body)


def ended(server: LiveServer, session_id: str) -> tuple[str, str] | None:
    """(status, result) once the session has ended."""
    done = server.official("--output", "json", "ps", "--status", "ALL")
    assert done.returncode == 0, done.stdout + done.stderr
    item = next(i for i in json.loads(done.stdout)["items"] if i["session_id"] == session_id)
    return (item["status"], item["result"]) if item["status"] == "TERMINATED" else None


def logs(server: LiveServer, session_id: str) -> str:
    done: subprocess.CompletedProcess[str] = server.official("session", "logs", session_id)
    return done.stdout + done.stderr


def info(server: LiveServer, name: str) -> dict[str, Any]:
    response = server.signed("GET", f"/session/{name}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_on_failure_runs_the_command_again_until_it_succeeds(server: LiveServer) -> None:
    # Our CLI sends the policy (hangar start --restart); the raw API below.
    started = server.hangar(
        "--output", "json", "start", "-t", "lucky", "--type", "batch",
        "-c", THIRD_TIME_LUCKY, "--restart", "on-failure", "python",
    )  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    session_id = json.loads(started.stdout)["session_id"]
    plain = create(server, "unlucky", THIRD_TIME_LUCKY, "never").json()["sessionId"]

    assert wait_for(lambda: ended(server, session_id), "the session to end") == (
        "TERMINATED", "SUCCESS",
    )  # fmt: skip
    output = logs(server, session_id)
    assert [line for line in output.split() if line.startswith("run-")] == [
        "run-1", "run-2", "run-3",
    ]  # fmt: skip
    # Without a policy the same command ends with its first failure.
    assert wait_for(lambda: ended(server, plain), "the other to end") == ("TERMINATED", "FAILURE")
    assert "run-2" not in logs(server, plain)


def test_always_restarts_with_a_growing_back_off_until_destroyed(server: LiveServer) -> None:
    command = 'echo "tick-$(date +%s.%N)"'
    created = create(server, "ticker", command, "always")
    assert created.status_code == 201, created.text
    session_id = created.json()["sessionId"]

    def restarts() -> int:
        data = info(server, "ticker")
        assert data["status"] == "RUNNING"  # a command that ends does not end the session
        return int((data["statusData"] or {}).get("restarts", 0))

    wait_for(lambda: restarts() >= 3, "three restarts", timeout=30)
    assert info(server, "ticker")["statusInfo"].startswith("restarted (")
    ticks = [float(w[5:]) for w in logs(server, session_id).split() if w.startswith("tick-")]
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert len(gaps) >= 3
    assert gaps[0] >= 0.25 and gaps[2] >= 1.1  # 0.3 s, then 0.6, then 1.2: it doubles
    assert server.signed("DELETE", "/session/ticker").status_code in (200, 204)
    ended_as = wait_for(lambda: ended(server, session_id), "the destroyed session to end")
    assert ended_as[0] == "TERMINATED"


def test_a_command_that_keeps_failing_gives_up_at_the_limit(server: LiveServer) -> None:
    created = create(server, "hopeless", "echo attempt; exit 3", "on-failure")
    assert created.status_code == 201, created.text
    session_id = created.json()["sessionId"]
    assert wait_for(lambda: ended(server, session_id), "the session to give up") == (
        "TERMINATED", "FAILURE",
    )  # fmt: skip
    assert logs(server, session_id).split().count("attempt") == 5  # the run, 4 restarts


def test_a_policy_needs_a_batch_session_and_a_known_value(server: LiveServer) -> None:
    interactive = server.signed(
        "POST", "/session",
        {"name": "notebook", "image": "python", "config": {"restartPolicy": "always"}},
    )  # fmt: skip
    assert interactive.status_code == 400, interactive.text
    assert "restart" in interactive.json()["msg"].lower()
    unknown = create(server, "odd", "true", "sometimes")
    assert unknown.status_code == 400, unknown.text
    assert "restart" in unknown.text.lower()
    assert not [s for s in server.sessions_alive() if s["name"] in ("notebook", "odd")]
