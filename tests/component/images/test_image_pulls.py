"""Pulls from a real registry on loopback into a node's image store.

The images are built here from host files and pushed with skopeo: OCI and Docker schema 2
manifests, gzip and zstd layers, an index with two platforms, a private repository.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from hangar.agent.images.store import ImageStore, PullProgress, StoredImage, StoreFull
from hangar.util.oci.distribution import Credentials, DigestMismatch, RegistryClient, RegistryError
from hangar.util.oci.reference import parse_reference
from tests.component.images.conftest import PASSWORD, USER
from tests.support.oci_images import ImageBuild, Layout, directory, file, shell_rootfs
from tests.support.registry import Registry

BASE = [directory("etc"), file("etc/base.txt", "base layer\n" * 1000)]


def _push(registry: Registry, tmp: Path, repo: str, build: ImageBuild, fmt: str = "") -> None:
    layout = Layout(tmp / f"layout-{repo.replace('/', '-')}")
    layout.tag(layout.image(build), "latest")
    registry.push(layout.root, f"{repo}:latest", fmt=fmt)


async def _pull(
    registry: Registry, store: ImageStore, repo: str, credentials: Credentials | None = None
) -> tuple[StoredImage, list[PullProgress]]:
    seen: list[PullProgress] = []
    async with RegistryClient(registry.host, credentials) as client:
        image = await store.pull(client, parse_reference(f"{registry.host}/{repo}:latest"),
                                 lambda p: seen.append(PullProgress(**vars(p))))  # fmt: skip
    return image, seen


async def test_a_pulled_image_has_its_files_config_and_progress(
    registry: Registry, tmp_path: Path, store_dir: Path
) -> None:
    build = ImageBuild([shell_rootfs(), [file("app/run.sh", "echo hi\n", 0o755)]],
                       cmd=["/app/run.sh"], working_dir="/app", env=["A=1"],
                       labels={"ai.backend.features": "batch"})  # fmt: skip
    _push(registry, tmp_path, "team/shell", build)
    store = ImageStore(store_dir)
    image, seen = await _pull(registry, store, "team/shell")
    assert (image.rootfs / "app/run.sh").read_text() == "echo hi\n"
    assert (image.rootfs / "bin").is_symlink() and (image.rootfs / "usr/bin/dash").is_file()
    assert image.config.cmd == ("/app/run.sh",) and image.config.working_dir == "/app"
    assert image.config.labels == {"ai.backend.features": "batch"}
    assert seen[-1].phase == "done" and seen[-1].done == seen[-1].total == image.manifest.size
    assert any(p.phase == "downloading" and 0 < p.done < p.total for p in seen)
    assert store.find(f"{registry.host}/team/shell:latest") is not None


@pytest.mark.parametrize(("compression", "fmt"), [("zstd", ""), ("gzip", "v2s2")])
async def test_zstd_layers_and_docker_schema2_manifests(
    registry: Registry, tmp_path: Path, store_dir: Path, compression: str, fmt: str
) -> None:
    repo = f"fmt/{compression}"
    _push(registry, tmp_path, repo, ImageBuild([BASE, [file("x", compression)]],
                                               compression=compression), fmt)  # fmt: skip
    image, _ = await _pull(registry, ImageStore(store_dir), repo)
    assert (image.rootfs / "x").read_text() == compression
    media = json.loads(Path(image.rootfs).parent.parent.joinpath(
        "images", image.manifest.digest[7:] + ".json").read_text())["manifest"]  # fmt: skip
    expected = "docker.distribution" if fmt else "oci.image"
    assert expected in media["mediaType"]


async def test_an_index_gives_the_hosts_platform(
    registry: Registry, tmp_path: Path, store_dir: Path
) -> None:
    layout = Layout(tmp_path / "multi")
    builds = [ImageBuild([[file("arch", arch)]], architecture=arch) for arch in ("arm64", "amd64")]
    layout.multi_platform(builds, "latest")
    registry.push(layout.root, "multi/arch:latest", all_=True)
    store = ImageStore(store_dir)
    image, _ = await _pull(registry, store, "multi/arch")
    assert (image.rootfs / "arch").read_text() == "amd64"
    async with RegistryClient(registry.host) as client:
        with pytest.raises(Exception, match="no linux/s390x image"):
            await store.pull(client, parse_reference(f"{registry.host}/multi/arch"),
                             architecture="s390x")  # fmt: skip


async def test_a_second_image_on_the_same_base_downloads_only_its_layer(
    registry: Registry, tmp_path: Path, store_dir: Path
) -> None:
    big = [file("base.bin", bytes(range(256)) * 4096)]  # 1 MiB, gzip keeps most of it
    _push(registry, tmp_path, "share/one", ImageBuild([big, [file("one", "1")]]))
    _push(registry, tmp_path, "share/two", ImageBuild([big, [file("two", "2")]]))
    store = ImageStore(store_dir)
    first, seen_first = await _pull(registry, store, "share/one")
    second, seen_second = await _pull(registry, store, "share/two")
    new_layer = second.manifest.layers[1].descriptor.size
    assert seen_first[-1].fetched == sum(lay.descriptor.size for lay in first.manifest.layers)
    assert seen_second[-1].fetched == new_layer
    assert (second.rootfs / "two").exists() and not (second.rootfs / "one").exists()


async def test_an_interrupted_download_resumes(
    registry: Registry, tmp_path: Path, store_dir: Path
) -> None:
    payload = [file("blob.bin", bytes(range(256)) * 8192)]
    _push(registry, tmp_path, "resume/me", ImageBuild([payload], compression="none"))
    store = ImageStore(store_dir)
    async with RegistryClient(registry.host) as client:
        manifest, _ = await client.manifest(parse_reference(f"{registry.host}/resume/me"), "amd64")
        layer = manifest.layers[0].descriptor
        partial = store_dir / "partial" / layer.hex
        await client.download("resume/me", layer, partial)
        data = partial.read_bytes()
        partial.write_bytes(data[: len(data) // 3])  # as a cut connection leaves it
    image, seen = await _pull(registry, store, "resume/me")
    assert seen[-1].fetched == layer.size - len(data) // 3
    assert (image.rootfs / "blob.bin").stat().st_size == 256 * 8192


def _corrupt(registry: Registry, digest: str) -> None:
    """Change one byte of a blob in the registry's storage (same size, other digest)."""
    stored = next(registry.root.rglob(f"blobs/sha256/{digest[:2]}/{digest}/data"))
    data = stored.read_bytes()
    stored.write_bytes(data[:20] + bytes([data[20] ^ 0xFF]) + data[21:])


