"""Container images: pull + unpack against skopeo + umoci, image kernels against host ones,
and what a second image on the same base downloads.

Everything runs on this machine: a ``docker-registry`` on loopback (tests/support/registry.py)
holding two images built here from host files and generated data (tests/support/oci_images.py):

* ``bench/big``: a Debian-like base (bash, coreutils, Python 3.11 and its standard library)
  plus ``--layers`` layers of ``--layer-mb`` MiB each (half random bytes, half text; files
  of 64 KiB to 4 MiB), gzip level 1;
* ``bench/next``: the same layers but the last, plus a small layer of its own.

Measured, alternating the order each round (``--repeat``), fresh directories each time:

1. ``hangar``  ImageStore.pull (concurrent layer downloads, streaming sha256, then unpack);
2. ``skopeo``  ``skopeo copy docker://… oci:DIR:tag`` + ``umoci unpack --image DIR:tag B``.
   The headline is skopeo+umoci time / hangar time (>= 0.8 wanted).
3. ``bench/next`` pulled into the store holding ``bench/big``: bytes fetched vs its new layer.
4. Batch kernels on the node (bubblewrap runtime, no server): create -> first output of
   ``python -c 'print(1)'`` -> destroy, ``--kernels`` times each, on the host Python and on
   the cached image (its own Python over a per-kernel overlay). Headline: image / host
   median (<= 1.2 wanted).
5. The same through a ``hangar server`` (its defaults: pre-built sandboxes for the host
   image and, once a session used it, for the image), as ``backend.ai run`` drives it:
   signed ``POST /session`` held until RUNNING, the batch run over the execute WebSocket
   until ``1`` arrives and the run ends, ``DELETE`` (bench/session_latency.py's client).
   The registry is added and rescanned with the official CLI first; one session per image
   warms up (the image is pulled then).
   Headline: image / host median (<= 1.2 wanted).

    .venv/bin/python bench/images.py [--layers 4] [--layer-mb 110] [--repeat 2] [--kernels 10]
        [--sessions 10] [--only-sessions]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hangar.agent.images.store import ImageStore, PullProgress  # noqa: E402
from hangar.agent.models import BatchSteps, ImageRequest  # noqa: E402
from hangar.agent.runtimes.bubblewrap import BubblewrapConfig, BubblewrapRuntime  # noqa: E402
from hangar.util.oci.distribution import RegistryClient  # noqa: E402
from hangar.util.oci.reference import parse_reference  # noqa: E402
from tests.support.agent_node import collect, make_node, request, text  # noqa: E402
from tests.support.oci_images import (  # noqa: E402
    Entry,
    ImageBuild,
    Layout,
    directory,
    file,
    python_files,
    shell_rootfs,
)
from tests.support.registry import Registry, start_registry  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
import session_latency as latency  # noqa: E402

SKOPEO, UMOCI = "/usr/bin/skopeo", "/usr/bin/umoci"


def data_layer(index: int, megabytes: int, seed: int) -> list[Entry]:
    """``megabytes`` MiB in files of 64 KiB..4 MiB, half random bytes, half text."""
    rng = random.Random(seed * 1000 + index)
    entries = [directory(f"data{index}")]
    left, number = megabytes << 20, 0
    words = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod\n"
    while left > 0:
        size = min(left, rng.choice((64 << 10, 256 << 10, 1 << 20, 4 << 20)))
        body = rng.randbytes(size) if number % 2 else (words * (size // len(words) + 1))[:size]
        entries.append(file(f"data{index}/f{number:05d}.bin", body))
        left -= size
        number += 1
    return entries


def build_images(root: Path, layers: int, megabytes: int) -> Layout:
    layout = Layout(root / "layout")
    base = [*shell_rootfs(), *python_files()]
    data = [data_layer(i, megabytes, 1) for i in range(layers)]
    layout.tag(layout.image(ImageBuild([base, *data], env=["PATH=/usr/bin:/bin"])), "big")
    extra = [file("next/marker", "second image\n"), *data_layer(99, 8, 2)]
    layout.tag(layout.image(ImageBuild([base, *data[:-1], extra])), "next")
    return layout


async def pull(registry: Registry, store: ImageStore, repo: str) -> PullProgress:
    last: list[PullProgress] = [PullProgress(repo)]

    def seen(progress: PullProgress) -> None:
        last[0] = progress

    async with RegistryClient(registry.host) as client:
        await store.pull(client, parse_reference(f"{registry.host}/{repo}:latest"), seen)
    return last[0]


def skopeo_umoci(registry: Registry, work: Path) -> None:
    subprocess.run([SKOPEO, "copy", "--quiet", "--src-tls-verify=false",
                    f"docker://{registry.host}/bench/big:latest", f"oci:{work / 'oci'}:big"],
                   check=True)  # fmt: skip
    subprocess.run([UMOCI, "unpack", "--image", f"{work / 'oci'}:big", str(work / "bundle")],
                   check=True, capture_output=True)  # fmt: skip


async def compare_pulls(registry: Registry, root: Path, repeat: int) -> tuple[float, float]:
    ours, theirs = [], []
    for round_ in range(repeat):
        for who in ("hangar", "skopeo") if round_ % 2 == 0 else ("skopeo", "hangar"):
            work = Path(tempfile.mkdtemp(dir=root, prefix=f"{who}-"))
            started = time.perf_counter()
            if who == "hangar":
                await pull(registry, ImageStore(work / "store"), "bench/big")
                ours.append(time.perf_counter() - started)
            else:
                await asyncio.to_thread(skopeo_umoci, registry, work)
                theirs.append(time.perf_counter() - started)
            print(f"  round {round_ + 1} {who:7s} {time.perf_counter() - started:6.2f} s")
            shutil.rmtree(work)
    return statistics.median(ours), statistics.median(theirs)


async def shared_base(registry: Registry, root: Path) -> tuple[int, int, int]:
    store = ImageStore(root / "shared-store")
    first = await pull(registry, store, "bench/big")
    second = await pull(registry, store, "bench/next")
    found = store.find(f"{registry.host}/bench/next:latest")
    assert found is not None
    new = found.manifest.layers[-1].descriptor.size  # (configs are fetched apart, uncounted)
    shutil.rmtree(root / "shared-store")
    return first.fetched, second.fetched, new


async def kernels(registry: Registry, root: Path, count: int) -> tuple[float, float]:
    data = root / "node"
    (data / "scratch").mkdir(parents=True)
    runtime = BubblewrapRuntime.start(BubblewrapConfig(state_dir=data / "agent",
                                                       hidden_paths=(data,)))  # fmt: skip
    node = make_node(runtime, data)
    image = ImageRequest(f"{registry.host}/bench/next:latest")
    await node.images.ensure(image)  # cached before timing
    times: dict[str, list[float]] = {"host": [], "image": []}
    for round_ in range(count + 1):
        for kind in ("host", "image") if round_ % 2 == 0 else ("image", "host"):
            wanted = request(interactive=False, image=image if kind == "image" else None)
            started = time.perf_counter()
            await node.create_kernel(wanted)
            records = await collect(node, wanted.kernel_id,
                                    BatchSteps(exec="python -c 'print(1)'"))  # fmt: skip
            assert text(records, "stdout") == "1\n", records
            await node.destroy_kernel(wanted.kernel_id)
            await node.settle()
            if round_ > 0:  # the first round warms up
                times[kind].append(time.perf_counter() - started)
    runtime.release()
    return statistics.median(times["host"]), statistics.median(times["image"])


def _official(server: latency.Server, *args: str) -> str:
    """Run the official ``backend.ai`` CLI against ``server`` (setup only, not timed)."""
    cli = BENCH_DIR.parent / ".official-clients" / "bai" / "bin" / "backend.ai"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANGAR_", "BACKEND_"))}
    env.update(BACKEND_ENDPOINT=server.endpoint, BACKEND_ENDPOINT_TYPE="api",
               BACKEND_ACCESS_KEY=server.access_key, BACKEND_SECRET_KEY=server.secret_key,
               HOME=str(server.home))  # fmt: skip
    done = subprocess.run([str(cli), *args], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"backend.ai {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


def _session(client: latency.Client, image: str) -> dict[str, float]:
    """One session on ``image``: create -> batch ``print(1)`` -> destroy; seconds of each
    phase and in all."""
    body = latency.create_body(f"img-{uuid.uuid4().hex[:12]}")
    body["image"] = image
    started = time.perf_counter()
    created = client.call("POST", "/session", body)
    if created.status_code != 201 or created.json().get("status") != "RUNNING":
        raise RuntimeError(f"create on {image}: {created.status_code} {created.text}")
    session_id = created.json()["sessionId"]
    created_at = time.perf_counter()
    try:
        run = latency.run_ws(client, session_id)
    finally:
        ran_at = time.perf_counter()
        destroyed = client.call("DELETE", f"/session/{session_id}")
    ended = time.perf_counter()
    if destroyed.status_code != 200 or run.exit_code != 0 or run.stdout.strip() != "1":
        raise RuntimeError(f"{image}: destroy {destroyed.status_code}, exit {run.exit_code}, "
                           f"stdout {run.stdout!r}, stderr {run.stderr[-300:]!r}")  # fmt: skip
    return {"create": created_at - started, "run": ran_at - created_at,
            "destroy": ended - ran_at, "total": ended - started}  # fmt: skip


def sessions(registry: Registry, root: Path, count: int) -> dict[str, dict[str, float]]:
    """Median seconds of each phase of a session on the host image and on the cached image,
    through the server, interleaved."""
    (root / "server").mkdir()
    server = latency.start_server(root / "server", None, "WARNING")
    client = latency.Client(server)
    try:
        key = f"config/docker/registry/{registry.host}"
        _official(server, "admin", "etcd", "set", key, f"http://{registry.host}")
        _official(server, "admin", "image", "rescan", "-r", registry.host)
        images = {"host": "python", "image": f"{registry.host}/bench/next:latest"}
        times: dict[str, list[dict[str, float]]] = {"host": [], "image": []}
        for round_ in range(count + 1):
            for kind in ("host", "image") if round_ % 2 == 0 else ("image", "host"):
                phases = _session(client, images[kind])
                if round_ > 0:  # the first round pulls the image and warms up
                    times[kind].append(phases)
        return {kind: {phase: statistics.median(t[phase] for t in found) for phase in found[0]}
                for kind, found in times.items()}  # fmt: skip
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}{server.tail()}") from None
    finally:
        client.close()
        server.stop()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mb", type=int, default=110)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--kernels", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--only-sessions", action="store_true",
                        help="build small images and measure step 5 alone")  # fmt: skip
    args = parser.parse_args()
    if args.only_sessions:
        args.layers, args.layer_mb = 1, 8
    root = _make_root()
    try:
        started = time.perf_counter()
        layout = build_images(root, args.layers, args.layer_mb)
        size = sum(p.stat().st_size for p in (layout.root / "blobs/sha256").iterdir())
        print(f"built images in {time.perf_counter() - started:.1f} s ({size / 2**20:.0f} MiB "
              "of blobs)")  # fmt: skip
        with start_registry(root / "registry") as registry:
            for tag in ("big", "next"):
                registry.push(layout.root, f"bench/{tag}:latest", tag=tag)
            if not args.only_sessions:
                await measure_node(registry, root, args)
            found = await asyncio.to_thread(sessions, registry, root, args.sessions)
            host, image = found["host"]["total"], found["image"]["total"]
            print(f"session through the server create->output->destroy (median of "
                  f"{args.sessions}): host {host * 1000:.0f} ms, image {image * 1000:.0f} ms -> "
                  f"{image / host:.2f}x (<= 1.2 wanted)")  # fmt: skip
            for kind, phases in found.items():
                shown = ", ".join(f"{k} {v * 1000:.0f}" for k, v in phases.items() if k != "total")
                print(f"  {kind:5s} medians (ms): {shown}")
    finally:
        await asyncio.to_thread(_clean, root)
    return 0


async def measure_node(registry: Registry, root: Path, args: argparse.Namespace) -> None:
    """Steps 1-4: pulls against skopeo+umoci, the shared base, kernels on the node."""
    ours, theirs = await compare_pulls(registry, root, args.repeat)
    print(f"pull+unpack bench/big: hangar {ours:.2f} s, skopeo+umoci {theirs:.2f} s "
          f"-> {theirs / ours:.2f}x (>= 0.8 wanted)")  # fmt: skip
    first, second, new = await shared_base(registry, root)
    print(f"shared base: bench/big fetched {first / 2**20:.1f} MiB; bench/next then "
          f"fetched {second} bytes; its own layer is {new} bytes")  # fmt: skip
    host, image = await kernels(registry, root, args.kernels)
    print(f"batch kernel create->output->destroy (median of {args.kernels}): host "
          f"{host * 1000:.0f} ms, image {image * 1000:.0f} ms -> {image / host:.2f}x "
          "(<= 1.2 wanted)")  # fmt: skip


def _make_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="hangar-bench-images-", dir="/var/tmp"))
    root.chmod(0o755)  # the work user passes through to the kernels' shims
    return root


def _clean(root: Path) -> None:
    """Unmount what a failed run left mounted under ``root``, then delete it."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            if str(root) in line:
                subprocess.run(["umount", "-l", line.split()[1]], check=False)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(asyncio.run(main()))
