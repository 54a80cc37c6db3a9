"""The Backend.AI face renders the core's typed compute values in the reference's wire forms."""

from __future__ import annotations

import uuid
from typing import Any

from hangar.api.bai import compute_wire
from hangar.core.compute.apps import session_apps
from hangar.core.compute.execution import ConsoleItem, RunResult, RunStatus
from hangar.core.compute.models import CreateOutcome
from hangar.core.compute.ports import PortSpec
from hangar.core.compute.states import SessionStatus

SESSION = uuid.UUID("12345678-1234-5678-1234-567812345678")


def test_a_finished_run_is_a_result_object_with_camel_case_and_download_urls() -> None:
    result = RunResult(
        SESSION, "r1", RunStatus.FINISHED, 0,
        [ConsoleItem("stdout", "hi\n"), ConsoleItem("media", "<svg/>", "image/svg+xml")],
        files=("model.pt",), error="",
    )  # fmt: skip
    assert compute_wire.run_result(result) == {
        "status": "finished",
        "exitCode": 0,
        "options": None,
        "files": [
            {
                "name": "model.pt",
                "url": f"/session/{SESSION}/download_single?file=.output/model.pt",
            }
        ],
        "console": [["stdout", "hi\n"], ["media", ["image/svg+xml", "<svg/>"]]],
        "runId": "r1",
    }
    assert "runId" not in compute_wire.run_result(result, with_run_id=False)


def test_waiting_input_says_whether_it_is_a_password_and_errors_are_added() -> None:
    waiting = RunResult(SESSION, "r", RunStatus.WAITING_INPUT, None, password=True)
    body = compute_wire.run_result(waiting)
    assert (body["status"], body["options"], body["files"]) == (
        "waiting-input", {"is_password": True}, None)  # fmt: skip
    failed = RunResult(SESSION, "r", RunStatus.FINISHED, 0, error="ZeroDivisionError: x")
    assert compute_wire.run_result(failed)["error"] == "ZeroDivisionError: x"


def test_service_port_objects_of_image_apps_and_spec_ports() -> None:
    apps = session_apps({"ai.backend.runtime-type": "python"})
    wire: list[dict[str, Any]] = [compute_wire.service_port(a) for a in apps]
    assert wire[0] == {
        "name": "ttyd",
        "protocol": "http",
        "ports": [7681],
        "container_ports": [7681],
        "url_template": "http://{host}:{port}/",
    }
    assert "url_template" not in wire[1] and wire[1]["protocol"] == "tcp"
    assert compute_wire.service_port(PortSpec(8080).exposed()) == {
        "name": "8080",
        "protocol": "preopen",
        "ports": [8080],
        "container_ports": [8080],
    }


def test_a_create_wait_that_ran_out_is_timeout() -> None:
    session: Any = object()
    running = CreateOutcome(session, True, SessionStatus.RUNNING)
    late = CreateOutcome(session, True, SessionStatus.PREPARING, timed_out=True)
    assert compute_wire.create_status(running) == "RUNNING"
    assert compute_wire.create_status(late) == "TIMEOUT"
