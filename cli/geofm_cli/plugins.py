"""``geofm plugins``: which plugin distributions were found, loaded, skipped or failed; ``geofm plugins check``."""

from __future__ import annotations

import typer

from geofm_cli._output import echo_json, echo_table

__all__ = ["check_command", "list_plugins", "plugins_command"]

plugins_command = typer.Typer(
    name="plugins",
    help="List plugin distributions (bare `geofm plugins`), or check one plugin (`geofm plugins check`).",
    invoke_without_command=True,
)
"""The ``geofm plugins`` group: listing without a subcommand, ``check TARGET`` to check one plugin."""


@plugins_command.callback(invoke_without_command=True)
def list_plugins(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List plugin distributions: version, hooks, component counts, load status and error."""
    if ctx.invoked_subcommand is not None:
        return
    from geofm.plugins import plugin_records
    from geofm.registry import KINDS, get_registry

    for kind in KINDS:
        get_registry(kind)  # collecting components fills in counts and hook failures
    records = plugin_records()
    if as_json:
        echo_json([r.to_dict() for r in records])
        return
    rows = []
    for r in records:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(r.components.items()) if n) or "-"
        rows.append([r.distribution, r.version, r.name, r.status, counts, r.error or "-"])
    echo_table(["DISTRIBUTION", "VERSION", "ENTRY POINT", "STATUS", "COMPONENTS", "ERROR"], rows)


@plugins_command.command("check")
def check_command(
    target: str = typer.Argument(
        ..., help="distribution (geofm-dofa), entry-point name (dofa) or module path (geofm_dofa.plugin)"
    ),
    build_all: bool = typer.Option(
        False, "--all", help="build every backbone for real, also the large ones (otherwise shapes on the meta device)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the rows as JSON"),
) -> None:
    """Load one plugin in isolation, build each component it contributes at a tiny size and report.

    Checks the plugin module (imports, documented hooks, no torch at import, no change to torch's global
    settings by it or its factory modules), then builds every backbone, neck, decoder, dataset and task
    with random weights and synthetic inputs and compares what it returns with its spec. Exits 1 when a
    check fails.
    """
    from geofm.plugin_check import COLUMNS, check_plugin

    report = check_plugin(target, build_all=build_all)
    if as_json:
        echo_json(report.to_dicts())
    else:
        echo_table(list(COLUMNS), [row.cells() for row in report.rows])
        typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(1)
