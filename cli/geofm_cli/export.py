"""``geofm export``: write a deployable copy of a run (so far: its LoRA adapters merged into the backbone)."""

from __future__ import annotations

from pathlib import Path

import typer

from geofm.errors import ConfigError
from geofm_cli._output import echo_json

__all__ = ["export_command"]


def export_command(
    run_dir: Path = typer.Argument(..., help="a run directory written by geofm run (or a .ckpt inside one)"),
    merge_lora: bool = typer.Option(
        False, "--merge-lora", help="merge the run's LoRA adapters into the backbone's weights"
    ),
    out: Path = typer.Option(..., "--out", help="the new run directory to write (must not exist yet)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Write a new run from a run: with --merge-lora, its LoRA adapters merged into the backbone (same predictions)."""
    if not merge_lora:
        raise ConfigError(
            "say what to export: geofm export RUN --merge-lora --out NEW_RUN writes the run with its LoRA "
            "adapters merged into the backbone (the only export so far)"
        )
    from geofm.lora import merge_run

    written = merge_run(run_dir, out)
    if as_json:
        echo_json({"run_dir": str(written), "source": str(run_dir), "merged": "lora"})
        return
    typer.echo(f"run directory: {written}")
