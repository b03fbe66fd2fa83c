"""One fine-tuning run end to end: resolve the configuration, build everything, train, evaluate, report.

Everything that can be checked is checked before the run directory is created, so a run that fails
validation writes nothing; a run that fails later records ``status: failed`` and the error in its
``summary.json``. The run directory is read and written only through :class:`geofm.rundir.RunDir`, and
the model is built by :func:`geofm.run_model.build_run_model` from the configuration that
``config.yaml`` records, so ``evaluate``, ``predict`` and ``--resume`` rebuild exactly what was trained.
Under DDP every process runs this code; only rank 0 creates and writes the run directory.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geofm.config import RunConfig, load_config, validate_config
from geofm.errors import ConfigError, GeofmError, unwrap_worker_error
from geofm.quiet import library_warnings_filtered
from geofm.resolve import ResolvedRun, resolve_run
from geofm.rundir import EVALUATION_FILE, RunDir, run_dir_stem

__all__ = ["RebuiltRun", "evaluate", "rebuild_run", "run"]

log = logging.getLogger(__name__)

RESUMABLE_KEYS = (("trainer", "max_epochs"),)
"""The only configuration keys a resumed run may change (raising the epoch budget)."""

_TRAINER_ARGUMENTS = (
    "max_epochs",
    "max_steps",
    "accelerator",
    "devices",
    "num_nodes",
    "strategy",
    "fast_dev_run",
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "log_every_n_steps",
    "accumulate_grad_batches",
    "gradient_clip_val",
    "deterministic",
)
"""The ``trainer`` settings of a run configuration passed to Lightning's ``Trainer`` under the same name."""


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


def _build(resolved: ResolvedRun, config: RunConfig, weights: str) -> _Built:
    """Composed model (from the completed ``config``) and task module around it."""
    from geofm.contracts import check_built
    from geofm.errors import ContractError
    from geofm.run_model import build_run_model

    model = build_run_model(config, weights=weights)
    task_config = config.task
    task_options = {
        key: value
        for key, value in {
            "loss": task_config.loss,
            "class_weights": task_config.class_weights,
            "lr": task_config.lr,
            "weight_decay": task_config.weight_decay,
            "freeze_backbone": task_config.freeze_backbone,
            "scheduler": task_config.scheduler,
            **task_config.options(),
        }.items()
        if value is not None
    }
    datamodule = resolved.datamodule
    task = resolved.task_spec.load_factory()(
        model=model,
        num_classes=resolved.num_outputs,
        class_names=tuple(datamodule.class_names or ()),
        ignore_index=datamodule.ignore_index,
        **task_options,
    )
    check_built("tasks", task, resolved.task_spec)
    if task.model is not model:
        raise ContractError(
            f"{resolved.task_spec.label} from {resolved.task_spec.provenance}: the task module's `model` is not "
            "the composed model it was given; keep it as self.model (checkpoints and predict read it there)"
        )
    return _Built(datamodule=datamodule, model=model, task=task)


def _trainer(
    config: RunConfig,
    run: RunDir,
    task: Any,
    *,
    resume_epoch: int | None = None,
    fit: bool,
    callbacks: Sequence[Any] = (),
) -> Any:
    """The Lightning Trainer of a run; a training one (``fit``) also gets ``callbacks`` after geofm's own."""
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from geofm.checkpoints import AtomicCheckpointIO
    from geofm.distributed import ShareRunDir
    from geofm.metrics_log import MetricsCsvLogger
    from geofm.rundir import BEST_CHECKPOINT

    trainer_config = config.trainer
    precision = trainer_config.precision or ("bf16-mixed" if torch.cuda.is_available() else "32-true")
    monitor, mode = task.monitor, task.monitor_mode
    trainer_callbacks: list[Any] = [ShareRunDir(run.path)]
    if fit:
        trainer_callbacks.append(
            ModelCheckpoint(
                dirpath=run.checkpoint_dir,
                filename=Path(BEST_CHECKPOINT).stem,
                monitor=monitor,
                mode=mode,
                save_top_k=1,
                save_last=True,
                auto_insert_metric_name=False,
            )
        )
        if trainer_config.early_stopping_patience:
            trainer_callbacks.append(
                EarlyStopping(monitor=monitor, mode=mode, patience=trainer_config.early_stopping_patience)
            )
        trainer_callbacks.extend(callbacks)
    return L.Trainer(
        **{name: getattr(trainer_config, name) for name in _TRAINER_ARGUMENTS},
        default_root_dir=run.path,
        precision=precision,
        enable_progress_bar=trainer_config.progress_bar,
        enable_model_summary=False,  # geofm logs the model's size in one line
        logger=MetricsCsvLogger(run.metrics_path, resume_epoch) if fit else False,
        callbacks=trainer_callbacks,
        plugins=[AtomicCheckpointIO()],
    )


