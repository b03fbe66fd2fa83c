"""``geofm backbones|necks|decoders|datasets|tasks list|show``: browse the registry without importing torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from geofm_cli._output import echo_json, echo_table, short

__all__ = ["component_app"]

Row = Callable[[Any], list[Any]]

_COLUMNS: dict[str, tuple[list[str], Row]] = {
    "backbones": (
        ["NAME", "FEATURES", "DIM", "PATCH", "BANDS", "WEIGHTS", "PLUGIN", "SUMMARY"],
        lambda s: [
            s.name,
            f"{s.output_kind} x{len(s.feature_channels)}",
            s.embed_dim,
            s.patch_size,
            "any" if s.input_bands == "any" else (s.bands or "any"),
            ",".join(s.weights) or "-",
            s.distribution,
            s.summary,
        ],
    ),
    "necks": (
        ["NAME", "CONSUMES", "PRODUCES", "PLUGIN", "SUMMARY"],
        lambda s: [s.name, s.consumes, s.produces, s.distribution, s.summary],
    ),
    "decoders": (
        ["NAME", "CONSUMES", "LEVELS", "PLUGIN", "SUMMARY"],
        lambda s: [
            s.name,
            s.consumes,
            f"{s.num_levels}{' pyramid' if s.needs_pyramid else ''}",
            s.distribution,
            s.summary,
        ],
    ),
    "datasets": (
        ["NAME", "TASK", "BANDS", "CLASSES", "PLUGIN", "SUMMARY"],
        lambda s: [
            s.name,
            s.task,
            short(s.bands, 40) if s.bands else "from files",
            len(s.classes) or "-",
            s.distribution,
            s.summary,
        ],
    ),
    "tasks": (
        ["NAME", "TYPE", "LOSSES", "PLUGIN", "SUMMARY"],
        lambda s: [s.name, s.task_type, s.losses, s.distribution, s.summary],
    ),
}


def _show_text(data: dict[str, Any], indent: int = 0) -> None:
    pad = " " * indent
    for key, value in data.items():
        if isinstance(value, dict) and value:
            typer.echo(f"{pad}{key}:")
            _show_text(value, indent + 2)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            typer.echo(f"{pad}{key}:")
            for item in value:
                _show_text(item, indent + 2)
                typer.echo("")
        elif isinstance(value, list | tuple):
            typer.echo(f"{pad}{key}: {', '.join(str(v) for v in value) if value else '-'}")
        else:
            typer.echo(f"{pad}{key}: {'-' if value in (None, '') else value}")


def component_app(kind: str) -> typer.Typer:
    """The ``list`` / ``show`` command group of one component kind."""
    app = typer.Typer(help=f"Browse the registered {kind}.", no_args_is_help=True)
    headers, row = _COLUMNS[kind]

    @app.command("list")
    def list_command(
        pattern: str = typer.Argument("*", help="glob or substring to filter names"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
    ) -> None:
        """List the registered components, one line each."""
        from geofm.registry import get_registry

        specs = get_registry(kind).search(pattern)
        if as_json:
            echo_json([s.to_dict() for s in specs])
            return
        if not specs:
            typer.echo(f"no {kind} match {pattern!r}")
            return
        echo_table(headers, [row(s) for s in specs])

    @app.command("show")
    def show_command(
        name: str = typer.Argument(..., help="component name"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
    ) -> None:
        """Show every piece of metadata of one component."""
        from geofm.registry import get_registry

        data = get_registry(kind).get(name).to_dict()
        if as_json:
            echo_json(data)
        else:
            _show_text(data)

    return app
