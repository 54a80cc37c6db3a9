"""``/stream``: the execute WebSocket (service apps and the terminal: ``stream_apps``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from hangar.api.bai import compute_wire
from hangar.api.bai.auth import user
from hangar.api.bai.errors import BAI_PROBLEMS
from hangar.api.bai.routes.session import ExecuteParams, batch_steps
from hangar.api.bai.wording import message_of
from hangar.api.common.context import services_of
from hangar.api.common.errors import deny_socket
from hangar.api.common.params import parse_body, validate
from hangar.api.common.routing import Router
from hangar.core.compute.execution import Run, RunStatus
from hangar.core.compute.models import ComputeSession
from hangar.core.errors import HangarError

log = logging.getLogger("hangar.api.bai")
router = Router(prefix="/stream/session")
STREAM_FLUSH = 0.2


@router.websocket("/{ref}/execute")
async def execute(websocket: WebSocket) -> None:
    """One run per socket (§4.4): the first text frame says what to run; later text frames
    answer the run's ``input()``."""
    services = services_of(websocket)
    try:
        caller = user(websocket)
        session = await services.compute.running(caller, websocket.path_params["ref"])
        services.executions.ensure_reachable(session)  # refused here, the client fails
    except HangarError as exc:
        await deny_socket(BAI_PROBLEMS, websocket, exc)
        return
    await websocket.accept()
    try:
        request = parse_body((await websocket.receive_text()).encode())
        mode = request.get("mode") if isinstance(request, dict) else None
        if mode not in ("batch", "query"):
            await websocket.send_json(
                {"status": "error", "msg": f"Invalid API parameters: mode {mode!r}"}
            )
            await websocket.close()
            return
        params = validate(ExecuteParams, request)  # the same checks as the polling API
        executions = services.executions
        if mode == "query":
            run = executions.start_query(session, params.code)
        else:
            run = executions.start_batch(session, batch_steps(params.options))
        await services.compute.count_query(session)
        await _relay(websocket, session, run)
    except HangarError as exc:
        with contextlib.suppress(Exception):
            await websocket.send_json({"status": "error", "msg": message_of(exc)})
            await websocket.close(1011)
    except WebSocketDisconnect:
        return


async def _relay(websocket: WebSocket, session: ComputeSession, run: Run) -> None:
    services = services_of(websocket)
    executions = services.executions
    disconnected = asyncio.create_task(_receive_inputs(websocket, session, run))
    try:
        while True:
            take = asyncio.create_task(executions.take(session, run, STREAM_FLUSH, eager=True))
            done, _ = await asyncio.wait({take, disconnected}, return_when=asyncio.FIRST_COMPLETED)
            if disconnected in done:
                take.cancel()
                await executions.cancel(run)
                return
            result = take.result()
            if result.status is RunStatus.CONTINUED and not result.console:
                continue
            await websocket.send_json(compute_wire.run_result(result, with_run_id=False))
            if result.status.ended:
                await websocket.close(1000)
                return
    except HangarError as exc:
        with contextlib.suppress(Exception):
            await websocket.send_json({"status": "error", "msg": message_of(exc)})
            await websocket.close(1011)
    finally:
        disconnected.cancel()


async def _receive_inputs(websocket: WebSocket, session: ComputeSession, run: Run) -> None:
    """Hand text frames to the run as input lines (raw text, not JSON); return when the
    client goes away."""
    executions = services_of(websocket).executions
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is not None:
                with contextlib.suppress(HangarError):
                    await executions.send_input(session, run, text)
