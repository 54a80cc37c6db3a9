"""Images: named environments (``name:tag``) and how a node provides them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class ImageProvider:
    """How a node provides the environment.

    ``kind`` is ``host`` (the node's own system), ``prefix`` (a venv or conda prefix bound
    read-only), ``rootfs`` (a root filesystem the sandbox uses as /) or ``oci`` (a
    container image the node pulls: ``path`` is its full reference, ``digest`` its
    manifest's, ``size_bytes`` its compressed size).
    """

    kind: str = "host"
    path: str | None = None
    interpreter: str = "/usr/bin/python3"
    digest: str | None = None
    size_bytes: int = 0
    command: str | None = None  # the image's Entrypoint + Cmd (in its WorkingDir), as shell

    def prefix(self) -> Path | None:
        """The venv/conda prefix a node binds read-only; None for any other kind."""
        return Path(self.path) if self.kind == "prefix" and self.path else None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"kind": self.kind, "path": self.path,
                                 "interpreter": self.interpreter}  # fmt: skip
        if self.kind == "oci":
            found.update(digest=self.digest, size_bytes=self.size_bytes, command=self.command)
        return found

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageProvider:
        return cls(
            kind=data.get("kind", "host"),
            path=data.get("path"),
            interpreter=data.get("interpreter", "/usr/bin/python3"),
            digest=data.get("digest"),
            size_bytes=int(data.get("size_bytes") or 0),
            command=data.get("command"),
        )


@dataclass(frozen=True, slots=True)
class Image:
    id: uuid.UUID
    registry: str
    name: str
    tag: str
    architecture: str
    labels: dict[str, str]
    resource_limits: dict[str, dict[str, str | None]]
    provider: ImageProvider
    aliases: tuple[str, ...] = field(default=())

    @property
    def canonical(self) -> str:
        return f"{self.registry}/{self.name}:{self.tag}"

    @property
    def short_ref(self) -> str:
        return f"{self.name}:{self.tag}"

    def min_slots(self) -> dict[str, str]:
        return {k: str(v["min"]) for k, v in self.resource_limits.items() if v.get("min")}

    def max_slots(self) -> dict[str, str]:
        return {k: str(v["max"]) for k, v in self.resource_limits.items() if v.get("max")}
