"""A trained model from a run directory (or one of its checkpoints), ready for inference.

The run's ``config.yaml`` is validated as a :class:`~geofm.config.RunConfig` and the model rebuilt by the
function that built it for training (:func:`geofm.run_model.build_run_model`), with no pretrained weights;
the checkpoint is read safely (never unpickled) and its ``model.*`` tensors loaded strictly.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geofm.errors import ConfigError

__all__ = ["LoadedRun", "load_run", "run_task_type"]

log = logging.getLogger(__name__)


@dataclass
class LoadedRun:
    """A trained model ready for inference and what it expects of its input.

    ``band_names`` are the canonical input bands in channel order; ``mean`` / ``std`` the per-band
    normalisation in file units (``None`` when the run recorded none). ``task_type`` is
    ``segmentation``, ``regression`` or a classification type; ``num_classes`` the head's outputs;
    ``num_frames`` the time steps of one input (images are (B, C, T, H, W) when it is above 1).
    """

    model: Any
    config: dict[str, Any]
    band_names: tuple[str, ...]
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    task_type: str
    class_names: tuple[str, ...]
    num_classes: int
    checkpoint: Path
    run_dir: Path
    num_frames: int = 1


def run_task_type(run_dir_or_checkpoint: str | os.PathLike[str]) -> str:
    """The task type of a run directory (or of a checkpoint inside one), read from its ``config.yaml``."""
    from geofm.compose import task_type_and_head
    from geofm.rundir import RunDir

    run, _ = RunDir.find(run_dir_or_checkpoint)
    return task_type_and_head(str(run.read_config().task.name))[0]


def _statistics(
    mean: list[float] | None, std: list[float] | None, bands: tuple[str, ...]
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    if mean is None or std is None:
        log.warning("the run recorded no dataset.mean / dataset.std: inputs are used without normalisation")
        return None, None
    if len(mean) != len(bands) or len(std) != len(bands):
        raise ConfigError(
            f"config.yaml: dataset.mean ({len(mean)}) and dataset.std ({len(std)}) must have one value per band "
            f"of dataset.bands ({len(bands)}: {', '.join(bands)})"
        )
    if any(float(s) == 0 for s in std):
        raise ConfigError("config.yaml: dataset.std holds a zero; fix the run's statistics")
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def load_run(run_dir_or_checkpoint: str | os.PathLike[str], device: Any = "cpu") -> LoadedRun:
    """Rebuild a run's model from its ``config.yaml`` and load its checkpoint (best one for a directory).

    The model is in eval mode on ``device``. Raises :class:`~geofm.errors.ConfigError` for a path that is
    not a run, :class:`~geofm.errors.WeightsError` for a checkpoint that cannot be read safely or does
    not fit the configured model.
    """
    from geofm.bands import canonical_bands
    from geofm.checkpoints import load_checkpoint, model_state
    from geofm.compose import task_type_and_head
    from geofm.run_model import build_run_model, load_model_state, model_inputs
    from geofm.rundir import RunDir

    run, checkpoint_path = RunDir.find(run_dir_or_checkpoint)
    config = run.read_config()
    bands, num_frames, num_outputs = model_inputs(config)
    canonical = canonical_bands(bands)
    mean, std = _statistics(config.dataset.mean, config.dataset.std, canonical)
    task_type, _ = task_type_and_head(str(config.task.name))
    state = model_state(load_checkpoint(checkpoint_path), checkpoint_path)
    model = build_run_model(config, weights="none")
    load_model_state(model, state, f"checkpoint {checkpoint_path}")
    model.eval().to(device)
    names = tuple(config.task.class_names or ())
    if len(names) != num_outputs:
        prefix = "value" if task_type == "regression" else "class"
        names = tuple(f"{prefix}_{i}" for i in range(num_outputs))
    return LoadedRun(
        model=model,
        config=config.to_dict(),
        band_names=canonical,
        mean=mean,
        std=std,
        task_type=task_type,
        class_names=names,
        num_classes=num_outputs,
        checkpoint=checkpoint_path,
        run_dir=run.path,
        num_frames=num_frames,
    )
