"""Quick-look PNG of a prediction: the input's RGB (2-98 % stretch) beside the coloured prediction (Pillow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from geofm.data.reading import valid_mask
from geofm.errors import GeofmError
from geofm.predict.scene import SceneBands

__all__ = ["class_palette", "write_preview"]

MAX_SIDE = 1024
GAP = 8


def class_palette(count: int) -> list[tuple[int, int, int]]:
    """Distinct colours for ``count`` classes (tab10-like, then golden-angle hues)."""
    import colorsys

    base = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ]
    colours = base[:count]
    for i in range(len(colours), count):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.65, 0.9)
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return colours


def _stretch(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Each (h, w) channel of ``data`` scaled to 0..255 between its 2nd and 98th valid percentiles."""
    result = np.zeros(data.shape, dtype=np.uint8)
    for index, channel in enumerate(data):
        values = channel[valid & np.isfinite(channel)]
        if values.size == 0:
            continue
        low, high = np.percentile(values, (2, 98))
        scale = 255.0 / (high - low) if high > low else 0.0
        result[index] = np.clip((np.nan_to_num(channel) - low) * scale, 0, 255).astype(np.uint8)
    return result


def _shape(height: int, width: int) -> tuple[int, int]:
    factor = max(1.0, max(height, width) / MAX_SIDE)
    return max(1, round(height / factor)), max(1, round(width / factor))


def _input_rgb(scene: Path, bands: SceneBands, run_bands: tuple[str, ...], shape: tuple[int, int]) -> np.ndarray:
    import rasterio
    from rasterio.enums import Resampling

    wanted = [run_bands.index(b) for b in ("RED", "GREEN", "BLUE") if b in run_bands]
    channels = wanted if len(wanted) == 3 else [0, 0, 0]
    indexes = [bands.indexes[c] for c in channels]
    with rasterio.open(scene) as src:
        data = src.read(indexes, out_shape=(3, *shape), resampling=Resampling.nearest, out_dtype="float32")
    valid = valid_mask(data, bands.nodata)
    rgb = _stretch(data, valid)
    rgb[:, ~valid] = 0
    return rgb.transpose(1, 2, 0)


def _prediction_rgb(prediction: Path, shape: tuple[int, int], palette: list[tuple[int, int, int]]) -> np.ndarray:
    import rasterio
    from rasterio.enums import Resampling

    with rasterio.open(prediction) as src:
        tags, scale = src.tags(), float(src.scales[0] or 1.0)
        kind = tags.get("geofm_output", "class")
        data = src.read(out_shape=(src.count, *shape), resampling=Resampling.nearest, masked=True)
    valid = ~np.ma.getmaskarray(data).any(axis=0)
    if kind == "probabilities" and tags.get("geofm_task") == "multilabel_classification":
        # independent labels: each class's colour in proportion to its probability, dark where none is likely
        weights = np.asarray(data.filled(0), dtype=np.float32) * scale
        colours = np.asarray(palette, dtype=np.float32).reshape(-1, 3)[: len(weights)]
        mixed = np.tensordot(weights, colours, axes=(0, 0)) / np.maximum(weights.sum(axis=0), 1.0)[..., None]
        image = np.clip(mixed, 0, 255).astype(np.uint8)
    elif kind in ("class", "probabilities"):
        classes = data[0] if kind == "class" else data.filled(0).argmax(axis=0)
        colours = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
        index = np.clip(np.asarray(np.ma.filled(classes, 0), dtype=np.int64), 0, len(colours) - 1)
        image = colours[index]
    else:
        grey = _stretch(data.filled(np.nan)[:1].astype(np.float32), valid)[0]
        image = np.repeat(grey[..., None], 3, axis=2)
    image[~valid] = 0
    return image


def write_preview(scene: Path, bands: SceneBands, loaded: Any, prediction: Path, destination: Path) -> Path:
    """Write ``destination`` (PNG): the scene's RGB on the left, the prediction on the right.

    The RGB is the first time step's of a multi-temporal scene. Class maps and probabilities are shown in
    the class colours (the most probable class; for multilabel probabilities each class's colour mixed in
    proportion to its probability, dark where no label is likely), other outputs as a grey stretch of
    their first band.
    """
    try:
        from PIL import Image
    except ImportError as error:
        raise GeofmError("--preview needs Pillow: pip install pillow") from error
    import rasterio

    with rasterio.open(scene) as src:
        shape = _shape(src.height, src.width)
    left = _input_rgb(scene, bands, tuple(loaded.band_names), shape)
    right = _prediction_rgb(prediction, shape, class_palette(max(int(loaded.num_classes), 1)))
    canvas = np.full((shape[0], 2 * shape[1] + GAP, 3), 255, dtype=np.uint8)
    canvas[:, : shape[1]] = left
    canvas[:, shape[1] + GAP :] = right
    Image.fromarray(canvas).save(destination)
    return destination
