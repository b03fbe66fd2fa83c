"""``geofm run`` and ``geofm evaluate``: fine-tune, evaluate and re-score through the Python API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from geofm.errors import ConfigError
from geofm_cli._output import echo_json

__all__ = ["build_run_config", "evaluate_command", "peer_run_config", "run_command"]


def build_run_config(
    config_file: Path | None, flags: dict[str, Any], sets: list[str], *, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Merge a YAML file (or ``base``), the flags given (dotted key -> value) and ``--set`` overrides, in that order."""
    from geofm.config import apply_overrides, load_config, parse_override

    data = base if base is not None else load_config(config_file) if config_file else {}
    overrides = [(key.split("."), value) for key, value in flags.items() if value is not None]
    overrides += [parse_override(text) for text in sets]
    return apply_overrides(data, overrides)


def peer_run_config(config_file: Path, data_root: str | None, *, report: bool = True) -> dict[str, Any] | None:
    """The geofm configuration of a TerraTorch file (report to stderr), or ``None`` for a geofm file.

    ``data_root`` fills the file's path placeholders. Blocking keys, unfilled placeholders and missing
    data paths are a :class:`ConfigError` before anything runs.
    """
    from geofm.config import load_config
    from geofm.migrate import is_peer_config, translate

    data = load_config(config_file)
    if not is_peer_config(data):
        return None
    migration = translate(data, data_root=data_root, name=str(config_file))
    if report:
        typer.echo(migration.report.format(), err=True)
    migration.check_runnable()
    return migration.config


RESUME_REFUSED = (
    "backbone",
    "neck",
    "decoder",
    "dataset",
    "data_root",
    "bands",
    "task",
    "batch_size",
    "lr",
    "weight_decay",
    "devices",
    "num_nodes",
    "strategy",
    "precision",
    "weights",
    "freeze_backbone",
    "lora",
    "out",
    "name",
    "seed",
    "fast_dev_run",
    "no_plots",
    "config",
    "set_",
)
"""``geofm run`` options that a resumed run refuses: it keeps its own configuration."""


