"""Image references as registries read them: ``[host[:port]/]repository[:tag][@digest]``.

A first component with a dot or a colon, or ``localhost``, is a registry host; otherwise the
image is on Docker Hub (``docker.io``, whose API lives at ``registry-1.docker.io``, with
``library/`` for single-name repositories).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_REPOSITORY = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$")


class InvalidReference(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Reference:
    registry: str  # host[:port] as the user wrote it (docker.io for Docker Hub)
    repository: str
    tag: str | None = "latest"
    digest: str | None = None

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def target(self) -> str:
        """What the manifest request names: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        text += f":{self.tag}" if self.tag else ""
        return text + (f"@{self.digest}" if self.digest else "")


def is_registry_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_reference(text: str) -> Reference:
    """Raises InvalidReference for anything a registry would refuse."""
    rest, _, digest = text.strip().partition("@")
    if digest and not _DIGEST.match(digest):
        raise InvalidReference(f"not a sha256 digest: {digest!r}")
    tag = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, _, tag = rest.rpartition(":")
        if not _TAG.match(tag):
            raise InvalidReference(f"not a valid tag: {tag!r}")
    first, slash, remainder = rest.partition("/")
    if slash and is_registry_host(first):
        if not _HOST.match(first):
            raise InvalidReference(f"not a registry host: {first!r}")
        registry, repository = first, remainder
    else:
        registry, repository = DOCKER_HUB, rest
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not _REPOSITORY.match(repository) or len(repository) > 255:
        raise InvalidReference(f"not a valid repository name: {repository!r}")
    return Reference(registry, repository, tag if tag or digest else "latest", digest or None)
