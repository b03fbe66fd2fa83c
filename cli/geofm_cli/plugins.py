"""``geofm plugins``: which plugin distributions were found, loaded, skipped or failed."""

from __future__ import annotations

import typer

from geofm_cli._output import echo_json, echo_table

__all__ = ["plugins_command"]


def plugins_command(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List plugin distributions: version, hooks, component counts, load status and error."""
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
