"""What a remote agent costs: query-mode sessions on a ``hangar agent`` process next to the
same sessions on the server's embedded agent, measured in one run, as ratios remote/embedded.

One ``hangar server`` (embedded agent, bubblewrap) and one ``hangar agent --manager`` (its own
data dir, same machine, reporting every second). Each round pins one session to each agent
(``agentList``, as an admin), alternately, and times:

* ``start``  ``POST /session`` (held until RUNNING) then the first ``print(1)`` answered;
* ``cell``   the median of ``--cells`` more ``print(1)`` cells, alternating between the two
             sessions one by one so both see the same load;
* ``destroy`` ``DELETE /session/{id}``.

The remote side adds the manager -> agent HTTP hop (a JSON request, a JSON-lines stream) and
the agent's own event loop. No target is set by the issue; the figures say what the hop costs.

    .venv/bin/python bench/remote_agent.py [--repeat 5] [--cells 20]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from query_latency import query, start_server_with  # noqa: E402
from session_latency import Client, create_body  # noqa: E402

REMOTE_ID = "i-bench-remote"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_agent(home: Path, manager: str, token_file: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANGAR_", "BACKEND_"))}
    env.update(HANGAR_DATA_DIR=str(home / "agent"), HANGAR_AGENT_ID=REMOTE_ID,
               HANGAR_AGENT_HEARTBEAT_SECONDS="1", HANGAR_LOG_LEVEL="WARNING")  # fmt: skip
    exe = Path(sys.executable).with_name("hangar")
    command = [str(exe), "agent", "--manager", manager, "--host", "127.0.0.1",
               "--port", str(free_port()), "--token-file", str(token_file)]  # fmt: skip
    with (home / "agent.log").open("wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)


def agents(client: Client) -> dict[str, str]:
    body = {"query": "{ agents { id status } }", "variables": {}}
    response = client.call("POST", "/admin/gql", body)
    response.raise_for_status()
    return {a["id"]: a["status"] for a in response.json()["data"]["agents"]}


def start_on(client: Client, agent_id: str) -> tuple[str, float]:
    body: dict[str, Any] = create_body(f"r-{uuid.uuid4().hex[:8]}")
    body["config"]["agentList"] = [agent_id]
    began = time.perf_counter()
    response = client.call("POST", "/session", body)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"create on {agent_id}: {response.status_code} {response.text}")
    session_id: str = response.json()["sessionId"]
    assert query(client, session_id, "print(1)").strip() == "1"
    return session_id, time.perf_counter() - began


def cell(client: Client, session_id: str) -> float:
    began = time.perf_counter()
    assert query(client, session_id, "print(1)").strip() == "1"
    return time.perf_counter() - began


def destroy(client: Client, session_id: str) -> float:
    began = time.perf_counter()
    response = client.call("DELETE", f"/session/{session_id}")
    assert response.status_code == 200, response.text
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cells", type=int, default=20)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="hangar-remote-bench-"))
    server = start_server_with(home, {})
    agent = start_agent(home, server.endpoint, home / "data" / "agent-token")
    client = Client(server)
    try:
        deadline = time.monotonic() + 60
        while agents(client).get(REMOTE_ID) != "ALIVE":
            if time.monotonic() > deadline or agent.poll() is not None:
                raise RuntimeError(
                    "the agent did not register:\n" + (home / "agent.log").read_text()
                )
            time.sleep(0.2)
        embedded = next(a for a, status in agents(client).items() if a != REMOTE_ID)
        times: dict[str, dict[str, list[float]]] = {
            side: {"start": [], "cell": [], "destroy": []} for side in ("embedded", "remote")
        }
        for index in range(args.repeat):
            order = [("embedded", embedded), ("remote", REMOTE_ID)]
            if index % 2:
                order.reverse()
            sessions: dict[str, str] = {}
            for side, agent_id in order:
                sessions[side], took = start_on(client, agent_id)
                times[side]["start"].append(took)
            time.sleep(1.0)  # the pools refill
            cells: dict[str, list[float]] = {"embedded": [], "remote": []}
            for _ in range(args.cells):
                for side, _agent in order:
                    cells[side].append(cell(client, sessions[side]))
            for side, _agent in order:
                times[side]["cell"].append(statistics.median(cells[side]))
                times[side]["destroy"].append(destroy(client, sessions[side]))
            time.sleep(1.0)
        print(f"{args.repeat} rounds, {args.cells} cells per session per round; medians in ms")
        print(f"{'phase':8} {'embedded':>9} {'remote':>9} {'ratio':>7}")
        for phase in ("start", "cell", "destroy"):
            here = statistics.median(times["embedded"][phase]) * 1000
            there = statistics.median(times["remote"][phase]) * 1000
            print(f"{phase:8} {here:9.1f} {there:9.1f} {there / here:7.2f}")
        return 0
    finally:
        client.close()
        if agent.poll() is None:
            os.killpg(agent.pid, signal.SIGTERM)
            agent.wait(30)
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
