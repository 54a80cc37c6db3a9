"""``hangar queue``: the queues of experiments, what waits in each and for how long."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from hangar.cli.common import OUTPUT, done, print_json
from hangar.cli.experiments import _with
from hangar.cli.render import console, table
from hangar.client.queues import (
    QueueSummary,
    create_queue,
    delete_queue,
    queue,
    queues,
    update_queue,
)

app = typer.Typer(help="Queues of experiments: list, show, create, update, delete.",
                  no_args_is_help=True)  # fmt: skip


def duration(seconds: float | None) -> str:
    """``1h 02m``, ``3m 05s``, ``12s``; ``-`` for none."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _row(q: QueueSummary) -> tuple[str, str, str, int, str]:
    name = q.name + (" (default)" if q.default else "")
    return q.id, name, q.served_by, q.length, duration(q.longest_wait)


@app.command("ls")
def ls() -> None:
    """List the queues: who serves each, how many tasks wait, the longest wait."""
    found: list[QueueSummary] = _with(queues)
    if OUTPUT.json:
        print_json([q.__dict__ for q in found])
        return
    columns = ["id", "name", "served by", "waiting", "longest wait"]
    console.print(table("Queues", columns, [_row(q) for q in found]))


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="Queue id or name.")],
) -> None:
    """One queue: its tasks in the order they will run, with their wait times."""
    summary, waiting = _with(lambda x: queue(x, ref))
    if OUTPUT.json:
        print_json({**summary.__dict__, "tasks": [w.__dict__ for w in waiting]})
        return
    console.print(table(f"Queue {summary.name}", ["field", "value"], [
        ("id", summary.id), ("served by", summary.served_by), ("waiting", summary.length),
        ("longest wait", duration(summary.longest_wait)),
    ]))  # fmt: skip
    rows = [(w.position, w.task_id, w.name, w.status, w.priority, duration(w.wait))
            for w in waiting]  # fmt: skip
    columns = ["position", "task", "name", "status", "priority", "wait"]
    console.print(table("Waiting tasks", columns, rows))


class ServedBy(enum.StrEnum):
    HANGAR = "hangar"
    EXTERNAL = "external"


ServedByOpt = Annotated[
    ServedBy | None,
    typer.Option("--served-by", help="hangar (Hangar runs its tasks) or external (agents do)."),
]
GroupOpt = Annotated[str | None, typer.Option(help="Scaling group Hangar runs its tasks in.")]
PresetOpt = Annotated[str | None, typer.Option(help="Resource preset of those sessions.")]


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The new queue's name.")],
    served_by: ServedByOpt = None,
    scaling_group: GroupOpt = None,
    resource_preset: PresetOpt = None,
) -> None:
    """Create a queue (administrators)."""
    fields = {"served_by": served_by and served_by.value, "scaling_group": scaling_group,
              "resource_preset": resource_preset}  # fmt: skip
    queue_id = _with(lambda x: create_queue(x, name, **fields))
    done(f"Queue {name} created ({queue_id})", {"id": queue_id, "name": name})


@app.command("update")
def update(
    ref: Annotated[str, typer.Argument(help="Queue id or name.")],
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    served_by: ServedByOpt = None,
    scaling_group: GroupOpt = None,
    resource_preset: PresetOpt = None,
) -> None:
    """Change a queue (administrators): its name, who serves it, where its tasks run."""
    fields = {"name": name, "served_by": served_by and served_by.value,
              "scaling_group": scaling_group, "resource_preset": resource_preset}  # fmt: skip
    queue_id = _with(lambda x: update_queue(x, ref, **fields))
    done(f"Queue {ref} updated", {"id": queue_id})


@app.command("delete")
def delete(
    ref: Annotated[str, typer.Argument(help="Queue id or name.")],
    force: Annotated[bool, typer.Option("--force", help="Even with tasks waiting.")] = False,
) -> None:
    """Delete a queue (administrators); its waiting tasks go back to their former status."""
    queue_id = _with(lambda x: delete_queue(x, ref, force=force))
    done(f"Queue {ref} deleted", {"id": queue_id})
