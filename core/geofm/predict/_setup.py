"""What predicting maps and predicting objects share around their scenes.

The ``--out`` folder checked and made, the outputs checked against each other and existing files, the
run loaded on its device, every scene's bands matched before any tile is computed, the run's
normalisation and the report of a predicted scene.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from geofm.errors import ConfigError, DataError
from geofm.predict._options import PredictOptions
from geofm.predict._run import LoadedRun, load_run
from geofm.predict.scene import SceneBands, match_scene_bands

__all__ = [
    "GDAL_CACHE_MB",
    "check_destinations",
    "check_out_dir",
    "make_out_dir",
    "match_bands",
    "normalisation",
    "prepare_scenes",
    "run_on_device",
    "scene_report",
]

GDAL_CACHE_MB = 64
"""GDAL block cache during prediction: enough for the blocks of one row of tiles, bounded for huge scenes."""


def check_out_dir(folder: Path) -> None:
    """Refuse an ``--out`` folder that cannot hold the predictions, creating and leaving nothing.

    A DataError when ``folder`` is a file, lies below a file, or cannot be written: an existing folder
    must take a probe file (created and removed at once, which also finds read-only mounts); a folder
    still to be made needs its nearest existing parent to be a folder this process may write in.
    """
    hint = "pass a writable --out folder (predictions go inside it as <scene>_pred.tif)"
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise DataError(f"--out {folder} is an existing file, not a folder; {hint}")
    parent = folder.absolute()
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not os.path.isdir(parent):
        raise DataError(f"--out {folder} cannot be created: {parent} is a file, not a folder; {hint}")
    if parent != folder.absolute():
        if not os.access(parent, os.W_OK | os.X_OK):
            raise DataError(f"--out {folder} cannot be created: {parent} is not writable; {hint}")
        return
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".geofm-probe-"):
            pass
    except OSError as error:
        raise DataError(f"--out {folder} is not writable ({error.strerror or error}); {hint}") from error


def make_out_dir(out_path: Path) -> None:
    """Create the ``--out`` folder (and its parents); a DataError when that fails."""
    try:
        out_path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create --out {out_path} ({error}); pass a writable --out folder") from error


def check_destinations(destinations: Sequence[Path], overwrite: bool) -> None:
    """Refuse outputs that two inputs would share, and existing ones unless ``overwrite``."""
    clashes = sorted({d.name for d in destinations if destinations.count(d) > 1})
    if clashes:
        raise DataError(f"several inputs would write the same output ({', '.join(clashes)}); predict them separately")
    existing = [d for d in destinations if d.exists()]
    if existing and not overwrite:
        raise DataError(
            f"output {existing[0]} already exists"
            + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else "")
            + "; pass --overwrite (overwrite=True) to replace, or choose another --out folder"
        )


def _device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name} was asked for but CUDA is not available; use --device cpu or auto")
    return device


def run_on_device(
    run_dir_or_checkpoint: str | os.PathLike[str] | None, loaded: LoadedRun | None, device: str
) -> tuple[LoadedRun, Any]:
    """The run (``loaded``, else loaded from ``run_dir_or_checkpoint``) in eval mode on torch ``device``."""
    torch_device = _device(device)
    if loaded is None:
        if run_dir_or_checkpoint is None:
            raise ConfigError("predict needs a run directory or checkpoint, or a loaded run")
        loaded = load_run(run_dir_or_checkpoint, device=torch_device)
    else:
        loaded.model.eval().to(torch_device)
    return loaded, torch_device


def prepare_scenes(
    run_dir_or_checkpoint: str | os.PathLike[str] | None,
    loaded: LoadedRun | None,
    scenes: Sequence[Path],
    destinations: Sequence[Path],
    out_dir: Path,
    options: PredictOptions,
    fits: Callable[[LoadedRun], None],
) -> tuple[LoadedRun, Any, list[SceneBands]]:
    """Everything before the first tile: ``(run, torch device, each scene's bands)``, ``out_dir`` made.

    Refuses, in this order, outputs that clash or exist (:func:`check_destinations`), a run that ``fits``
    refuses (it raises) and scenes whose bands do not match the run's, before making ``out_dir``.
    """
    check_destinations(destinations, options.overwrite)
    loaded, device = run_on_device(run_dir_or_checkpoint, loaded, options.device)
    fits(loaded)
    scene_bands = match_bands(scenes, loaded)
    make_out_dir(out_dir)
    return loaded, device, scene_bands


def match_bands(scenes: Sequence[Path], loaded: LoadedRun) -> list[SceneBands]:
    """Each scene's bands for ``loaded``: every band mismatch is reported before any tile is computed."""
    from geofm.data.reading import open_raster

    scene_bands = []
    for scene in scenes:
        with open_raster(scene) as src:
            scene_bands.append(match_scene_bands(scene, src, loaded.band_names, loaded.num_frames))
    return scene_bands


def normalisation(loaded: LoadedRun) -> tuple[list[float], list[float]]:
    """The per-band ``(mean, std)`` inputs are normalised with; a run without statistics keeps raw values."""
    channels = len(loaded.band_names)
    mean = list(loaded.mean) if loaded.mean else [0.0] * channels
    std = list(loaded.std) if loaded.std else [1.0] * channels
    return mean, std


def scene_report(
    scene: Path, destination: Path, height: int, width: int, tiles: int, tiles_run: int, seconds: float
) -> dict[str, Any]:
    """What was predicted of one scene, and in how many ``seconds``."""
    return {
        "input": str(scene),
        "output": str(destination),
        "height": height,
        "width": width,
        "tiles": tiles,
        "tiles_run": tiles_run,
        "seconds": round(seconds, 3),
    }
