"""The remote agent's messages: node dataclasses survive the JSON round trip (bytes too), and
node errors cross the wire as their own classes."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from hangar.agent import node_errors
from hangar.agent.errors import AgentError
from hangar.agent.models import HomeFile, KernelRequest, MountRequest, RunOutput
from hangar.agent.rpc import wire
from hangar.agent.services import UnknownApp


def test_a_kernel_request_with_files_and_mounts_round_trips() -> None:
    request = KernelRequest(
        uuid.uuid4(), "sess", cpu=Decimal("1.5"), memory_bytes=3 << 30,
        gpu_shares={"GPU-a": Decimal("0.25")}, environ={"A": "1"},
        mounts=(MountRequest(Path("/srv/vf"), "/home/work/vf", read_only=True),),
        files=(HomeFile(".bashrc", b"\x00\xffbinary\n", 0o600),), interpreter_prefix=None,
    )  # fmt: skip
    body = wire.CreateKernel(request=request).model_dump_json()
    assert wire.CreateKernel.model_validate_json(body).request == request


def test_uploads_and_archives_carry_arbitrary_bytes() -> None:
    data = bytes(range(256)) * 3
    upload = wire.Upload(files=[("a/b.bin", data)])
    assert wire.Upload.model_validate_json(upload.model_dump_json()).files == [("a/b.bin", data)]
    archives = wire.Archives(archives=[data, b""])
    assert wire.Archives.model_validate_json(archives.model_dump_json()).archives == [data, b""]


def test_run_outputs_keep_their_fields() -> None:
    output = RunOutput("waiting-input", "Password: ", None, "", True)
    line = wire.Output(output=output).model_dump_json()
    assert wire.Output.model_validate_json(line).output == output


@pytest.mark.parametrize(
    "error", [node_errors.UnknownKernel, node_errors.PathEscapes, node_errors.FileTooLarge,
              node_errors.KernelStartFailed, UnknownApp],
)  # fmt: skip
def test_node_errors_cross_as_their_class(error: type[AgentError]) -> None:
    sent = wire.failure(error("the user-facing reason"))
    received = wire.Failure.model_validate_json(sent.model_dump_json())
    with pytest.raises(error, match="the user-facing reason"):
        wire.raise_failure(received)


def test_unknown_error_names_become_plain_agent_errors() -> None:
    with pytest.raises(AgentError) as caught:
        wire.raise_failure(wire.Failure(error="SystemExit", message="no"))
    assert type(caught.value) is AgentError


@pytest.mark.parametrize(
    "beat",
    [
        {"agent_id": "", "url": "http://h:1", "boot": "b"},
        {"agent_id": "i-a/../b", "url": "http://h:1", "boot": "b"},
        {"agent_id": "i-a", "url": "file:///etc/passwd", "boot": "b"},
        {"agent_id": "i-a", "url": "http://h:1", "boot": "b", "kernels": ["nope"]},
        {"agent_id": "i-a", "url": "http://h:1", "boot": "b", "extra": 1},
        {"agent_id": "i-a", "url": "http://h:1"},
    ],
)
def test_malformed_heartbeats_are_refused(beat: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        wire.Heartbeat.model_validate(beat)


def test_a_shipped_run_names_a_directory_below_the_agents_runs_and_nothing_else() -> None:
    kernel = uuid.uuid4()
    body = wire.ShipRun(key="0123abcd", kernel_id=kernel, archive=b"\x1f\x8b..").model_dump_json()
    assert wire.ShipRun.model_validate_json(body).archive == b"\x1f\x8b.."
    for key in ("../etc", "a/b", "", ".", "x" * 65):
        with pytest.raises(ValidationError):
            wire.ShipRun(key=key, kernel_id=kernel, archive=b"")
    assert wire.ERRORS["RunRefused"].__name__ == "RunRefused"  # crosses the wire as itself
