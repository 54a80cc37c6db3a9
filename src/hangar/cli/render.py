"""Rich objects and JSON for command output; commands choose, this module draws."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*("-" if v is None else str(v) for v in row))
    return t


def emit(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, as_json: bool
) -> None:
    """Print rows as a table, or as ``{"count", "items"}`` JSON keyed by column name."""
    if as_json:
        items = [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in rows]
        print(json.dumps({"count": len(items), "items": items}, indent=2))
    else:
        console.print(table(title, columns, rows))


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def fail(message: str) -> None:
    err_console.print(f"[bold red]Error:[/] {message}")
