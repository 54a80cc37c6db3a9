"""A node's image store: content-addressed blobs, image records, unpacked root file systems.

Layout under ``root``::

    blobs/sha256/<hex>       verified blobs (configs, layers), shared by every image
    partial/<hex>            downloads in progress (resumed by the next pull)
    images/<hex>.json        one record per manifest: references, manifest, config
    rootfs/<hex>/            the image's root file system, unpacked once, read-only to sessions

A pull fetches what the store lacks (layers concurrently), so an image sharing a base
downloads only its own layers. ``gc`` deletes blobs and root file systems no image record
references; the size limit refuses an image larger than the store may hold and collects
garbage before a pull that would overflow it. An image whose root only a node's pre-built
sandboxes hold mounted is not in use: the store asks the node to let it go (``release``)
before it evicts or collects it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hangar.agent.images.unpack import Owner, unpack_layers
from hangar.util.oci.distribution import RegistryClient
from hangar.util.oci.manifests import (
    Descriptor,
    ImageConfig,
    Manifest,
    host_architecture,
    parse_config,
    parse_manifest,
)
from hangar.util.oci.reference import Reference


class StoreFull(RuntimeError):
    pass


@dataclass
class PullProgress:
    """Bytes of the image's blobs: ``total`` all of them, ``done`` present or fetched so far,
    ``fetched`` downloaded by this pull (a shared base counts in ``done`` only)."""

    reference: str
    total: int = 0
    done: int = 0
    fetched: int = 0
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)  # digest -> done, size
    phase: str = "resolving"  # resolving | downloading | unpacking | done


ProgressCallback = Callable[[PullProgress], None]
# Asked to let go of an image (its manifest digest) whose root file system pre-built
# sandboxes hold mounted; whether nothing but them held it (no kernel runs in it).
Release = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class StoredImage:
    reference: str
    manifest: Manifest
    config: ImageConfig
    rootfs: Path


class ImageStore:
    def __init__(self, root: Path, *, limit_bytes: int | None = None,
                 concurrency: int = 4, owner: Owner = Owner(),
                 release: Release | None = None) -> None:  # fmt: skip
        self.root, self.limit_bytes, self.owner = root, limit_bytes, owner
        self.release = release
        self._concurrency = concurrency
        self._blob_locks: dict[str, asyncio.Lock] = {}
        self._lock = asyncio.Lock()  # records, rootfs building, gc
        self._pinned: dict[str, int] = {}  # blobs of pulls in progress: gc leaves them
        for name in ("blobs/sha256", "partial", "images", "rootfs"):
            (root / name).mkdir(mode=0o755, parents=True, exist_ok=True)

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / digest.split(":", 1)[1]

    def _record_path(self, digest: str) -> Path:
        return self.root / "images" / f"{digest.split(':', 1)[1]}.json"

    def rootfs_path(self, digest: str) -> Path:
        return self.root / "rootfs" / digest.split(":", 1)[1]

    def usage(self) -> int:
        """Bytes of blobs (verified and partial) held."""
        return sum(p.stat().st_size for d in ("blobs/sha256", "partial")
                   for p in (self.root / d).iterdir())  # fmt: skip

    async def pull(
        self,
        client: RegistryClient,
        ref: Reference,
        on_progress: ProgressCallback = lambda p: None,
        architecture: str | None = None,
    ) -> StoredImage:
        """Fetch ``ref`` (what is missing), unpack it once, record it. Raises RegistryError,
        ManifestError, DigestMismatch, UnsafeLayer, StoreFull."""
        progress = PullProgress(str(ref))
        manifest, raw_manifest = await client.manifest(ref, architecture or host_architecture())
        blobs = [manifest.config.hex, *(layer.descriptor.hex for layer in manifest.layers)]
        for blob in blobs:
            self._pinned[blob] = self._pinned.get(blob, 0) + 1
        try:
            return await self._pull(client, ref, manifest, raw_manifest, progress, on_progress)
        finally:
            for blob in blobs:
                self._pinned[blob] -= 1
                if not self._pinned[blob]:
                    del self._pinned[blob]

    async def _pull(self, client: RegistryClient, ref: Reference, manifest: Manifest,
                    raw_manifest: bytes, progress: PullProgress,
                    on_progress: ProgressCallback) -> StoredImage:  # fmt: skip
        await self._make_room(manifest.size)
        config_raw = await self._config(client, ref, manifest)
        progress.total, progress.phase = manifest.size, "downloading"
        progress.done = manifest.config.size
        on_progress(progress)
        limit = asyncio.Semaphore(self._concurrency)
        await asyncio.gather(
            *(self._layer(client, ref, layer.descriptor, progress, on_progress, limit)
              for layer in manifest.layers)
        )  # fmt: skip
        progress.phase = "unpacking"
        on_progress(progress)
        image = await self._finish(ref, manifest, raw_manifest, config_raw)
        progress.phase = "done"
        on_progress(progress)
        return image

    async def _config(self, client: RegistryClient, ref: Reference, manifest: Manifest) -> bytes:
        path = self.blob_path(manifest.config.digest)
        if await asyncio.to_thread(path.exists):
            return await asyncio.to_thread(path.read_bytes)
        raw = await client.blob_bytes(ref.repository, manifest.config)
        parse_config(raw)  # refuse a broken config before storing it
        await asyncio.to_thread(_write_atomic, path, raw)
        return raw

    async def _layer(self, client: RegistryClient, ref: Reference, descriptor: Descriptor,
                     progress: PullProgress, on_progress: ProgressCallback,
                     limit: asyncio.Semaphore) -> None:  # fmt: skip
        digest, size = descriptor.digest, descriptor.size
        lock = self._blob_locks.setdefault(digest, asyncio.Lock())
        async with limit, lock:
            final = self.blob_path(digest)
            if await asyncio.to_thread(final.exists):
                progress.layers[digest] = (size, size)
                progress.done += size
                on_progress(progress)
                return
            partial = self.root / "partial" / digest.split(":", 1)[1]
            progress.layers[digest] = (0, size)

            def grew(count: int) -> None:
                done, total = progress.layers[digest]
                progress.layers[digest] = (done + count, total)
                progress.done += count
                progress.fetched += count
                on_progress(progress)

            await client.download(ref.repository, descriptor, partial, grew)
            await asyncio.to_thread(os.replace, partial, final)
            done, total = progress.layers[digest]
            progress.done += total - done  # a resumed part counts as present
            progress.layers[digest] = (total, total)

    async def _finish(self, ref: Reference, manifest: Manifest, raw_manifest: bytes,
                      config_raw: bytes) -> StoredImage:  # fmt: skip
        config = parse_config(config_raw)
        async with self._lock:
            target = self.rootfs_path(manifest.digest)
            if not await asyncio.to_thread(target.is_dir):
                layers = [(self.blob_path(lay.descriptor.digest), lay.compression)
                          for lay in manifest.layers]  # fmt: skip
                await asyncio.to_thread(unpack_layers, target, layers, self.owner)
            await asyncio.to_thread(self._record, str(ref), manifest, raw_manifest)
        return StoredImage(str(ref), manifest, config, target)

    def _record(self, reference: str, manifest: Manifest, raw_manifest: bytes) -> None:
        path = self._record_path(manifest.digest)
        refs: list[str] = []
        if path.exists():
            refs = list(json.loads(path.read_text()).get("references", []))
        for other in (self.root / "images").glob("*.json"):  # a tag moves to the new digest
            if other != path:
                data = json.loads(other.read_text())
                if reference in data.get("references", []):
                    data["references"].remove(reference)
                    _write_atomic(other, json.dumps(data).encode())
        record = {"references": sorted({*refs, reference}), "digest": manifest.digest,
                  "manifest": json.loads(raw_manifest)}  # fmt: skip
        _write_atomic(path, json.dumps(record).encode())

    def find(self, reference_or_digest: str, *, touch: bool = True) -> StoredImage | None:
        """A stored image by reference or manifest digest (None: not here); ``touch``:
        it counts as used now."""
        for path in sorted((self.root / "images").glob("*.json")):
            data = json.loads(path.read_text())
            if reference_or_digest in (data["digest"], *data.get("references", [])):
                if touch:
                    os.utime(path)  # last used now: the last the size limit evicts
                return self._load(data)
        return None

    def _load(self, data: dict[str, Any]) -> StoredImage | None:
        manifest = parse_manifest(data["manifest"], data["digest"])
        config_path = self.blob_path(manifest.config.digest)
        rootfs = self.rootfs_path(manifest.digest)
        if not config_path.exists() or not rootfs.is_dir():
            return None
        config = parse_config(config_path.read_bytes())
        refs = data.get("references") or [data["digest"]]
        return StoredImage(refs[0], manifest, config, rootfs)

    def images(self) -> list[StoredImage]:
        """Every complete image in the store."""
        found = []
        for path in sorted((self.root / "images").glob("*.json")):
            image = self._load(json.loads(path.read_text()))
            if image is not None:
                found.append(image)
        return found

    def remove(self, reference: str) -> bool:
        """Forget ``reference`` (its blobs go at the next gc). Whether it was here."""
        found = False
        for path in (self.root / "images").glob("*.json"):
            data = json.loads(path.read_text())
            if reference in (data["digest"], *data.get("references", [])):
                found = True
                path.unlink()
        return found

    async def gc(self) -> int:
        """Delete blobs, partial downloads and root file systems of no recorded image (those
        of pulls in progress stay); the bytes of blobs freed."""
        async with self._lock:
            return await asyncio.to_thread(self._gc)

    async def unused(self, cutoff: float) -> list[str]:
        """:meth:`unused_since`, once images only pre-built sandboxes hold were let go."""
        if self.release is not None:
            for digest in await asyncio.to_thread(self._by_use, cutoff):
                await self.release(digest)
        return await asyncio.to_thread(self.unused_since, cutoff)

    def unused_since(self, cutoff: float) -> list[str]:
        """Digests of images last used before ``cutoff`` (epoch seconds) that no kernel's
        overlay mounts."""
        mounts = _mounts()
        found = []
        for path in (self.root / "images").glob("*.json"):
            digest = f"sha256:{path.stem}"
            if path.stat().st_mtime < cutoff and str(self.rootfs_path(digest)) not in mounts:
                found.append(digest)
        return found

    def _gc(self) -> int:
        keep_blobs, keep_roots = set(self._pinned), set()
        for path in (self.root / "images").glob("*.json"):
            data = json.loads(path.read_text())
            manifest = parse_manifest(data["manifest"], data["digest"])
            keep_roots.add(manifest.digest.split(":", 1)[1])
            keep_blobs.add(manifest.config.hex)
            keep_blobs.update(layer.descriptor.hex for layer in manifest.layers)
        freed = 0
        for directory in ("blobs/sha256", "partial"):
            for blob in (self.root / directory).iterdir():
                if blob.name not in keep_blobs:
                    freed += blob.stat().st_size
                    blob.unlink()
        mounts = _mounts()  # an image removed while kernels run in it stays until they end
        for rootfs in (self.root / "rootfs").iterdir():
            if rootfs.name not in keep_roots and str(rootfs) not in mounts:
                shutil.rmtree(rootfs, ignore_errors=True)
        return freed

    async def _make_room(self, size: int) -> None:
        if self.limit_bytes is None:
            return
        if size > self.limit_bytes:
            raise StoreFull(f"the image needs {size} bytes; the store holds at most "
                            f"{self.limit_bytes}")  # fmt: skip
        if await asyncio.to_thread(self.usage) + size > self.limit_bytes:
            await self.gc()
            while await asyncio.to_thread(self.usage) + size > self.limit_bytes:
                victim = await self._victim()
                if victim is None:
                    raise StoreFull(f"the image store is full ({self.limit_bytes} bytes) with "
                                    "images sessions use")  # fmt: skip
                await asyncio.to_thread(self.remove, victim)
                await self.gc()

    async def _victim(self) -> str | None:
        """The image to evict: the least recently used one no kernel's overlay mounts, else
        the least recently used one that pre-built sandboxes alone held (let go now)."""
        victim = await asyncio.to_thread(self._least_recent_idle)
        if victim is not None or self.release is None:
            return victim
        for digest in await asyncio.to_thread(self._by_use):
            if await self.release(digest):
                return await asyncio.to_thread(self._least_recent_idle)
        return None

    def _by_use(self, cutoff: float | None = None) -> list[str]:
        """Digests of the images a kernel's overlay mounts, least recently used first (and
        only those last used before ``cutoff``)."""
        mounts = _mounts()
        records = sorted((self.root / "images").glob("*.json"), key=lambda p: p.stat().st_mtime)
        return [f"sha256:{path.stem}" for path in records
                if (cutoff is None or path.stat().st_mtime < cutoff)
                and str(self.rootfs_path(f"sha256:{path.stem}")) in mounts]  # fmt: skip

    def _least_recent_idle(self) -> str | None:
        """The digest of the image used longest ago that no kernel's overlay mounts."""
        mounts = _mounts()
        records = sorted((self.root / "images").glob("*.json"), key=lambda p: p.stat().st_mtime)
        for path in records:
            if str(self.rootfs_path(f"sha256:{path.stem}")) not in mounts:
                return f"sha256:{path.stem}"
        return None


def _mounts() -> str:
    """What names the image roots kernels' overlays mount: /proc/self/mounts (an overlay's
    options name its lower dir) and the command lines of fuse-overlayfs processes (a FUSE
    mount's line does not: without them a non-root agent's images would all look idle)."""
    proc = Path("/proc")
    if not (proc / "self" / "mounts").exists():
        return ""
    found = [(proc / "self" / "mounts").read_text()]
    for entry in proc.iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if argv[0].endswith(b"fuse-overlayfs"):
                    found.append(b" ".join(argv).decode(errors="replace"))
    return "\n".join(found)


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_bytes(data)
    temporary.replace(path)
