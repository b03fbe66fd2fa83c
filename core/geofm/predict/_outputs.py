"""What a prediction file holds: the model's output per kind, its layout and encoding, and its tags."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geofm.errors import ConfigError
from geofm.predict._run import LoadedRun
from geofm.vocabulary import DENSE_TASKS

__all__ = [
    "DEFAULT_KINDS",
    "OUTPUT_KINDS",
    "OutputLayout",
    "TileRunner",
    "argmax_channels",
    "embedding_geometry",
    "meta_tensors",
    "output_layout",
    "output_tags",
    "per_tile",
]

OUTPUT_KINDS = ("class", "probabilities", "regression", "embeddings")
"""What a prediction file holds: a class map, per-class probabilities, regression values or embeddings."""
DEFAULT_KINDS = {
    "segmentation": "class",
    "regression": "regression",
    "classification": "class",
    "multilabel_classification": "probabilities",
}
"""The output kind of each task type that predict maps, when none is asked for."""
MULTILABEL = "multilabel_classification"


@dataclass(frozen=True)
class OutputLayout:
    """The output file's layout: kind, band count, dtype, nodata and band descriptions."""

    kind: str
    count: int
    dtype: str
    nodata: float
    descriptions: tuple[str, ...]
    reduction: int = 1

    def encode(self, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Blended (C, h, w) values -> the (count, h, w) array written to the file."""
        if self.kind == "class":
            data = argmax_channels(values, self.dtype)[None]
        elif self.kind == "probabilities" and self.dtype == "uint8":
            data = np.clip(np.rint(values * 254.0), 0, 254).astype(np.uint8)
        else:
            data = values.astype(self.dtype, copy=False)
        data[:, ~valid] = self.nodata
        return data

    def tiff_predictor(self, compression: str) -> int | None:
        """The TIFF predictor that packs this output best under ``compression`` (``None``: none).

        Floating-point differencing (3) for float values and horizontal differencing (2) for integers,
        which both vary smoothly; none for class maps, whose labels have no meaningful differences (a
        predictor makes them pack worse), nor for codecs without predictors.
        """
        if compression not in ("deflate", "lzw", "zstd") or self.kind == "class":
            return None
        kind = np.dtype(self.dtype).kind
        return 3 if kind == "f" else 2 if kind in "ui" else None


def argmax_channels(values: np.ndarray, dtype: str) -> np.ndarray:
    """Index of the largest of (K, h, w) ``values`` per pixel (first one on ties), as ``dtype``.

    One vectorised pass per class, instead of ``argmax(axis=0)`` across the strides of a channel-first array.
    """
    best = values[0].copy()
    index = np.zeros(values.shape[1:], dtype=dtype)
    for k in range(1, values.shape[0]):
        better = values[k] > best
        index[better] = k
        np.maximum(best, values[k], out=best)
    return index


def per_tile(loaded: LoadedRun, kind: str) -> bool:
    """Whether the model gives one value per class and tile (classification) that is painted over the tile."""
    return loaded.task_type not in DENSE_TASKS and kind != "embeddings"


def output_layout(
    loaded: LoadedRun, kind: str | None, dtype: str | None, embed_dim: int, reduction: int
) -> OutputLayout:
    """The layout of output ``kind`` (``None``: the task's default) in ``dtype`` (``None``: the kind's default)."""
    task = loaded.task_type
    if task not in DEFAULT_KINDS:
        raise ConfigError(
            f"predict maps segmentation, regression, classification and multilabel_classification runs, not a "
            f"{task} run (--output embeddings gives the backbone's features of any run)"
        )
    kind = kind or DEFAULT_KINDS[task]
    if kind == "embeddings":
        return OutputLayout(
            kind,
            embed_dim,
            dtype or "float32",
            float("nan"),
            tuple(f"embedding_{i}" for i in range(embed_dim)),
            reduction,
        )
    if task == MULTILABEL and kind == "class":
        raise ConfigError(
            "--output class does not fit a multilabel_classification run (its labels are independent, a pixel "
            "may have several); use --output probabilities (one band per class)"
        )
    if (kind == "regression") != (task == "regression"):
        wanted = {"regression": "regression", MULTILABEL: "probabilities"}.get(task, "class or probabilities")
        raise ConfigError(f"--output {kind} does not fit a {task} run; use {wanted} (or embeddings)")
    names = loaded.class_names
    if kind == "class":
        dtype = dtype or ("uint8" if loaded.num_classes <= 255 else "uint16")
        if dtype not in ("uint8", "uint16"):
            raise ConfigError(f"a class map is uint8 or uint16, not {dtype}")
        if dtype == "uint8" and loaded.num_classes > 255:
            raise ConfigError(f"{loaded.num_classes} classes do not fit uint8 (255 is nodata); use --dtype uint16")
        return OutputLayout(kind, 1, dtype, 255 if dtype == "uint8" else 65535, ("class",))
    dtype = dtype or "float32"
    if kind == "probabilities":
        if dtype not in ("float32", "uint8"):
            raise ConfigError(f"probabilities are float32 or uint8 (scaled 0..254), not {dtype}")
        nodata = 255.0 if dtype == "uint8" else float("nan")
        return OutputLayout(kind, loaded.num_classes, dtype, nodata, tuple(f"probability_{n}" for n in names))
    if dtype not in ("float32", "float64"):
        raise ConfigError(f"regression values are float32 or float64, not {dtype}")
    return OutputLayout(kind, loaded.num_classes, dtype, float("nan"), tuple(names))


def output_tags(loaded: LoadedRun, layout: OutputLayout, scene: Path, tiling: dict[str, str]) -> dict[str, str]:
    """GeoTIFF tags: provenance (geofm version, run, checkpoint, source), the output kind and class names."""
    import geofm

    tags = {
        "geofm_version": geofm.__version__,
        "geofm_run": str(loaded.run_dir.resolve()),
        "geofm_checkpoint": str(Path(loaded.checkpoint).resolve()),
        "geofm_task": loaded.task_type,
        "geofm_output": layout.kind,
        "geofm_bands": ",".join(loaded.band_names),
        "geofm_source": str(scene),
        "geofm_model": f"{loaded.config['backbone']['name']}+{loaded.config['decoder']['name']}",
        **tiling,
    }
    if loaded.num_frames > 1:
        tags["geofm_num_frames"] = str(loaded.num_frames)
    if loaded.task_type != "regression":
        tags["class_names"] = json.dumps(list(loaded.class_names))
        tags.update({f"class_{i}": name for i, name in enumerate(loaded.class_names)})
    if layout.kind == "probabilities" and layout.dtype == "uint8":
        tags["scale"] = str(1 / 254)
    return tags


# --- the model call --------------------------------------------------------------------------------


def meta_tensors(meta: Mapping[str, np.ndarray], device: Any) -> dict[str, Any]:
    """The batch ``meta`` (numpy arrays) as the model takes it: tensors on ``device``.

    On MPS, which has no float64, float64 values (the timestamps) stay on the CPU, exact.
    """
    import torch

    tensors = {}
    for key, value in meta.items():
        tensor = torch.from_numpy(np.ascontiguousarray(value))
        if not (tensor.dtype == torch.float64 and device.type == "mps"):
            tensor = tensor.to(device, non_blocking=True)
        tensors[key] = tensor
    return tensors


class TileRunner:
    """Tiles (B, C, H, W) or (B, C, T, H, W) -> the kind's values times the blending ``weight`` (B, K, h, w).

    The model is called as training and validation call it, ``model(image, **meta)``, with the tiles'
    batch metadata (:meth:`geofm.predict.scene.SceneMeta.batch`) as tensors on the device. Class maps and
    probabilities are blended as scores: softmax over the classes, or each class's sigmoid for a multilabel
    run. A classification model's (B, K) scores are painted over its whole tile. The result is numpy, on
    the CPU.
    """

    def __init__(self, loaded: LoadedRun, kind: str, device: Any, precision: str, weight: np.ndarray) -> None:
        import torch

        self.model = loaded.model
        self.kind = kind
        self.sigmoid = loaded.task_type == MULTILABEL
        self.device = device
        self.bf16 = precision == "bf16"
        self.weight = torch.from_numpy(weight).to(device)

    def __call__(self, batch: np.ndarray, meta: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The weighted values of one batch of normalised tiles, with their batch ``meta`` (numpy arrays)."""
        import torch

        image = torch.from_numpy(batch).to(self.device, non_blocking=True)
        inputs = meta_tensors(meta or {}, self.device)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            if self.kind == "embeddings":
                result = _embeddings(self.model, image, inputs)
            else:
                result = self.model(image, **inputs)
                if self.kind in ("class", "probabilities"):
                    result = result.float().sigmoid() if self.sigmoid else result.float().softmax(dim=1)
            if result.ndim == 2:  # one score per class and tile
                result = result[:, :, None, None]
            result = result.float() * self.weight  # the model's threads weight the whole batch at once
        return result.cpu().numpy()


def _embeddings(model: Any, image: Any, meta: Mapping[str, Any]) -> Any:
    """The backbone's last feature as a map (B, D, H/r, W/r): tokens per patch, or the last CNN stage.

    Tokens of several time steps are averaged over time.
    """
    backbone = model.backbone
    feature = backbone.forward_features(image, **meta)[-1]
    if getattr(backbone, "output_kind", "maps") != "tokens":
        return feature
    patch = int(backbone.patch_size)
    height, width = image.shape[-2] // patch, image.shape[-1] // patch
    tokens = feature[:, int(getattr(backbone, "num_prefix_tokens", 0)) :]
    frames = tokens.shape[1] // (height * width)
    maps = tokens.reshape(tokens.shape[0], frames, height, width, -1).mean(dim=1)
    return maps.permute(0, 3, 1, 2)


def embedding_geometry(model: Any) -> tuple[int, int]:
    """The width of the backbone's embeddings and the scene pixels per embedding along each side."""
    backbone = model.backbone
    if getattr(backbone, "output_kind", "maps") == "tokens":
        return int(backbone.out_channels[-1]), int(backbone.patch_size)
    return int(backbone.out_channels[-1]), int(backbone.out_reductions[-1])