def _model_size(model: Any) -> str:
    """E.g. ``"7.0 M parameters (7.0 M trainable)"``."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return f"{total / 1e6:.1f} M parameters ({trainable / 1e6:.1f} M trainable)"


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


def _evaluate(trainer: Any, task: Any, datamodule: Any) -> dict[str, Any]:
    """Validation and test metrics of ``task`` as it is (each sample scored once, on any number of processes)."""
    from geofm.distributed import ExactEvaluationData

    data = ExactEvaluationData(datamodule)
    results: dict[str, Any] = {}
    with library_warnings_filtered():
        trainer.validate(task, datamodule=data, verbose=False)
        results["val"] = _scalar_metrics(trainer.callback_metrics, "val/")
        if datamodule.spec is None or "test" in datamodule.spec.splits:
            trainer.test(task, datamodule=data, verbose=False)
            results["test"] = _scalar_metrics(trainer.callback_metrics, "test/")
    return results


def _resume_config(run: RunDir, changes: RunConfig | Mapping[str, Any] | str | os.PathLike[str] | None) -> RunConfig:
    """The run's own configuration, with the changes a resume allows (a higher ``trainer.max_epochs``)."""
    config = run.read_config()
    if changes is None or isinstance(changes, str | os.PathLike):
        if changes is not None:
            raise ConfigError("a resumed run uses its own config.yaml: give no configuration file with --resume")
        return config
    data = changes.to_dict() if isinstance(changes, RunConfig) else dict(changes)
    given = [
        f"{section}.{key}" if isinstance(values, Mapping) else section
        for section, values in data.items()
        for key in (values if isinstance(values, Mapping) else [None])
    ]
    refused = [key for key in given if tuple(key.split(".")) not in RESUMABLE_KEYS]
    if refused:
        raise ConfigError(
            f"a resumed run keeps its own configuration; {', '.join(refused)} cannot be changed on resume "
            "(only trainer.max_epochs / --max-epochs can be raised). Start a new run to change them"
        )
    max_epochs = (data.get("trainer") or {}).get("max_epochs")
    if max_epochs is None:
        return config
    trainer = config.trainer.model_copy(update={"max_epochs": int(max_epochs)})
    return validate_config({**config.to_dict(), "trainer": trainer.model_dump(mode="json")})