async def test_a_blob_that_does_not_match_its_digest_is_refused(
    registry: Registry, tmp_path: Path, store_dir: Path
) -> None:
    _push(registry, tmp_path, "bad/blob", ImageBuild([[file("ok", "original")]]))
    async with RegistryClient(registry.host) as client:
        manifest, _ = await client.manifest(parse_reference(f"{registry.host}/bad/blob"), "amd64")
    digest = manifest.layers[0].descriptor.hex
    _corrupt(registry, digest)
    store = ImageStore(store_dir)
    with pytest.raises(DigestMismatch):
        await _pull(registry, store, "bad/blob")
    assert not any((store_dir / "blobs/sha256").iterdir()) or not (
        store_dir / "blobs/sha256" / digest).exists()  # fmt: skip
    assert store.find(f"{registry.host}/bad/blob:latest") is None


async def test_a_private_image_needs_its_credentials(
    private_registry: Registry, tmp_path: Path, store_dir: Path
) -> None:
    _push(private_registry, tmp_path, "private/app", ImageBuild([[file("secret", "s")]]))
    store = ImageStore(store_dir)
    with pytest.raises(RegistryError, match="requires a login") as refused:
        await _pull(private_registry, store, "private/app")
    assert refused.value.status == 401
    with pytest.raises(RegistryError, match="refused the credentials"):
        await _pull(private_registry, store, "private/app", Credentials(USER, "wrong"))
    image, _ = await _pull(private_registry, store, "private/app", Credentials(USER, PASSWORD))
    assert (image.rootfs / "secret").read_text() == "s"


async def test_gc_keeps_shared_blobs_and_the_limit_refuses_big_images(
    registry: Registry, tmp_path: Path, store_dir: Path
) -> None:
    big = [file("base.bin", bytes(range(256)) * 4096)]
    _push(registry, tmp_path, "gc/one", ImageBuild([big, [file("one", "1")]]))
    _push(registry, tmp_path, "gc/two", ImageBuild([big, [file("two", "2")]]))
    store = ImageStore(store_dir)
    one, _ = await _pull(registry, store, "gc/one")
    two, _ = await _pull(registry, store, "gc/two")
    assert store.remove(f"{registry.host}/gc/one:latest")
    freed = await store.gc()
    assert freed == one.manifest.layers[1].descriptor.size + one.manifest.config.size
    assert not one.rootfs.exists() and (two.rootfs / "base.bin").exists()
    small = ImageStore(tmp_path / "small", limit_bytes=1000)
    with pytest.raises(StoreFull, match="at most 1000"):
        await _pull(registry, small, "gc/two")


async def test_token_auth_asks_the_realm_for_a_scoped_token(
    token_registry: Registry, tmp_path: Path, store_dir: Path
) -> None:
    _push(token_registry, tmp_path, "tok/app", ImageBuild([[file("t", "token")]]))
    store = ImageStore(store_dir)
    with pytest.raises(RegistryError, match="requires a login"):
        await _pull(token_registry, store, "tok/app")
    with pytest.raises(RegistryError, match="refused"):
        await _pull(token_registry, store, "tok/app", Credentials(USER, "wrong"))
    image, _ = await _pull(token_registry, store, "tok/app", Credentials(USER, PASSWORD))
    assert (image.rootfs / "t").read_text() == "token"


async def test_the_size_limit_evicts_the_image_used_longest_ago(
    registry: Registry, tmp_path: Path, store_dir: Path
) -> None:
    for name in ("a", "b", "c"):
        payload = [file(f"{name}.bin", random.Random(name).randbytes(300_000))]
        _push(registry, tmp_path, f"lru/{name}", ImageBuild([payload]))
    store = ImageStore(store_dir, limit_bytes=700_000)  # room for two
    for name in ("a", "b"):
        await _pull(registry, store, f"lru/{name}")
    assert store.find(f"{registry.host}/lru/a:latest") is not None  # a is used again
    await _pull(registry, store, "lru/c")
    present = {n for n in "abc" if store.find(f"{registry.host}/lru/{n}:latest") is not None}
    assert present == {"a", "c"} and store.usage() <= 700_000
