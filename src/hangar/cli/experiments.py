"""``hangar experiments``: tracked experiments (ClearML tasks) at a glance, no UI needed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from hangar.cli.common import OUTPUT, done, print_json, run, show
from hangar.cli.render import console, table
from hangar.client.experiments import Experiments, ExperimentsConfig, TaskSummary
from hangar.client.queues import abort, enqueue

T = TypeVar("T")

app = typer.Typer(
    help="Tracked experiments (ClearML tasks): list them, show one, print its scalars.",
    no_args_is_help=True,
)

TaskArg = Annotated[str, typer.Argument(help="Task id, or exact task name (the newest).")]
FIELDS = (
    "id", "name", "project", "type", "status", "status_reason", "status_message", "created",
    "started", "completed", "last_update", "last_iteration", "comment", "tags",
)  # fmt: skip


def _with(action: Callable[[Experiments], Awaitable[T]]) -> T:
    async def main() -> T:
        async with Experiments(ExperimentsConfig.load()) as client:
            return await action(client)

    return run(main())


@app.command("ls")
def ls(
    project: Annotated[str | None, typer.Option("--project", "-p", help="Project name.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status (completed, ...).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
) -> None:
    """List experiments, the most recently updated first."""
    tasks: list[TaskSummary] = _with(lambda x: x.tasks(project=project, status=status, limit=limit))
    rows = [(t.id, t.project, t.name, t.status, t.last_update) for t in tasks]
    show("Experiments", ["id", "project", "name", "status", "last_update"], rows)


def _num(value: Any) -> Any:
    """A float shortened for tables (JSON output keeps every digit)."""
    if isinstance(value, float) and not OUTPUT.json:
        return f"{value:.6g}"
    return value


def _hyperparams(task: dict[str, Any]) -> list[tuple[str, str, Any]]:
    rows = []
    for section, params in sorted((task.get("hyperparams") or {}).items()):
        for name, param in sorted((params or {}).items()):
            rows.append((section, name, (param or {}).get("value")))
    return rows


def _metrics(task: dict[str, Any]) -> list[tuple[str, str, Any, Any, Any]]:
    rows = []
    for variants in (task.get("last_metrics") or {}).values():
        for entry in (variants or {}).values():
            values = (entry.get(k) for k in ("value", "min_value", "max_value"))
            last, low, high = (_num(v) for v in values)
            rows.append((entry.get("metric", ""), entry.get("variant", ""), last, low, high))
    return sorted(rows, key=lambda r: (str(r[0]), str(r[1])))


async def _task_with_project(client: Experiments, ref: str) -> dict[str, Any]:
    task = await client.task(ref)
    project = task.get("project")
    names = await client.project_names({project} if project else set())
    return {**task, "project": names.get(project or "", project or "")}


@app.command("show")
def show_task(task: TaskArg) -> None:
    """One experiment: its fields, hyperparameters and last metrics."""
    found = _with(lambda x: _task_with_project(x, task))
    if OUTPUT.json:
        print_json(found)
        return
    fields = [(name, found.get(name)) for name in FIELDS if found.get(name) not in (None, "", [])]
    console.print(table(f"Experiment {found.get('name', '')}", ["field", "value"], fields))
    params = _hyperparams(found)
    if params:
        console.print(table("Hyperparameters", ["section", "name", "value"], params))
    metrics = _metrics(found)
    if metrics:
        console.print(table("Last metrics", ["metric", "variant", "last", "min", "max"], metrics))


@app.command("scalars")
def scalars(
    task: TaskArg,
    metric: Annotated[str | None, typer.Argument(help="A metric (title) to print.")] = None,
    last: Annotated[int, typer.Option(min=1, max=1000, help="Values per series.")] = 10,
) -> None:
    """The last value of every scalar series, or a metric's last values per variant."""
    if metric is None:
        found = _with(lambda x: x.task(task))
        show("Scalars (last values)", ["metric", "variant", "last", "min", "max"], _metrics(found))
        return

    async def points(client: Experiments) -> list[tuple[str, int, float]]:
        task_id = str((await client.task(task))["id"])
        found = await client.last_points(task_id, metric, last)
        return [(p.variant, p.iteration, _num(p.value)) for p in found]

    show(f"Scalars of {metric}", ["variant", "iteration", "value"], _with(points))


@app.command("enqueue")
def enqueue_task(
    task: TaskArg,
    queue: Annotated[str, typer.Option("--queue", "-q", help="Queue id or name.")] = "default",
    priority: Annotated[int, typer.Option(help="Higher runs sooner (ties: first come).")] = 0,
) -> None:
    """Put an experiment into a queue: Hangar or an agent serving the queue runs it."""
    task_id, name, position = _with(lambda x: enqueue(x, task, queue, priority=priority))
    done(f"Task {task_id} queued in {name} at position {position + 1}",
         {"task": task_id, "queue": name, "position": position})  # fmt: skip


@app.command("abort")
def abort_task(task: TaskArg) -> None:
    """Stop an experiment: a queued one leaves its queue, a running one is ended by its
    worker."""
    task_id, status = _with(lambda x: abort(x, task))
    message = "stopped" if status == "stopped" else f"asked to stop (now {status})"
    done(f"Task {task_id} {message}", {"task": task_id, "status": status})
