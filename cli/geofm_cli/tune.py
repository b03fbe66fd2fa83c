"""``geofm tune``: hyper-parameter search over runs (Optuna, or Ray Tune), and ``geofm tune repeat``.

A thin layer over :func:`geofm.api.tune`; torch, Optuna and Ray are imported only when a study runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from geofm.errors import ConfigError
from geofm_cli._output import echo_json
from geofm_cli.run import build_run_config

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Search hyper-parameters: each trial is an ordinary run in <study>/trials/. "
        "Give the base run like geofm run (flags, --config, --set), the search space with --space or a "
        "search: section, and the settings with flags or a tune: section. Example: geofm tune --backbone "
        "tiny_vit --space 'task.lr={loguniform: [1.0e-5, 1.0e-3]}' --space 'decoder.name={choice: \\[upernet, fcn]}' "
        "--trials 20"
    ),
    no_args_is_help=False,
)


def _space(spaces: list[str]) -> dict[str, Any] | None:
    from geofm.config import parse_override

    search: dict[str, Any] = {}
    for text in spaces:
        path, value = parse_override(text)
        search[".".join(path)] = value
    return search or None


@app.callback(invoke_without_command=True)
def tune_command(
    ctx: typer.Context,
    backbone: str | None = typer.Option(None, help="backbone name (geofm backbones list)"),
    decoder: str | None = typer.Option(None, help="decoder name"),
    dataset: str | None = typer.Option(None, help="dataset name"),
    data_root: str | None = typer.Option(None, help="folder holding the dataset"),
    bands: str | None = typer.Option(None, help="comma-separated band names"),
    task: str | None = typer.Option(None, help="task name (default: the dataset's task)"),
    max_epochs: int | None = typer.Option(None, help="training epochs of each trial"),
    batch_size: int | None = typer.Option(None, help="samples per batch"),
    lr: float | None = typer.Option(None, help="learning rate"),
    weights: str | None = typer.Option(None, help="pretrained weights: auto, none, a tag or a file"),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="YAML: a run configuration, with search: and tune: sections",
    ),
    set_: list[str] | None = typer.Option(None, "--set", help="override a run key: --set trainer.max_epochs=3"),
    space: list[str] | None = typer.Option(
        None, "--space", help="a search-space key: --space 'task.lr={loguniform: [1.0e-5, 1.0e-3]}' (repeatable)"
    ),
    trials: int | None = typer.Option(None, help="trials to complete or prune (failed ones are replaced; default 10)"),
    metric: str | None = typer.Option(None, help="validation metric to optimise (default: the task's, e.g. val/miou)"),
    direction: str | None = typer.Option(None, help="maximize or minimize (default: the metric's)"),
    timeout: float | None = typer.Option(None, help="seconds after which no new trial starts"),
    sampler: str | None = typer.Option(None, help="tpe (default), random or grid"),
    pruner: str | None = typer.Option(None, help="median (default), asha or none"),
    seed: int | None = typer.Option(None, help="seed of the sampler (trials keep the run's seed)"),
    backend: str | None = typer.Option(None, help="optuna (default: in this process) or ray"),
    jobs: int | None = typer.Option(None, help="trials at once (optuna: threads; ray: a cap on parallel trials)"),
    storage: str | None = typer.Option(
        None, help="Optuna storage: an RDB URL or journal:FILE (default: <study>/study.db)"
    ),
    cpus_per_trial: float | None = typer.Option(None, help="Ray: CPUs of each trial (default 1)"),
    gpus_per_trial: float | None = typer.Option(None, help="Ray: GPUs of each trial (default 0)"),
    ray_address: str | None = typer.Option(None, help="Ray: an existing cluster (e.g. auto, or HEAD:6379)"),
    repeat: int | None = typer.Option(None, help="then train the best configuration with this many seeds"),
    mlflow: str | None = typer.Option(None, help="MLflow tracking URI to log each trial to (needs mlflow)"),
    out: str | None = typer.Option(None, help="folder for study directories (default: studies)"),
    name: str | None = typer.Option(None, help="study directory name (default: time + backbone)"),
    resume: Path | None = typer.Option(None, help="continue the study in this directory (its own tune.yaml)"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Search hyper-parameters of a run with Optuna (in this process) or Ray Tune (parallel, clusters)."""
    if ctx.invoked_subcommand is not None:
        return
    from geofm.api import tune

    settings = {
        "trials": trials,
        "metric": metric,
        "direction": direction,
        "timeout": timeout,
        "sampler": sampler,
        "pruner": pruner,
        "seed": seed,
        "backend": backend,
        "jobs": jobs,
        "storage": storage,
        "cpus_per_trial": cpus_per_trial,
        "gpus_per_trial": gpus_per_trial,
        "ray_address": ray_address,
        "repeat": repeat,
        "mlflow": mlflow,
        "out": out,
        "name": name,
    }
    settings = {key: value for key, value in settings.items() if value is not None}
    run_flags: dict[str, Any] = {
        "backbone.name": backbone,
        "decoder.name": decoder,
        "dataset.name": dataset,
        "dataset.data_root": data_root,
        "dataset.bands": [b.strip() for b in bands.split(",") if b.strip()] if bands else None,
        "task.name": task,
        "trainer.max_epochs": max_epochs,
        "dataset.batch_size": batch_size,
        "task.lr": lr,
        "backbone.weights": weights,
    }
    if resume is not None:
        given = [flag for flag, value in run_flags.items() if value is not None]
        if given or config or set_ or space:
            raise ConfigError(
                f"--resume continues {resume} with its own tune.yaml: give no run flags, --config, --set or --space"
            )
        summary = tune(resume=resume, **settings)
    else:
        run_config = build_run_config(config, run_flags, list(set_ or []))
        summary = tune(run_config, _space(list(space or [])), **settings)
    if as_json:
        echo_json(summary)
        return
    _print_summary(summary)


