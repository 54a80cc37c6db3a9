"""What a node writes down about each kernel so that a later node can take it over.

Per kernel, ``<root>/<kernel_id>/`` (beside the scratch dirs, hidden from every sandbox):
``request.json`` (the request, without its dotfiles, written once the kernel is up),
``query.json`` (how to reach its Jupyter kernel) and ``run.json`` (a batch session's run,
kept as long as the kernel: a later node follows it, ended or not, rather than running the
command twice). The processes themselves are the runtime's ``keep`` processes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from hangar.agent.kernels.launcher import Connection
from hangar.agent.models import BatchSteps, KernelRequest
from hangar.agent.runtimes.scratch import remove_tree

log = logging.getLogger("hangar.agent")
_REQUEST = TypeAdapter(KernelRequest)
_STEPS = TypeAdapter(BatchSteps)
RUN_PROCESS = "run"  # the runtime's keep name of a batch run's step


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A batch run of a kernel: its steps and the index of the step that runs now."""

    steps: BatchSteps
    step: int


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    temporary.replace(path)


def connection_to_json(connection: Connection) -> bytes:
    return json.dumps(dataclasses.asdict(connection)).encode()


def connection_from_json(data: bytes) -> Connection:
    """Raises ValueError (also TypeError inside) for a malformed record."""
    fields: dict[str, Any] = json.loads(data)
    if "ports" in fields:
        fields["ports"] = tuple(tuple(pair) for pair in fields["ports"])
    try:
        return Connection(**fields)
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


class KernelRecords:
    """The records under ``root``. Methods do file I/O: call them in a thread."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, key: str) -> Path:
        return self.root / key

    def keys(self) -> list[str]:
        """Kernels with a request record."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "request.json").is_file())

    def save_request(self, request: KernelRequest) -> None:
        kept = dataclasses.replace(request, files=())
        _write(self._dir(str(request.kernel_id)) / "request.json", _REQUEST.dump_json(kept))

    def request(self, key: str) -> KernelRequest | None:
        try:
            return _REQUEST.validate_json((self._dir(key) / "request.json").read_bytes())
        except (OSError, ValidationError) as exc:
            log.warning("kernel %s: unreadable record: %s", key, exc)
            return None

    def save_query(self, key: str, connection: Connection) -> None:
        _write(self._dir(key) / "query.json", connection_to_json(connection))

    def query(self, key: str) -> Connection | None:
        try:
            return connection_from_json((self._dir(key) / "query.json").read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("kernel %s: unreadable Jupyter record: %s", key, exc)
            return None

    def forget_query(self, key: str) -> None:
        (self._dir(key) / "query.json").unlink(missing_ok=True)

    def save_run(self, key: str, run: RunRecord) -> None:
        data = {"steps": json.loads(_STEPS.dump_json(run.steps)), "step": run.step}
        _write(self._dir(key) / "run.json", json.dumps(data).encode())

    def run(self, key: str) -> RunRecord | None:
        try:
            data = json.loads((self._dir(key) / "run.json").read_bytes())
            return RunRecord(_STEPS.validate_python(data["steps"]), int(data["step"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
            log.warning("kernel %s: unreadable run record: %s", key, exc)
            return None

    def remove(self, key: str) -> None:
        remove_tree(self._dir(key))
