"""``geofm weights list|fetch|import``: manage the local cache of pretrained weights."""

from __future__ import annotations

from pathlib import Path

import typer

from geofm_cli._output import echo_json, echo_table

__all__ = ["app"]

app = typer.Typer(
    help="Manage pretrained weights: list what is cached, fetch from the hub, import a file.", no_args_is_help=True
)


@app.command("list")
def list_command(
    pattern: str = typer.Argument("*", help="backbone names to include (glob or substring)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Every weights tag of every backbone: its source, pinned revision, sha256 and whether it is cached.

    A SHA256 of ``unknown`` means no published digest is pinned in the spec, so the file is not verified.
    """
    from geofm.registry import get_registry
    from geofm.weights import cached_weights

    rows = []
    for spec in get_registry("backbones").search(pattern):
        cached = cached_weights(spec)
        for tag, weights in spec.weights.items():
            rows.append(
                {
                    "backbone": spec.name,
                    "tag": tag,
                    "source": weights.source,
                    "cached": str(cached[tag]) if cached[tag] else None,
                    "license": weights.license,
                    "revision": weights.revision,
                    "sha256": weights.sha256,
                }
            )
    if as_json:
        echo_json(rows)
        return
    echo_table(
        ["BACKBONE", "TAG", "SOURCE", "REVISION", "SHA256", "CACHED"],
        [
            [
                r["backbone"],
                r["tag"],
                r["source"],
                (r["revision"] or "-")[:12],
                (r["sha256"] or "unknown")[:12],
                r["cached"] or "no",
            ]
            for r in rows
        ],
    )


@app.command("fetch")
def fetch_command(
    name: str = typer.Argument(..., help="backbone name"),
    tag: str | None = typer.Option(None, help="weights tag (default: the backbone's default)"),
) -> None:
    """Download a backbone's weights from the Hugging Face hub into the local cache."""
    from geofm.registry import get_registry
    from geofm.weights import fetch_weights

    typer.echo(fetch_weights(get_registry("backbones").get(name), tag))


@app.command("import")
def import_command(
    name: str = typer.Argument(..., help="backbone name"),
    path: Path = typer.Argument(..., help="a checkpoint file downloaded by hand"),
    tag: str | None = typer.Option(None, help="weights tag (default: the backbone's default)"),
) -> None:
    """Copy a checkpoint file into the cache, where --weights auto (or the tag) finds it offline."""
    from geofm.registry import get_registry
    from geofm.weights import import_weights

    typer.echo(import_weights(get_registry("backbones").get(name), path, tag))