def run(
    config: RunConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    resume: str | None = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Fine-tune and evaluate; write the run directory; return the summary (also in ``summary.json``).

    ``resume`` is a run directory to continue from its last readable checkpoint, with its own
    ``config.yaml``; ``config`` may then only raise ``trainer.max_epochs``. Earlier rows of
    ``metrics.csv`` are kept. ``callbacks`` are extra Lightning callbacks of the training Trainer (not
    of the final evaluation), e.g. the pruning callback of a ``geofm tune`` trial.
    """
    started = time.perf_counter()
    from geofm.distributed import is_rank_zero

    writer = is_rank_zero()
    if resume is not None:
        run_dir: RunDir | None = RunDir.open(resume)
        assert run_dir is not None
        config = _resume_config(run_dir, config)
        found = run_dir.resume_checkpoint()
        if found is None:
            log.warning("%s has no checkpoint yet: training starts from the beginning", run_dir.path)
        ckpt, resume_epoch = found if found is not None else (None, -1)
    else:
        config, run_dir, ckpt, resume_epoch = _as_config(config or {}), None, None, None

    import lightning as L

    L.seed_everything(config.seed, workers=True, verbose=False)
    resolved = resolve_run(config)
    config = resolved.completed_config()
    weights = str(resolved.weights.path) if resolved.weights.path else "none"
    built = _build(resolved, config, weights)
    if run_dir is None:
        stem = run_dir_stem(config)
        # the other processes of a distributed run learn rank 0's directory through ShareRunDir
        run_dir = RunDir.create(config.out, stem) if writer else RunDir(Path(config.out).expanduser() / stem)
    try:
        summary = _train_and_report(resolved, built, run_dir, ckpt, resume_epoch, writer, callbacks)
    except BaseException as error:
        if writer:
            run_dir.mark_failed(unwrap_worker_error(error))
        if isinstance(error, GeofmError):
            raise unwrap_worker_error(error) from error
        raise
    summary["wall_time_s"] = round(time.perf_counter() - started, 2)
    if writer:
        run_dir.write_summary(summary)
    return summary


def _train_and_report(
    resolved: ResolvedRun,
    built: _Built,
    run_dir: RunDir,
    ckpt: Path | None,
    resume_epoch: int | None,
    writer: bool,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    from geofm.checkpoints import load_checkpoint, model_state
    from geofm.distributed import ShareRunDir
    from geofm.run_model import load_model_state

    config = resolved.completed_config()
    if writer:
        run_dir.write_config(config)
        run_dir.write_provenance()
        if not resolved.weights.pretrained:
            log.warning("%s trains from RANDOM INITIALISATION (%s)", config.backbone.name, resolved.weights.origin)
        log.info("model: %s", _model_size(built.model))
    trainer = _trainer(config, run_dir, built.task, resume_epoch=resume_epoch, fit=True, callbacks=callbacks)
    with library_warnings_filtered():
        trainer.fit(built.task, datamodule=built.datamodule, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    run_dir = RunDir(next(c for c in trainer.callbacks if isinstance(c, ShareRunDir)).run_dir)
    config = resolved.completed_config()  # with the statistics the data module computed in its setup
    if writer:
        run_dir.write_config(config)

    checkpoint_callback = trainer.checkpoint_callback
    best = getattr(checkpoint_callback, "best_model_path", "") or ""
    if not best and run_dir.has_checkpoint():
        best = str(run_dir.best_checkpoint())
    if best:  # score the best weights, read back as evaluate and predict will read them
        load_model_state(built.model, model_state(load_checkpoint(best), best), f"checkpoint {best}")
    eval_trainer = _trainer(config, run_dir, built.task, fit=False)
    metrics = _evaluate(eval_trainer, built.task, built.datamodule)
    if writer and config.trainer.plots:
        _write_plots(run_dir, built.task, built.datamodule)
    best_score = getattr(checkpoint_callback, "best_model_score", None)
    return {
        "status": "finished",
        "run_dir": str(run_dir.path),
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
        "best_checkpoint": run_dir.relative(best) if best else None,
        "best_score": float(best_score) if best_score is not None else None,
        "epochs": trainer.current_epoch,
        "global_steps": trainer.global_step,
        "world_size": trainer.world_size,
        **metrics,
        "baseline": resolved.baseline(),
    }


def _evaluation_trainer(config: RunConfig, devices: int | str | list[int] | None) -> RunConfig:
    """``config`` scoring on ``devices`` of this machine (default 1), whatever machines the run trained on."""
    devices = 1 if devices is None else devices
    strategy = "auto" if devices == 1 else config.trainer.strategy
    trainer = config.trainer.model_copy(update={"devices": devices, "num_nodes": 1, "strategy": strategy})
    return config.model_copy(update={"trainer": trainer})


@dataclass
class RebuiltRun:
    """A run read back from its directory: the task module (its model holding the checkpoint) and the data."""

    run: RunDir
    config: RunConfig
    checkpoint: Path
    task: Any
    datamodule: Any


def rebuild_run(
    run_dir: str | os.PathLike[str],
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    devices: int | str | list[int] | None = None,
) -> RebuiltRun:
    """A run's task module and data module, rebuilt from ``config.yaml`` with its best (or ``checkpoint``) weights.

    The checkpoint is read safely and loaded strictly. ``devices`` (default: one) replaces the devices and
    nodes the run trained on, in the returned configuration.
    """
    from geofm.checkpoints import load_checkpoint, model_state
    from geofm.run_model import load_model_state

    run = RunDir.open(run_dir)
    ckpt = Path(checkpoint).expanduser() if checkpoint else run.best_checkpoint()
    state = model_state(load_checkpoint(ckpt), ckpt)
    config = run.read_config()
    config = config.model_copy(update={"backbone": config.backbone.model_copy(update={"weights": "none"})})
    resolved = resolve_run(config)
    config = _evaluation_trainer(resolved.completed_config(), devices)
    built = _build(resolved, config, "none")
    load_model_state(built.model, state, f"checkpoint {ckpt}")
    return RebuiltRun(run=run, config=config, checkpoint=ckpt, task=built.task, datamodule=built.datamodule)


def _write_plots(run: RunDir, task: Any, datamodule: Any) -> None:
    """The run's pictures; one that cannot be drawn is a warning, never a failed run."""
    from geofm.plots import write_run_plots

    try:
        written = write_run_plots(run.path, task=task, datamodule=datamodule)
    except Exception as error:  # a picture must not fail a finished run: say so and go on
        log.warning("could not draw the run's plots in %s: %s: %s", run.plots_dir, type(error).__name__, error)
        return
    log.info("plots: %s", ", ".join(p.name for p in written))


def evaluate(
    run_dir: str | os.PathLike[str],
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    devices: int | str | list[int] | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """Re-score a run's best checkpoint (or ``checkpoint``) on its validation and test splits.

    The model is rebuilt from the run's ``config.yaml`` and the checkpoint loaded safely and strictly
    (:func:`rebuild_run`). It is scored on ``devices`` of this machine (default: one, in this process),
    whatever devices and nodes the run trained on. Writes ``evaluation.json`` into the run directory,
    refreshes its ``plots/`` (unless ``plots`` is false) and returns the scores.
    """
    from geofm.distributed import is_rank_zero

    rebuilt = rebuild_run(run_dir, checkpoint=checkpoint, devices=devices)
    run = rebuilt.run
    trainer = _trainer(rebuilt.config, run, rebuilt.task, fit=False)
    metrics = _evaluate(trainer, rebuilt.task, rebuilt.datamodule)
    result = {"run_dir": str(run.path), "checkpoint": run.relative(rebuilt.checkpoint), **metrics}
    if is_rank_zero():
        run.write_json(EVALUATION_FILE, result)
        if plots:
            _write_plots(run, rebuilt.task, rebuilt.datamodule)
    return result
