"""One fine-tuning run end to end: resolve the configuration, build everything, train, evaluate, report.

Everything that can be checked is checked before the run directory is created, so a run that fails
validation writes nothing. The run directory holds the resolved ``config.yaml`` (re-runnable with
``--config``), ``plugins.json``, ``checkpoints/`` (``best.ckpt``, ``last.ckpt``, written atomically),
``metrics.csv`` and ``summary.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geofm.config import RunConfig, load_config, save_config, validate_config
from geofm.errors import ConfigError, GeofmError
from geofm.resolve import ResolvedRun, resolve_run

__all__ = ["evaluate", "run"]

log = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"


@dataclass
class _Built:
    """The Lightning pieces of a run."""

    datamodule: Any
    model: Any
    task: Any


def _as_config(config: RunConfig | Mapping[str, Any] | str | os.PathLike[str]) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, str | os.PathLike):
        return validate_config(load_config(config))
    return validate_config(config)


def _build(resolved: ResolvedRun) -> _Built:
    """Data module, composed model and task module, in that order (data first: it knows the bands)."""
    from geofm.compose import build_model
    from geofm.registry import get_registry

    config = resolved.config
    datamodule = resolved.datamodule
    model = build_model(
        config.backbone.name,
        config.decoder.name,
        necks=resolved.necks,
        task=resolved.task_spec.name,
        num_classes=resolved.num_outputs,
        weights=str(resolved.weights.path) if resolved.weights.path else "none",
        bands=datamodule.band_names,
        img_size=config.backbone.img_size,
        num_frames=config.backbone.num_frames or datamodule.num_frames or 1,
        backbone_options=config.backbone.options(),
        decoder_options=config.decoder.options(),
        head_options=config.head.options(),
        aux_heads=config.aux_heads or None,
    )
    task_options = {
        key: value
        for key, value in {
            "loss": config.task.loss,
            "class_weights": config.task.class_weights,
            "lr": config.task.lr,
            "weight_decay": config.task.weight_decay,
            "freeze_backbone": config.task.freeze_backbone,
            "scheduler": config.task.scheduler,
            **config.task.options(),
        }.items()
        if value is not None
    }
    task = get_registry("tasks").build(
        resolved.task_spec.name,
        model=model,
        num_classes=resolved.num_outputs,
        class_names=tuple(datamodule.class_names or ()),
        ignore_index=datamodule.ignore_index,
        **task_options,
    )
    return _Built(datamodule=datamodule, model=model, task=task)


def _run_dir(config: RunConfig) -> Path:
    parts = (config.backbone.name, config.decoder.name, config.dataset.name)
    stem = config.name or f"{dt.datetime.now():%Y%m%d-%H%M%S}-" + "-".join(parts)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)
    base = Path(config.out).expanduser() / stem
    candidate, counter = base, 1
    while candidate.exists():
        counter += 1
        candidate = base.with_name(f"{stem}-{counter}")
    return candidate


def _trainer(config: RunConfig, run_dir: Path, task: Any, *, for_fit: bool) -> Any:
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from geofm.checkpoints import AtomicCheckpointIO

    trainer_config = config.trainer
    precision = trainer_config.precision or ("bf16-mixed" if torch.cuda.is_available() else "32-true")
    monitor, mode = task.monitor, task.monitor_mode
    callbacks: list[Any] = []
    if for_fit:
        callbacks.append(
            ModelCheckpoint(
                dirpath=run_dir / "checkpoints",
                filename="best",
                monitor=monitor,
                mode=mode,
                save_top_k=1,
                save_last=True,
                auto_insert_metric_name=False,
            )
        )
        if trainer_config.early_stopping_patience:
            callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=trainer_config.early_stopping_patience))
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=trainer_config.max_epochs,
        max_steps=trainer_config.max_steps,
        accelerator=trainer_config.accelerator,
        devices=trainer_config.devices,
        num_nodes=trainer_config.num_nodes,
        strategy=trainer_config.strategy,
        precision=precision,
        fast_dev_run=trainer_config.fast_dev_run,
        limit_train_batches=trainer_config.limit_train_batches,
        limit_val_batches=trainer_config.limit_val_batches,
        limit_test_batches=trainer_config.limit_test_batches,
        log_every_n_steps=trainer_config.log_every_n_steps,
        accumulate_grad_batches=trainer_config.accumulate_grad_batches,
        gradient_clip_val=trainer_config.gradient_clip_val,
        deterministic=trainer_config.deterministic,
        enable_progress_bar=trainer_config.progress_bar,
        enable_model_summary=for_fit,
        logger=CSVLogger(save_dir=run_dir, name="", version="") if for_fit else False,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
    )


def _scalar_metrics(metrics: Mapping[str, Any], prefix: str) -> dict[str, float]:
    result: dict[str, float] = {}
    for key, value in metrics.items():
        if not key.startswith(prefix):
            continue
        try:
            result[key[len(prefix) :]] = float(value)
        except (TypeError, ValueError):
            continue
    return dict(sorted(result.items()))


def _finite_or_null(data: Any) -> Any:
    """Replace NaN and infinities (e.g. IoU of a class absent from a split) by ``None``: strict JSON."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, Mapping):
        return {key: _finite_or_null(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite_or_null(value) for value in data]
    return data


def _write_json(path: Path, data: Any) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    text = json.dumps(_finite_or_null(data), indent=2, sort_keys=False, default=str, allow_nan=False)
    partial.write_text(text + "\n", encoding="utf-8")
    partial.replace(path)


def _plugins_report() -> dict[str, Any]:
    import platform

    from geofm.plugins import plugin_records

    versions: dict[str, str] = {"python": platform.python_version()}
    for package in ("torch", "lightning", "torchmetrics", "timm", "segmentation_models_pytorch", "rasterio"):
        try:
            module = __import__(package)
            versions[package] = str(getattr(module, "__version__", "?"))
        except ImportError:
            continue
    return {"plugins": [record.to_dict() for record in plugin_records()], "packages": versions}


def _evaluate_checkpoint(trainer: Any, task: Any, datamodule: Any, ckpt_path: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    trainer.validate(task, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
    results["val"] = _scalar_metrics(trainer.callback_metrics, "val/")
    if datamodule.spec is None or "test" in datamodule.spec.splits:
        trainer.test(task, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
        results["test"] = _scalar_metrics(trainer.callback_metrics, "test/")
    return results


def run(config: RunConfig | Mapping[str, Any] | str | os.PathLike[str], *, resume: str | None = None) -> dict[str, Any]:
    """Fine-tune and evaluate; write the run directory; return the summary (also in ``summary.json``).

    ``resume`` is a run directory whose ``checkpoints/last.ckpt`` training continues from; its
    ``config.yaml`` is used and ``config`` is ignored.
    """
    started = time.perf_counter()
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / CONFIG_FILE).is_file():
            raise ConfigError(f"cannot resume {run_dir}: it holds no {CONFIG_FILE} (is it a geofm run directory?)")
        config = validate_config(load_config(run_dir / CONFIG_FILE))
        last = run_dir / "checkpoints" / "last.ckpt"
        ckpt_path: str | None = str(last) if last.is_file() else None
        if ckpt_path is None:
            log.warning("no checkpoints/last.ckpt in %s: training starts from the beginning", run_dir)
    else:
        config = _as_config(config)
        ckpt_path = None

    import lightning as L

    L.seed_everything(config.seed, workers=True, verbose=False)
    resolved = resolve_run(config)
    config = resolved.config  # with the defaults resolution chose (e.g. the decoder)
    built = _build(resolved)
    if resume is None:
        run_dir = _run_dir(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(resolved.resolved_config(), run_dir / CONFIG_FILE)
    _write_json(run_dir / "plugins.json", _plugins_report())
    if not resolved.weights.pretrained:
        log.warning("%s trains from RANDOM INITIALISATION (%s)", config.backbone.name, resolved.weights.origin)

    trainer = _trainer(config, run_dir, built.task, for_fit=True)
    trainer.fit(built.task, datamodule=built.datamodule, ckpt_path=ckpt_path)
    # statistics computed by the data module during setup become part of the re-runnable config
    save_config(resolved.resolved_config(), run_dir / CONFIG_FILE)

    checkpoint_callback = trainer.checkpoint_callback
    best = getattr(checkpoint_callback, "best_model_path", "") or ""
    eval_trainer = _trainer(config, run_dir, built.task, for_fit=False)
    metrics = _evaluate_checkpoint(eval_trainer, built.task, built.datamodule, best or None)
    summary = {
        "run_dir": str(run_dir),
        "backbone": config.backbone.name,
        "necks": resolved.necks,
        "decoder": config.decoder.name,
        "dataset": config.dataset.name,
        "task": resolved.task_spec.name,
        "bands": list(built.datamodule.band_names),
        "pretrained": resolved.weights.pretrained,
        "weights": str(resolved.weights.path) if resolved.weights.path else None,
        "weights_origin": resolved.weights.origin,
        "monitor": built.task.monitor,
        "best_checkpoint": best or None,
        "best_score": float(checkpoint_callback.best_model_score)
        if getattr(checkpoint_callback, "best_model_score", None) is not None
        else None,
        "epochs": trainer.current_epoch,
        "global_steps": trainer.global_step,
        **metrics,
        "baseline": resolved.baseline(),
        "wall_time_s": round(time.perf_counter() - started, 2),
    }
    _write_json(run_dir / SUMMARY_FILE, summary)
    return summary


def evaluate(run_dir: str | os.PathLike[str], *, checkpoint: str | None = None) -> dict[str, Any]:
    """Re-score a run's best checkpoint (or ``checkpoint``) on its validation and test splits.

    Writes ``evaluation.json`` into the run directory and returns it.
    """
    run_path = Path(run_dir)
    config_path = run_path / CONFIG_FILE
    if not config_path.is_file():
        raise ConfigError(f"{run_path} holds no {CONFIG_FILE}: give the directory that `geofm run` wrote")
    config = validate_config(load_config(config_path))
    ckpt = Path(checkpoint) if checkpoint else _best_checkpoint(run_path)
    config = config.model_copy(update={"backbone": config.backbone.model_copy(update={"weights": "none"})})
    resolved = resolve_run(config)
    config = resolved.config  # with the defaults resolution chose (e.g. the decoder)
    built = _build(resolved)
    trainer = _trainer(config, run_path, built.task, for_fit=False)
    metrics = _evaluate_checkpoint(trainer, built.task, built.datamodule, str(ckpt))
    result = {"run_dir": str(run_path), "checkpoint": str(ckpt), **metrics}
    _write_json(run_path / "evaluation.json", result)
    return result


def _best_checkpoint(run_path: Path) -> Path:
    summary_path = run_path / SUMMARY_FILE
    if summary_path.is_file():
        best = json.loads(summary_path.read_text(encoding="utf-8")).get("best_checkpoint")
        if best and Path(best).is_file():
            return Path(best)
    for name in ("best.ckpt", "last.ckpt"):
        candidate = run_path / "checkpoints" / name
        if candidate.is_file():
            return candidate
    raise GeofmError(f"{run_path} has no checkpoint (checkpoints/best.ckpt or last.ckpt); did the run finish an epoch?")
