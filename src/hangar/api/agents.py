"""The manager's endpoint for remote agents: ``POST /hangar/agents/heartbeat``.

Not part of any client API: agents authenticate with the shared agent token (``Authorization:
Bearer``), not with a keypair. Errors are problem+json like the rest of the server.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hangar.agent.rpc import wire
from hangar.api.bai.errors import problem_response, render_error
from hangar.api.bai.params import read_params
from hangar.core.agents.remote import Beat
from hangar.core.errors import HangarError
from hangar.core.services import Services

PATH = "/hangar/agents/heartbeat"


async def heartbeat(request: Request, services: Services) -> Response:
    remote = services.remote_agents
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    try:
        remote.check_token(token if scheme.lower() == "bearer" else None)
        if request.method != "POST":
            return problem_response(405, "method-not-allowed", "HTTP Method Not Allowed.")
        beat = await read_params(request, wire.Heartbeat)
        if beat.protocol != wire.PROTOCOL:
            return problem_response(
                400, "invalid-api-params", "Unsupported agent protocol.",
                f"This manager speaks {wire.PROTOCOL}, the agent {beat.protocol}.",
            )  # fmt: skip
        await remote.heartbeat(
            Beat(beat.agent_id, beat.url, beat.boot, beat.scaling_group, frozenset(beat.kernels))
        )
    except HangarError as exc:
        return render_error(exc)
    return Response(status_code=204)
