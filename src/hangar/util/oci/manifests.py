"""Manifests, indexes and image configs (OCI and Docker v2 schema 2), parsed and checked.

Only what Hangar needs is read: the layers (digest, size, compression), the config blob, and
from an index the manifest for one platform.
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import dataclass, field
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_COMPRESSION = {
    "application/vnd.oci.image.layer.v1.tar": "none",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar": "none",
    "application/vnd.docker.image.rootfs.diff.tar.zstd": "zstd",
}
_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}


class ManifestError(ValueError):
    """A manifest, index or config that is not what an image needs."""


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    @classmethod
    def parse(cls, data: Any) -> Descriptor:
        if not isinstance(data, dict):
            raise ManifestError("a descriptor is not an object")
        digest, size = data.get("digest"), data.get("size")
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise ManifestError(f"unsupported digest {digest!r} (sha256 only)")
        if not isinstance(size, int) or size < 0:
            raise ManifestError(f"bad size for {digest}")
        return cls(str(data.get("mediaType", "")), digest, size)

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]


@dataclass(frozen=True, slots=True)
class Layer:
    descriptor: Descriptor
    compression: str  # none | gzip | zstd


@dataclass(frozen=True, slots=True)
class Manifest:
    digest: str
    config: Descriptor
    layers: tuple[Layer, ...]

    @property
    def size(self) -> int:
        """Compressed bytes of the config and every layer."""
        return self.config.size + sum(layer.descriptor.size for layer in self.layers)


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an image config a session uses."""

    architecture: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    diff_ids: tuple[str, ...] = ()


def host_architecture() -> str:
    machine = platform.machine()
    return _ARCHES.get(machine, machine)


def load_json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ManifestError(f"{what} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{what} is not a JSON object")
    return data


def media_type(data: dict[str, Any], header: str) -> str:
    """The document's own mediaType, else the Content-Type header, else by shape."""
    declared = data.get("mediaType") or header.split(";")[0].strip()
    if declared in (*MANIFEST_TYPES, *INDEX_TYPES):
        return str(declared)
    if "manifests" in data:
        return OCI_INDEX
    if "layers" in data:
        return OCI_MANIFEST
    raise ManifestError(f"unsupported manifest type {declared!r} (schema 1 is not supported)")


def choose_platform(index: dict[str, Any], architecture: str, os_name: str = "linux") -> str:
    """The digest of the index's manifest for ``os_name/architecture``. Raises ManifestError."""
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise ManifestError("an index without manifests")
    found = []
    for entry in entries:
        wanted = entry.get("platform", {}) if isinstance(entry, dict) else {}
        if wanted.get("architecture") == architecture and wanted.get("os", os_name) == os_name:
            found.append(Descriptor.parse(entry))
    if not found:
        offered = sorted(
            f"{e.get('platform', {}).get('os')}/{e.get('platform', {}).get('architecture')}"
            for e in entries
            if isinstance(e, dict)
        )
        raise ManifestError(
            f"no {os_name}/{architecture} image in the index (offers {', '.join(offered)})"
        )
    return found[0].digest


def parse_manifest(data: dict[str, Any], digest: str) -> Manifest:
    layers = []
    for entry in data.get("layers") or []:
        layer = Descriptor.parse(entry)
        compression = _COMPRESSION.get(layer.media_type)
        if compression is None:
            raise ManifestError(f"unsupported layer type {layer.media_type!r}")
        layers.append(Layer(layer, compression))
    return Manifest(digest, Descriptor.parse(data.get("config")), tuple(layers))


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def parse_config(raw: bytes) -> ImageConfig:
    data = load_json(raw, "the image config")
    config = data.get("config") or {}
    labels = config.get("Labels") or {}
    rootfs = data.get("rootfs") or {}
    return ImageConfig(
        architecture=str(data.get("architecture", "")),
        env=_strings(config.get("Env")),
        entrypoint=_strings(config.get("Entrypoint")),
        cmd=_strings(config.get("Cmd")),
        working_dir=str(config.get("WorkingDir") or ""),
        user=str(config.get("User") or ""),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        diff_ids=_strings(rootfs.get("diff_ids")),
    )
