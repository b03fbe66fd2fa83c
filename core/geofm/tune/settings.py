"""The settings of a study (the ``tune:`` section of a tune file) and the file's three parts.

A tune file is a run configuration (the sections ``geofm run --config`` takes) with two more sections::

    backbone: {name: tiny_vit}
    trainer: {max_epochs: 5}
    search:                    # geofm.tune.space
      task.lr: {loguniform: [1.0e-5, 1.0e-3]}
    tune:                      # TuneSettings
      trials: 20
      backend: optuna

A study writes the resolved file as ``<study>/tune.yaml``: every setting explicit, ``--resume`` reads it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geofm.errors import ConfigError

__all__ = ["RESUMABLE_SETTINGS", "TuneSettings", "default_direction", "split_tune_file", "validate_settings"]

MINIMIZED_METRICS = ("loss", "rmse", "mae", "mse")
"""Metric names (after ``val/``) that are better when lower, when ``direction`` is not given."""

MAXIMIZED_METRICS = ("miou", "accuracy", "f1", "map", "r2", "iou_")
"""Metric names (or prefixes) that are better when higher."""

RESUMABLE_SETTINGS = (
    "trials",
    "timeout",
    "jobs",
    "cpus_per_trial",
    "gpus_per_trial",
    "ray_address",
    "repeat",
    "mlflow",
)
"""The settings ``--resume`` may change: how long and where the study runs, never what it searches."""


class TuneSettings(BaseModel):
    """How a study searches: how many trials, for which metric, with which sampler, pruner and backend."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    trials: int = Field(default=10, gt=0, description="trials to complete or prune (failed ones are replaced)")
    metric: str | None = Field(default=None, description="validation metric (default: the task's, e.g. val/miou)")
    direction: Literal["maximize", "minimize"] | None = None
    timeout: float | None = Field(default=None, gt=0, description="seconds after which no new trial starts")
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    pruner: Literal["median", "asha", "none"] = "median"
    seed: int = Field(default=0, description="seed of the sampler (trials train with the run's own seed)")
    backend: Literal["optuna", "ray"] = "optuna"
    jobs: int | None = Field(default=None, gt=0, description="trials at once (optuna: threads; ray: a cap)")
    storage: str | None = Field(default=None, description="Optuna storage URL (default: <study>/study.db)")
    cpus_per_trial: float = Field(default=1.0, gt=0)
    gpus_per_trial: float = Field(default=0.0, ge=0)
    ray_address: str | None = Field(default=None, description="an existing Ray cluster (default: a local Ray)")
    repeat: int = Field(default=0, ge=0, description="train the best configuration again with this many seeds")
    mlflow: str | None = Field(default=None, description="MLflow tracking URI to log each trial to")
    enqueue: list[dict[str, Any]] = Field(default_factory=list, description="trials to run first, by hand")
    out: str = Field(default="studies", description="folder for study directories")
    name: str | None = Field(default=None, description="study directory name and Optuna study name")


def validate_settings(data: Mapping[str, Any] | TuneSettings | None) -> TuneSettings:
    """Validate the tuning settings; an unknown or invalid one is a :class:`ConfigError` naming it."""
    if isinstance(data, TuneSettings):
        return data
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"the tune: section must be a mapping of settings, not {type(data).__name__}")
    try:
        return TuneSettings.model_validate(dict(data or {}))
    except ValidationError as error:
        messages = []
        for item in error.errors():
            key = ".".join(str(p) for p in item.get("loc", ()))
            if item.get("type") == "extra_forbidden":
                close = difflib.get_close_matches(key, list(TuneSettings.model_fields), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                messages.append(f"tune setting {key!r} is unknown.{hint}")
            else:
                messages.append(f"tune setting {key!r}: {item.get('msg')} (got {item.get('input')!r})")
        raise ConfigError("; ".join(messages)) from None


def default_direction(metric: str, task_monitor: str, task_mode: str) -> Literal["maximize", "minimize"]:
    """The direction of ``metric``: the task's for its monitored metric, else by the metric's name."""
    if metric == task_monitor:
        return "maximize" if task_mode == "max" else "minimize"
    name = metric.removeprefix("val/")
    if name in MINIMIZED_METRICS:
        return "minimize"
    if any(name == m or (m.endswith("_") and name.startswith(m)) for m in MAXIMIZED_METRICS):
        return "maximize"
    raise ConfigError(f"is {metric} better high or low? give --direction maximize or --direction minimize")


def split_tune_file(data: Mapping[str, Any]) -> tuple[dict[str, Any], Any, Any]:
    """``(run configuration, search section, tune section)`` of a tune file's data."""
    run = {key: value for key, value in data.items() if key not in ("search", "tune")}
    return run, data.get("search"), data.get("tune")
