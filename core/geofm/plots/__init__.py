"""Pictures of a run, as PNG files in ``<run>/plots/``.

:func:`write_run_plots` draws what a run's numbers say and what its model predicts:

- ``curves.png``: training and validation loss and the monitored metric per epoch, from ``metrics.csv``,
  with the best epoch marked (absent when ``metrics.csv`` is absent or empty);
- ``samples.png`` (dense tasks): the first validation samples as RGB, or false colour from the first three
  bands when the run has no red, green and blue (the middle step of a time series), each channel stretched
  between its 2nd and 98th percentile, beside the ground truth and the prediction (segmentation: class
  colours with a legend, ignored pixels black; regression: the first output on one colour scale);
- ``confusion_matrix.png`` (segmentation, multi-class classification): counts over the validation split,
  normalised per true class;
- ``scatter.png`` (regression): predicted against true values over the validation split (a uniform sample of
  at most 20,000 valid values, one colour per output), the 1:1 line, and R² over every valid value of
  every output (as the task's ``r2``).

Multi-label classification gets ``curves.png`` only (its F1 and mAP are in ``metrics.csv``). Figures
are drawn with matplotlib's object API on the Agg canvas, so pyplot and the process's backend are never
touched, and written atomically. Importing this module imports neither torch nor matplotlib.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from geofm.plots import _figures
from geofm.plots.collect import collect
from geofm.rundir import RunDir

__all__ = ["write_run_plots"]

log = logging.getLogger(__name__)


def _task_kind(task: Any) -> str | None:
    """``segmentation``, ``classification`` (multi-class), ``regression``, or ``None`` (no prediction plots)."""
    from geofm.tasks.classification import ClassificationTask
    from geofm.tasks.regression import RegressionTask
    from geofm.tasks.segmentation import SegmentationTask

    if isinstance(task, SegmentationTask) or getattr(task, "target_key", None) == "mask":
        return "segmentation"
    if isinstance(task, ClassificationTask):
        return "classification"
    if isinstance(task, RegressionTask):
        return "regression"
    return None


def _epoch_series(rows: Sequence[Mapping[str, str]], keys: Sequence[str]) -> dict[str, dict[int, float]]:
    """``key -> {epoch: value}`` of the rows' non-blank values (the last one of an epoch wins)."""
    series: dict[str, dict[int, float]] = {key: {} for key in keys}
    for row in rows:
        try:
            epoch = int(float(row.get("epoch") or ""))
        except ValueError:
            continue
        for key in keys:
            try:
                value = float(row.get(key) or "")
            except ValueError:
                continue
            if math.isfinite(value):
                series[key][epoch] = value
    return series


def _names(task: Any, datamodule: Any, count: int, prefix: str) -> tuple[str, ...]:
    names = tuple(getattr(task, "class_names", None) or getattr(datamodule, "class_names", None) or ())
    return tuple(map(str, names)) if len(names) == count else tuple(f"{prefix}{i}" for i in range(count))


def write_run_plots(run_dir: str | os.PathLike[str], *, task: Any, datamodule: Any, samples: int = 4) -> list[Path]:
    """Draw the run's pictures into ``<run_dir>/plots/`` (see the module docstring); return the files written.

    ``task`` is the run's task module (a :class:`geofm.tasks.base.BaseTask`) holding the weights to show,
    ``datamodule`` its data module; the model runs once over the validation split, in eval mode, without
    gradients, on the device its parameters are on (each submodule's mode is restored afterwards).
    ``samples`` is the number of validation samples in ``samples.png`` (0: none). Existing pictures are
    replaced atomically; a picture the run has nothing for (no ``metrics.csv`` rows, a task without
    prediction plots) is skipped, leaving any earlier file of that name. Raises
    :class:`~geofm.errors.ConfigError` when ``run_dir`` is not a run directory.
    """
    from geofm.metrics_log import read_metrics  # imports Lightning

    run = RunDir.open(run_dir)
    folder = run.plots_dir
    folder.mkdir(exist_ok=True)
    written: list[Path] = []
    monitor, mode = str(task.monitor), str(task.monitor_mode)
    series = _epoch_series(read_metrics(run.metrics_path), ("train/loss", "val/loss", monitor))
    if any(series.values()):
        written.append(_figures.save_png(_figures.curves_figure(series, monitor, mode), folder / "curves.png"))
    else:
        log.info("no epochs in %s: no learning curves drawn", run.metrics_path)

    kind = _task_kind(task)
    if kind is None:
        log.info("%s has no prediction plots: only the learning curves are drawn", type(task).__name__)
        return written
    count = int(getattr(task, "num_classes", None) or getattr(task, "num_outputs", None) or 1)
    ignore_index = getattr(datamodule, "ignore_index", None)
    if ignore_index is None:
        ignore_index = getattr(task, "ignore_index", None)
    if kind == "regression":
        ignore_index = None  # the task's get_target masks nodata values itself
    collected = collect(
        task, datamodule, kind=kind, samples=max(int(samples), 0), num_classes=count, ignore_index=ignore_index
    )
    names = _names(task, datamodule, count, "value_" if kind == "regression" else "class_")
    if collected.grid:
        figure = _figures.samples_figure(
            collected.grid,
            image_title=collected.image_title,
            class_names=names if kind == "segmentation" else None,
            value_name=names[0] if kind == "regression" and count > 1 else "value",
        )
        written.append(_figures.save_png(figure, folder / "samples.png"))
    if collected.confusion is not None and collected.units:
        unit = "pixels" if kind == "segmentation" else "images"
        figure = _figures.confusion_figure(collected.confusion, names, unit)
        written.append(_figures.save_png(figure, folder / "confusion_matrix.png"))
    if collected.predicted is not None and collected.true is not None and collected.output is not None:
        figure = _figures.scatter_figure(
            collected.predicted,
            collected.true,
            collected.output,
            r2=collected.r2,
            total=collected.units,
            output_names=names,
        )
        written.append(_figures.save_png(figure, folder / "scatter.png"))
    return written
