"""``geofm migrate``: translate a TerraTorch (LightningCLI) configuration into a geofm run configuration.

The report (every peer key: mapped / defaulted / not carried over) goes to stderr; the configuration to
``-o FILE``, else to stdout, so ``geofm migrate peer.yaml > run.yaml`` works. Exit 1 when something that
changes the experiment cannot be carried over. No torch import: translation reads plugin specs only.
"""

from __future__ import annotations

from pathlib import Path

import typer

from geofm_cli._output import echo_json

__all__ = ["migrate_command"]


def migrate_command(
    peer: Path = typer.Argument(..., help="a TerraTorch (LightningCLI) YAML configuration"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write the geofm run configuration here"),
    data_root: str | None = typer.Option(
        None, help="fills path placeholders such as <sen1floods11_root>; relative data paths are taken under it"
    ),
    set_: list[str] | None = typer.Option(None, "--set", help="set any geofm key afterwards: --set trainer.devices=1"),
    as_json: bool = typer.Option(False, "--json", help="print the configuration and the report as JSON"),
) -> None:
    """Translate a TerraTorch configuration into a geofm one and report what became of every key."""
    import yaml

    from geofm.migrate import translate

    migration = translate(peer, data_root=data_root, overrides=list(set_ or []))
    report = migration.report
    text = yaml.safe_dump(migration.config, sort_keys=False)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    if as_json:
        echo_json({"config": migration.config, "report": report.to_dict(), "output": str(output) if output else None})
    else:
        typer.echo(report.format(), err=True)
        if output is None:
            typer.echo(text, nl=False)
        else:
            typer.echo(f"wrote {output}; run it with: geofm run --config {output}", err=True)
    if report.blocking:
        raise typer.Exit(1)
