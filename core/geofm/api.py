"""The public Python API; the CLI is a thin layer over these functions.

Each function imports its heavy dependencies (torch, Lightning) only when called. ``build_backbone``,
``build_model`` (:mod:`geofm.compose`) and ``evaluate`` (:mod:`geofm.runner`) are those modules' own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from geofm.compose import build_backbone, build_model
from geofm.registry import get_registry
from geofm.runner import evaluate
from geofm.specs import ComponentSpec

__all__ = [
    "build_backbone",
    "build_model",
    "evaluate",
    "get_spec",
    "list_components",
    "predict",
    "run",
    "tune",
    "tune_repeat",
]


def list_components(kind: str, pattern: str = "*") -> list[ComponentSpec]:
    """Specs of ``kind`` (backbones, necks, decoders, datasets, tasks) whose name matches ``pattern``."""
    return get_registry(kind).search(pattern)


def get_spec(kind: str, name: str) -> ComponentSpec:
    """The spec of component ``name`` of ``kind``; unknown names raise with close matches."""
    return get_registry(kind).get(name)


def run(
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None, *, resume: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Fine-tune and evaluate as ``geofm run`` does; return the summary written to ``summary.json``.

    ``config`` is a mapping in the run-configuration schema (see ``geofm run --help``) or a YAML path.
    ``resume`` continues the run in that directory from its last checkpoint, with its own configuration
    (``config`` may then only raise ``{"trainer": {"max_epochs": N}}``).
    """
    from geofm.runner import run as _run

    return _run(config, resume=None if resume is None else str(resume))


def predict(
    run_dir_or_checkpoint: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    **options: Any,
) -> list[Path]:
    """Tiled, streaming inference of GeoTIFF scenes into georeferenced GeoTIFFs; returns the outputs."""
    from geofm.predict import predict as _predict

    return _predict(run_dir_or_checkpoint, inputs, out_dir, **options)


def tune(
    run_config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    search: Mapping[str, Any] | None = None,
    *,
    resume: str | os.PathLike[str] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Search hyper-parameters as ``geofm tune`` does; return the study's summary (also in ``summary.json``).

    ``run_config`` is the base run (a mapping in the run-configuration schema, or a YAML path, which may
    hold ``search:`` and ``tune:`` sections beside the run's); ``search`` maps dotted run-configuration
    keys to ranges (``{"task.lr": {"loguniform": [1e-5, 1e-3]}, "decoder.name": {"choice": ["upernet",
    "fcn"]}}``); ``settings`` are the tune settings (``trials``, ``metric``, ``direction``, ``timeout``,
    ``sampler``, ``pruner``, ``seed``, ``backend``, ``jobs``, ``storage``, ``cpus_per_trial``,
    ``gpus_per_trial``, ``ray_address``, ``repeat``, ``mlflow``, ``enqueue``, ``out``, ``name``; see
    :class:`geofm.tune.settings.TuneSettings`). Every key and value is validated before the study
    directory is created. ``resume`` continues the study in that directory with its own ``tune.yaml``
    (``settings`` may then change only how long and where it runs, e.g. ``trials``).
    """
    from geofm.tune.study import run_study

    return run_study(run_config, search, resume=resume, **settings)


def tune_repeat(study_dir: str | os.PathLike[str], seeds: int = 3) -> dict[str, Any]:
    """Train a study's best configuration with ``seeds`` seeds, as ``geofm tune repeat``.

    Each repeat is a run directory ``<study>/repeats/seed_<seed>``; returns mean ± std (and the values)
    of each validation and test metric, also recorded under ``repeats`` in the study's ``summary.json``.
    """
    from geofm.tune.repeats import repeat_best

    return repeat_best(study_dir, seeds)
