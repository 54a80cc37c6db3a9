"""``hangar image pull|ls|rm|gc``: this node's image store (what the embedded agent runs
sessions from), filled ahead of time with progress bars.

A session pulls its image by itself; ``hangar image pull`` fetches it before, on the machine
it runs on, into the same store (``<data dir>/scratch/.hangar-images``). Credentials come from
``--username`` and ``--password-stdin`` (or ``HANGAR_REGISTRY_PASSWORD``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)

from hangar.agent.images.node_images import IMAGE_STORE_DIR, NodeImages, normalized
from hangar.agent.images.store import ImageStore, PullProgress
from hangar.agent.models import ImageRequest
from hangar.agent.node_errors import NodeError
from hangar.cli.common import OUTPUT

app = typer.Typer(help="Container images on this node: pull, list, remove, collect garbage.")
console = Console(stderr=True)


def _images() -> NodeImages:
    """The embedded agent's images (files of other owners become the work user's, as the
    agent unpacks them when it runs as root)."""
    from hangar.settings import load_settings

    settings = load_settings()
    owner = (settings.sandbox.work_uid, settings.sandbox.work_gid) if os.geteuid() == 0 else None
    return NodeImages(settings.scratch_dir / IMAGE_STORE_DIR, owner=owner)


def _store() -> ImageStore:
    return _images().store


class _Bars:
    """One bar for the whole image and one per layer, fed by PullProgress updates."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.total: TaskID | None = None
        self.layers: dict[str, TaskID] = {}

    def __call__(self, update: PullProgress) -> None:
        if self.total is None:
            self.total = self.progress.add_task("image", total=update.total)
        for digest, (done, size) in update.layers.items():
            if digest not in self.layers:
                self.layers[digest] = self.progress.add_task(digest[7:19], total=size)
            self.progress.update(self.layers[digest], completed=done)
        self.progress.update(self.total, completed=update.done,
                             description=update.phase)  # fmt: skip


@app.command("pull")
def pull(
    reference: Annotated[str, typer.Argument(help="HOST[:PORT]/NAME[:TAG] or NAME[:TAG].")],
    username: Annotated[str | None, typer.Option(help="Registry user name.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the registry password from stdin.")
    ] = False,
    insecure: Annotated[bool, typer.Option(help="Plain HTTP (loopback: always).")] = False,
) -> None:
    """Pull an image into this node's store, showing each layer's progress."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    password = password or os.environ.get("HANGAR_REGISTRY_PASSWORD")
    request = ImageRequest(reference, username=username, password=password, insecure=insecure)
    images = _images()
    columns = (TextColumn("{task.description:>14}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn())  # fmt: skip
    with Progress(*columns, console=console, disable=OUTPUT.json) as progress:
        try:
            image = asyncio.run(images.ensure(request, _Bars(progress)))
        except NodeError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    if OUTPUT.json:
        typer.echo(f'{{"reference": "{image.reference}", "digest": "{image.manifest.digest}"}}')
    else:
        typer.echo(f"{image.reference} {image.manifest.digest} ({image.manifest.size} bytes)")


@app.command("ls")
def list_images() -> None:
    """The images in this node's store."""
    for image in _store().images():
        typer.echo(f"{image.reference}\t{image.manifest.digest}\t{image.manifest.size}")


@app.command("rm")
def remove(reference: Annotated[str, typer.Argument(help="Reference or digest.")]) -> None:
    """Forget an image (its blobs go at the next ``gc``)."""
    if not _store().remove(normalized(reference)):
        console.print(f"[red]no image {reference} in this node's store[/red]")
        raise typer.Exit(1)


@app.command("gc")
def collect_garbage() -> None:
    """Delete the blobs and root file systems no stored image uses."""
    freed = asyncio.run(_store().gc())
    typer.echo(f"freed {freed} bytes")
