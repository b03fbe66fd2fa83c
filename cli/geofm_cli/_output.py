"""Plain-text tables and JSON output for the listing commands (fast: no rich, no torch)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from typing import Any

import typer

__all__ = ["echo_json", "echo_table", "short"]


def short(value: Any, width: int = 60) -> str:
    """``value`` as one line of at most ``width`` characters."""
    if isinstance(value, list | tuple):
        text = ",".join(str(v) for v in value)
    elif value is None:
        text = "-"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print ``rows`` under ``headers`` in aligned columns; the last column takes what width is left."""
    cells = [[short(c, 200) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    total = shutil.get_terminal_size((160, 20)).columns
    used = sum(widths[:-1]) + 2 * (len(headers) - 1)
    widths[-1] = max(20, min(widths[-1], total - used))

    def line(values: Sequence[str]) -> str:
        parts = [short(v, w).ljust(w) for v, w in zip(values, widths, strict=True)]
        return "  ".join(parts).rstrip()

    typer.echo(line(list(headers)))
    for row in cells:
        typer.echo(line(row))


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    typer.echo(json.dumps(data, indent=2, default=str))