def run_command(
    backbone: str | None = typer.Option(None, help="backbone name (geofm backbones list)"),
    neck: list[str] | None = typer.Option(None, "--neck", help="neck names in order (default: inserted automatically)"),
    decoder: str | None = typer.Option(None, help="decoder name (default: upernet, or identity to classify)"),
    dataset: str | None = typer.Option(None, help="dataset name (default: the task's generated demo)"),
    data_root: str | None = typer.Option(None, help="folder holding the dataset"),
    bands: str | None = typer.Option(None, help="comma-separated band names, e.g. B2,B3,B4,B8A,B11,B12"),
    task: str | None = typer.Option(None, help="task name (default: the dataset's task)"),
    max_epochs: int | None = typer.Option(None, help="training epochs"),
    batch_size: int | None = typer.Option(None, help="samples per batch"),
    lr: float | None = typer.Option(None, help="learning rate"),
    weight_decay: float | None = typer.Option(None, help="AdamW weight decay"),
    devices: str | None = typer.Option(None, help="devices: auto, a count, or a list like 0,1"),
    num_nodes: int | None = typer.Option(None, help="machines for distributed training"),
    strategy: str | None = typer.Option(None, help="Lightning strategy: auto, ddp, fsdp ..."),
    precision: str | None = typer.Option(None, help="32-true, bf16-mixed, 16-mixed (default: bf16-mixed on GPU)"),
    weights: str | None = typer.Option(None, help="pretrained weights: auto, none, a tag or a file"),
    freeze_backbone: bool | None = typer.Option(None, "--freeze-backbone/--train-backbone", help="freeze the backbone"),
    lora: int | None = typer.Option(
        None, "--lora", min=1, metavar="RANK", help="train LoRA adapters of this rank instead of the backbone's weights"
    ),
    out: str | None = typer.Option(None, help="folder for run directories (default: runs)"),
    name: str | None = typer.Option(None, help="run directory name (default: time + components)"),
    seed: int | None = typer.Option(None, help="random seed"),
    fast_dev_run: bool | None = typer.Option(None, "--fast-dev-run", help="one batch of each split, for a smoke test"),
    no_plots: bool | None = typer.Option(None, "--no-plots", help="do not draw plots/ in the run directory"),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML run configuration"),
    set_: list[str] | None = typer.Option(None, "--set", help="override any key: --set trainer.max_epochs=3"),
    resume: Path | None = typer.Option(None, help="continue the run in this directory from its last checkpoint"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Fine-tune a backbone + decoder on a dataset and evaluate it; write a run directory."""
    from geofm.distributed import is_rank_zero
    from geofm.runner import run

    if resume is not None:
        given = {name: value for name, value in locals().items() if name in RESUME_REFUSED and value is not None}
        if given:
            names = ", ".join("--" + name.rstrip("_").replace("_", "-") for name in given)
            raise ConfigError(
                f"--resume continues {resume} with its own config.yaml; {names} cannot be given with it "
                "(only --max-epochs, to raise the epoch budget). Start a new run to change them"
            )
        summary = run({"trainer": {"max_epochs": max_epochs}} if max_epochs else {}, resume=str(resume))
    else:
        flags: dict[str, Any] = {
            "backbone.name": backbone,
            "necks": list(neck) if neck else None,
            "decoder.name": decoder,
            "dataset.name": dataset,
            "dataset.data_root": data_root,
            "dataset.bands": [b.strip() for b in bands.split(",") if b.strip()] if bands else None,
            "task.name": task,
            "trainer.max_epochs": max_epochs,
            "dataset.batch_size": batch_size,
            "task.lr": lr,
            "task.weight_decay": weight_decay,
            "trainer.devices": _devices(devices),
            "trainer.num_nodes": num_nodes,
            "trainer.strategy": strategy,
            "trainer.precision": precision,
            "backbone.weights": weights,
            "task.freeze_backbone": freeze_backbone,
            "backbone.lora.rank": lora,
            "out": out,
            "name": name,
            "seed": seed,
            "trainer.fast_dev_run": fast_dev_run,
            "trainer.plots": False if no_plots else None,
        }
        peer = peer_run_config(config, data_root, report=is_rank_zero()) if config else None
        if peer is not None:
            flags["dataset.data_root"] = None  # it filled the peer file's placeholders
        summary = run(build_run_config(config, flags, list(set_ or []), base=peer))
    if not is_rank_zero():  # the other processes of a distributed run print nothing
        return
    if as_json:
        echo_json(summary)
        return
    _print_summary(summary)


def _devices(devices: str | None) -> int | str | list[int] | None:
    """``--devices``: a count, a comma-separated list of indexes, or a Lightning word such as ``auto``."""
    if devices and "," in devices:
        try:
            return [int(d) for d in devices.split(",") if d.strip()]
        except ValueError:
            raise ConfigError(f"--devices {devices!r}: give a count, indexes like 0,1, or auto") from None
    if devices and devices.isdigit():
        return int(devices)
    return devices


_BASELINE_COLUMNS = {"majority_miou": "miou", "majority_accuracy": "accuracy"}
"""Baseline keys of a segmentation summary and the metric column each sits under."""


def _print_summary(summary: dict[str, Any]) -> None:
    """The run's metrics as a small table (split x metric, the trivial baseline beside), the path last."""
    import logging

    from geofm_cli._output import echo_table

    splits = {split: summary.get(split) or {} for split in ("val", "test")}
    per_class = {k for metrics in splits.values() for k in metrics if "_" in k and k.split("_")[0] in ("iou", "f1")}
    columns = sorted({k for metrics in splits.values() for k in metrics if "/" not in k and k not in per_class})
    baseline = {_BASELINE_COLUMNS.get(k, k): v for k, v in (summary.get("baseline") or {}).items()}
    rows = [[split, *(_number(metrics.get(c)) for c in columns)] for split, metrics in splits.items() if metrics]
    if any(c in baseline for c in columns):
        name = "majority class" if "majority_class" in baseline else "baseline"
        rows.append([name, *(_number(baseline.get(c)) for c in columns)])
    typer.echo("")
    if rows:
        echo_table(["", *columns], rows)
    if per_class and logging.getLogger("geofm").isEnabledFor(logging.DEBUG):
        names = sorted(per_class)
        echo_table(["", *names], [[s, *(_number(m.get(n)) for n in names)] for s, m in splits.items() if m])
    origin = summary.get("weights_origin") or ""
    typer.echo(f"pretrained: {'yes' if summary.get('pretrained') else 'no'} ({origin})")
    typer.echo(f"wall time: {summary['wall_time_s']:.1f} s")
    typer.echo(f"run directory: {summary['run_dir']}")


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def evaluate_command(
    run_dir: Path = typer.Argument(..., help="a run directory written by geofm run"),
    checkpoint: Path | None = typer.Option(None, help="checkpoint to score (default: the run's best)"),
    devices: str | None = typer.Option(None, help="devices of this machine to score on (default: 1)"),
    no_plots: bool = typer.Option(False, "--no-plots", help="do not redraw the run's plots/"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Re-score a run's best checkpoint on its validation and test splits; redraw its plots."""
    from geofm.distributed import is_rank_zero
    from geofm.runner import evaluate

    ckpt = str(checkpoint) if checkpoint else None
    result = evaluate(run_dir, checkpoint=ckpt, devices=_devices(devices), plots=not no_plots)
    if not is_rank_zero():
        return
    if as_json:
        echo_json(result)
        return
    for split in ("val", "test"):
        metrics = result.get(split) or {}
        if metrics:
            typer.echo(f"{split}: " + "  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
