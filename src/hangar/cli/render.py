"""Rich objects and JSON for command output; commands choose, this module draws."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

ISO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}:\d{2}|Z)?$")


def cell(value: Any) -> str:
    """A value as a table cell: ``-`` for nothing, timestamps to the second."""
    if value is None:
        return "-"
    text = str(value)
    match = ISO_TIME.match(text)
    if match:
        zone = match.group(4)
        suffix = "" if zone in (None, "Z", "+00:00") else zone
        return f"{match.group(1)} {match.group(2)}{suffix}"
    return text


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*(cell(v) for v in row))
    return t


def records(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """Rows one below the other as ``column  value`` pairs, for tables too wide to read."""
    t = Table(title=title, show_header=False, show_lines=True)
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    width = max(len(c) for c in columns)
    for row in rows:
        t.add_row("\n".join(c.ljust(width) for c in columns), "\n".join(cell(v) for v in row))
    return t


def _natural_width(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(cell(v))) for w, v in zip(widths, row, strict=True)]
    return sum(widths) + 3 * len(widths) + 1


def emit(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, as_json: bool
) -> None:
    """Print rows as a table (as records when it would not fit the terminal), or as
    ``{"count", "items"}`` JSON keyed by column name."""
    if as_json:
        items = [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in rows]
        print(json.dumps({"count": len(items), "items": items}, indent=2))
    elif rows and len(columns) > 3 and _natural_width(columns, rows) > console.width:
        console.print(records(title, columns, rows))
    else:
        console.print(table(title, columns, rows))


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def fail(message: str) -> None:
    err_console.print(f"[bold red]Error:[/] {message}")
