"""The ``geofm`` Typer application: command groups wired together, plugin subcommands, error handling.

Nothing here imports torch at module level: ``geofm --help`` and every listing stay fast.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

import typer

from geofm.vocabulary import COMPONENT_KINDS
from geofm_cli import data, tune, weights
from geofm_cli.components import component_app
from geofm_cli.export import export_command
from geofm_cli.migrate import migrate_command
from geofm_cli.plugins import plugins_command
from geofm_cli.predict import predict_command
from geofm_cli.run import evaluate_command, run_command
from geofm_cli.scaffold import plugin_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="geofm",
    help="Fine-tune geospatial foundation models on satellite, weather and climate rasters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="show full tracebacks on errors"),
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="-v: every decision geofm makes; -vv: the libraries' debug logs too"
    ),
) -> None:
    """Fine-tune geospatial foundation models on satellite, weather and climate rasters."""
    _state["debug"] = debug or _state["debug"]
    _configure_logging(verbose)


def _configure_logging(verbose: int) -> None:
    """Show geofm's own lines by default, its debug lines with ``-v``, every library's debug logging with ``-vv``."""
    logging.basicConfig(
        level=logging.DEBUG if verbose >= 2 else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("geofm").setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        lightning = logging.getLogger(name)
        lightning.propagate = False  # Lightning prints through its own handler: say things once
        lightning.setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


app.add_typer(plugins_command, name="plugins")
for _kind in COMPONENT_KINDS:
    app.add_typer(component_app(_kind), name=_kind)
app.command("run")(run_command)
app.command("evaluate")(evaluate_command)
app.command("export")(export_command)
app.command("predict")(predict_command)
app.command("migrate")(migrate_command)
app.add_typer(tune.app, name="tune")
app.add_typer(weights.app, name="weights")
app.add_typer(data.app, name="data", help="Dataset utilities: band statistics, downloads.")
app.add_typer(plugin_app, name="plugin", help="Start a plugin of your own: geofm plugin new NAME.")


def _add_plugin_commands() -> None:
    from geofm.plugins import get_plugin_manager, plugin_records, record_failure

    manager = get_plugin_manager()
    records = {r.name: r for r in plugin_records()}
    for impl in manager.hook.geofm_cli.get_hookimpls():
        record = records.get(impl.plugin_name)
        try:
            impl.function(app=app)
        except Exception as error:
            if record is not None:
                record_failure(record, error, "hook geofm_cli")


def _format_warning(message, category, filename, lineno, line=None) -> str:  # type: ignore[no-untyped-def]
    return f"warning: {message}\n"


def main() -> None:
    """Entry point of the ``geofm`` console script: one clear line and exit 1 on a geofm error."""
    from geofm.errors import GeofmError, unwrap_worker_error

    warnings.formatwarning = _format_warning
    _state["debug"] = "--debug" in sys.argv[1:] or os.environ.get("GEOFM_DEBUG", "") not in ("", "0")
    try:
        _add_plugin_commands()
        app()
    except GeofmError as error:
        if _state["debug"]:
            raise
        message = " ".join(str(unwrap_worker_error(error)).split())  # one line, even from a loader worker
        typer.echo(f"error: {message}", err=True)
        typer.echo("(run with --debug for the traceback)", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
