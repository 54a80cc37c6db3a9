"""Jupyter in a container image: where the image's own Python has the notebook server, the
session offers the ``jupyter`` app, and it runs from the image's files (the notebook server
and its kernels in the image's Python and root); an image without it does not offer the app.

The image holds the host's Python 3.11 and its Debian-packaged notebook server and ipykernel
(copied from /usr/lib/python3/dist-packages), a registry on loopback serves it, the real
bubblewrap runtime runs it and the app is reached as the app proxy reaches it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hangar.agent.node import Node
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from hangar.agent.services.manager import UnknownApp
from tests.component.agent.test_agent_image_services import _forward
from tests.integration.test_bai_apps import run_in_jupyter
from tests.support.agent_node import image_kernel, running_node, text
from tests.support.oci_images import (
    DIST_PACKAGES,
    ImageBuild,
    jupyter_files,
    python_files,
    shell_rootfs,
)
from tests.support.registry import Registry, registry_holding

pytestmark = pytest.mark.skipif(
    not Path(DIST_PACKAGES, "notebook").is_dir(),
    reason="the host has no Debian notebook server to build the image from (python3-notebook)",
)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """img/notebook (Python with Jupyter) and img/py (Python without)."""
    images = {
        "img/notebook:latest": ImageBuild(
            [shell_rootfs(), python_files(), jupyter_files()], compression="zstd"
        ),
        "img/py:latest": ImageBuild([shell_rootfs(), python_files()], compression="zstd"),
    }
    yield from registry_holding(tmp_path_factory, images)


@pytest.fixture
async def node(runtime: BubblewrapRuntime, data_dir: Path) -> AsyncIterator[Node]:
    async with running_node(runtime, data_dir) as node:
        yield node


async def _kernel(node: Node, registry: Registry, name: str) -> uuid.UUID:
    fields = {"interpreter": "/usr/bin/python3", "memory_bytes": 1 << 30}
    return await image_kernel(node, registry.host, name, **fields)


async def test_jupyter_runs_from_the_images_own_python(node: Node, registry: Registry) -> None:
    kernel_id = await _kernel(node, registry, "notebook")
    assert node.services.apps(str(kernel_id)) == ["jupyter", "ttyd", "sshd"]
    code = "import ipykernel, os, sys; print(open('/etc/os-release').read().strip(), "
    code += "sys.executable, os.getcwd(), ipykernel.__file__)"
    async with _forward(node, kernel_id, "jupyter") as port:
        out = await asyncio.to_thread(run_in_jupyter, port, code)
    assert out.split() == [
        "ID=hangar-test",  # the image's root
        "/usr/bin/python3",
        "/home/work",
        f"{DIST_PACKAGES}/ipykernel/__init__.py",  # the image's own, not Hangar's runner
    ]
    # Query mode uses the image's ipykernel too.
    async with contextlib.aclosing(
        node.run_query(kernel_id, "import ipykernel\nprint(ipykernel.__file__)", 60)
    ) as stream:
        records = [record async for record in stream]  # fmt: skip
    assert text(records, "stdout") == f"{DIST_PACKAGES}/ipykernel/__init__.py\n"


async def test_an_image_without_the_notebook_server_offers_no_jupyter(
    node: Node, registry: Registry
) -> None:
    kernel_id = await _kernel(node, registry, "py")
    assert node.services.apps(str(kernel_id)) == ["ttyd", "sshd"]
    with pytest.raises(UnknownApp):
        await node.open_app(kernel_id, "jupyter")
