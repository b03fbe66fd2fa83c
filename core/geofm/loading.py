"""Rebuilding a trained model from a run directory (or one of its checkpoints) for inference.

A run directory holds the resolved ``config.yaml`` that :mod:`geofm.runner` wrote and
``checkpoints/*.ckpt`` (Lightning checkpoints of the task module, whose ``model`` attribute is the
:class:`~geofm.compose.ComposedModel`). The model is rebuilt from the config with no pretrained weights
and the checkpoint's ``model.*`` tensors are loaded strictly.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geofm.errors import ConfigError, GeofmError, WeightsError

__all__ = ["LoadedRun", "find_run", "load_run_model"]

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
_BACKBONE_FIELDS = ("name", "weights", "levels", "img_size", "num_frames")


@dataclass
class LoadedRun:
    """A trained model ready for inference and what it expects of its input.

    ``band_names`` are the canonical input bands in channel order; ``mean`` / ``std`` the per-band
    normalisation in file units (``None`` when the run recorded none). ``task_type`` is
    ``segmentation``, ``regression`` or a classification type; ``num_classes`` the head's outputs.
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


def _best_checkpoint(run_dir: Path) -> Path:
    summary_path = run_dir / SUMMARY_FILE
    if summary_path.is_file():
        try:
            best = json.loads(summary_path.read_text(encoding="utf-8")).get("best_checkpoint")
        except (OSError, ValueError):
            best = None
        if best and Path(best).is_file():
            return Path(best)
        if best and (run_dir / "checkpoints" / Path(best).name).is_file():  # run dir moved since
            return run_dir / "checkpoints" / Path(best).name
    for name in ("best.ckpt", "last.ckpt"):
        candidate = run_dir / "checkpoints" / name
        if candidate.is_file():
            return candidate
    raise GeofmError(
        f"{run_dir} has no checkpoint (checkpoints/best.ckpt or last.ckpt); did the run finish an epoch? "
        "Pass a .ckpt file to use another one."
    )


def find_run(run_dir_or_checkpoint: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(run_dir, checkpoint)`` of a run directory (its best checkpoint) or of a ``.ckpt`` file in one."""
    path = Path(run_dir_or_checkpoint).expanduser()
    if path.is_dir():
        if not (path / CONFIG_FILE).is_file():
            raise ConfigError(f"{path} holds no {CONFIG_FILE}: give a run directory that `geofm run` wrote")
        return path, _best_checkpoint(path)
    if path.is_file():
        run_dir = path.resolve().parent.parent
        if not (run_dir / CONFIG_FILE).is_file():
            raise ConfigError(
                f"checkpoint {path} is not inside a run directory (expected <run>/checkpoints/{path.name} "
                f"with <run>/{CONFIG_FILE}); give the run directory or a checkpoint inside one"
            )
        return run_dir, path
    raise ConfigError(f"{path} does not exist: give a run directory or a .ckpt file inside one")


def _load_checkpoint(path: Path) -> dict[str, Any]:
    import pickle

    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # hyper-parameters of some types need full unpickling; the file is the user's own run
        log.debug("%s needs full unpickling (non-tensor hyper-parameters)", path)
        data = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as error:
        raise WeightsError(f"cannot read checkpoint {path}: {error}") from error
    if not isinstance(data, Mapping) or "state_dict" not in data:
        raise WeightsError(f"{path} is not a Lightning checkpoint (no 'state_dict'); give a geofm run's .ckpt")
    return dict(data)


def _model_state(checkpoint: Mapping[str, Any], path: Path) -> dict[str, Any]:
    state = {k[len("model.") :]: v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
    if not state:
        raise WeightsError(f"{path} holds no 'model.*' weights; it was not written by a geofm task")
    return state


def _num_outputs(hparams: Mapping[str, Any], state: Mapping[str, Any], config: Mapping[str, Any]) -> int:
    if hparams.get("num_classes") is not None:
        return int(hparams["num_classes"])
    if hparams.get("num_outputs") is not None:
        return int(hparams["num_outputs"])
    head_weights = [k for k in state if k.startswith("head.") and k.endswith(".weight")]
    if head_weights:  # the head's last layer gives the output count
        return int(state[head_weights[-1]].shape[0])
    return int((config.get("head") or {}).get("num_outputs", 1))


def _section(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"config.yaml: section {key!r} must be a mapping, not {type(value).__name__}")
    return dict(value)


def _statistics(
    dataset: Mapping[str, Any], bands: tuple[str, ...]
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    mean, std = dataset.get("mean"), dataset.get("std")
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


def load_run_model(run_dir_or_checkpoint: str | os.PathLike[str], device: Any = "cpu") -> LoadedRun:
    """Rebuild a run's model from its ``config.yaml`` and load its checkpoint (best one for a directory).

    The model is in eval mode on ``device``. Raises :class:`~geofm.errors.ConfigError` for a path that is
    not a run, :class:`~geofm.errors.WeightsError` when the checkpoint does not fit the configured model.
    """
    from geofm.bands import canonical_bands
    from geofm.compose import build_model, resolve_task
    from geofm.config import load_config

    run_dir, checkpoint_path = find_run(run_dir_or_checkpoint)
    config = load_config(run_dir / CONFIG_FILE)
    backbone, decoder, dataset = (_section(config, k) for k in ("backbone", "decoder", "dataset"))
    task_name = _section(config, "task").get("name") or "segmentation"
    if not backbone.get("name") or not decoder.get("name"):
        raise ConfigError(f"{run_dir / CONFIG_FILE} lacks backbone.name or decoder.name; is it a resolved run config?")
    if not dataset.get("bands"):
        raise ConfigError(
            f"{run_dir / CONFIG_FILE} has no dataset.bands, so the input bands of the model are unknown; "
            "set dataset.bands to the run's bands in channel order"
        )
    bands = canonical_bands(dataset["bands"])
    mean, std = _statistics(dataset, bands)
    task_type, _ = resolve_task(str(task_name))

    checkpoint = _load_checkpoint(checkpoint_path)
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    state = _model_state(checkpoint, checkpoint_path)
    num_classes = _num_outputs(hparams, state, config)
    head_options = _section(config, "head")
    model = build_model(
        backbone["name"],
        decoder["name"],
        necks=config.get("necks"),
        task=str(task_name),
        num_classes=num_classes,
        weights="none",
        bands=bands,
        img_size=backbone.get("img_size"),
        num_frames=backbone.get("num_frames"),
        backbone_options={k: v for k, v in backbone.items() if k not in _BACKBONE_FIELDS},
        decoder_options={k: v for k, v in decoder.items() if k != "name"},
        head_options=head_options,
        aux_heads=config.get("aux_heads") or None,
    )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise WeightsError(
            f"checkpoint {checkpoint_path} does not fit the model described by {run_dir / CONFIG_FILE} "
            f"({backbone['name']} + {decoder['name']}): {error}"
        ) from error
    model.eval().to(device)
    names = tuple(str(n) for n in hparams.get("class_names") or ())
    if len(names) != num_classes:
        prefix = "value" if task_type == "regression" else "class"
        names = tuple(f"{prefix}_{i}" for i in range(num_classes))
    return LoadedRun(
        model=model,
        config=config,
        band_names=bands,
        mean=mean,
        std=std,
        task_type=task_type,
        class_names=names,
        num_classes=num_classes,
        checkpoint=checkpoint_path,
        run_dir=run_dir,
    )