def _print_summary(summary: dict[str, Any]) -> None:
    counts = summary.get("trials") or {}
    typer.echo(f"\nstudy directory: {summary['study_dir']}")
    typer.echo(
        f"trials: {counts.get('complete', 0)} complete, {counts.get('pruned', 0)} pruned, "
        f"{counts.get('fail', 0)} failed (target {summary.get('target_trials')})"
    )
    best = summary.get("best")
    if best:
        params = "  ".join(f"{k}={v}" for k, v in (best.get("params") or {}).items())
        typer.echo(f"best: trial {best['number']:04d}  {summary['metric']}={best['value']:.4f}  {params}")
        typer.echo(f"re-run it with: geofm run --config {Path(summary['study_dir']) / 'best.yaml'}")
    repeats = summary.get("repeats")
    if repeats:
        _print_repeats(repeats)


def _print_repeats(repeats: dict[str, Any]) -> None:
    seeds = repeats.get("seeds") or []
    for split in ("test", "val"):
        metrics = repeats.get(split) or {}
        headline = {k: v for k, v in metrics.items() if not k.startswith("iou_")}
        if headline:
            parts = [
                f"{k}={v['mean']:.4f} ± {v['std']:.4f}" if v.get("std") is not None else f"{k}={v['mean']:.4f}"
                for k, v in headline.items()
            ]
            typer.echo(f"{split} over {len(seeds)} seeds: " + "  ".join(parts))
            break


@app.command("repeat")
def repeat_command(
    study_dir: Path = typer.Argument(..., help="a study directory written by geofm tune"),
    seeds: int = typer.Option(3, "--seeds", help="how many seeds"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Train a study's best configuration with several seeds; report mean ± std of each test metric."""
    from geofm.api import tune_repeat

    result = tune_repeat(study_dir, seeds)
    if as_json:
        echo_json(result)
        return
    typer.echo(f"repeats: {', '.join(result['run_dirs'])}")
    _print_repeats(result)
