"""Synthetic batches and a synthetic data module, to test a task or a model without any file.

The batches have exactly the keys, shapes and dtypes of the built-in datasets' batches:

- ``image`` float32 (B, C, H, W), or (B, C, T, H, W) when ``num_frames`` > 1, already normalised;
- ``mask`` int64 (B, H, W) for segmentation;
- ``target`` int64 (B,) for classification, float32 multi-hot (B, K) for multi-label classification,
  float32 (B, K, H, W) for regression (with ``valid`` bool (B, K, H, W): where the target counts);
- ``meta``: ``timestamps`` float64 (B, T) seconds since 1970-01-01 UTC, ``center_latlon`` float32
  (B, 2) degrees and ``gsd`` float32 (B,) metres.

The labels follow the image (a class shifts every band by its own offset; regression targets are a
fixed mix of the bands), so a model can learn them: a short training run lowers the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from geofm.bands import BANDS, canonical_bands
from geofm.data.loaders import SplitLoaders
from geofm.specs import DatasetSpec
from geofm.vocabulary import CLASSIFICATION_TASKS, DENSE_TASKS

__all__ = [
    "SYNTHETIC_TASK_TYPES",
    "SyntheticDataModule",
    "quiet_cpu_trainer",
    "synthetic_band_names",
    "synthetic_batch",
]

SyntheticTask = Literal["segmentation", "regression", "classification", "multilabel_classification"]
SYNTHETIC_TASK_TYPES: tuple[str, ...] = (*DENSE_TASKS, *CLASSIFICATION_TASKS)
"""The task types :func:`synthetic_batch` and :class:`SyntheticDataModule` produce batches for."""

_FIRST_BANDS = ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")
_START = 1_577_836_800.0  # 2020-01-01T00:00:00Z
_DAY = 86_400.0


def synthetic_band_names(bands: int | Sequence[str]) -> tuple[str, ...]:
    """Canonical band names: ``bands`` mapped through :mod:`geofm.bands`, or the first ``bands`` of the vocabulary.

    A count takes the six HLS bands first (``BLUE`` ... ``SWIR_2``), then the rest of
    :data:`geofm.bands.BANDS` in its order.
    """
    if isinstance(bands, str):
        return canonical_bands([bands])
    if isinstance(bands, Sequence):
        return canonical_bands(bands)
    count = int(bands)
    order = (*_FIRST_BANDS, *(b for b in BANDS if b not in _FIRST_BANDS))
    if not 1 <= count <= len(order):
        raise ValueError(f"bands={count}: give between 1 and {len(order)} bands, or a sequence of band names")
    return order[:count]


def _default_outputs(task_type: str, num_classes: int | None) -> int:
    if task_type not in SYNTHETIC_TASK_TYPES:
        raise ValueError(f"task type {task_type!r} is unknown; choose one of {', '.join(SYNTHETIC_TASK_TYPES)}")
    if num_classes is None:
        return 1 if task_type == "regression" else 2
    minimum = 1 if task_type == "regression" else 2
    if int(num_classes) < minimum:
        raise ValueError(f"{task_type} needs num_classes >= {minimum}, got {num_classes}")
    return int(num_classes)


def _pattern(seed: int, channels: int, outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """What links image and label, the same for every split of one seed: class offsets and a mixing matrix."""
    rng = np.random.default_rng([seed, 0])
    offsets = rng.normal(0.0, 1.5, size=(outputs, channels))
    mixing = rng.normal(0.0, 1.0, size=(outputs, channels)) / np.sqrt(channels)
    return offsets, mixing


def _blocks(rng: np.random.Generator, batch_size: int, size: int, values: int) -> np.ndarray:
    """(B, size, size) integer labels constant over square blocks (a quarter of the side, at least 1)."""
    block = max(1, size // 4)
    cells = -(-size // block)
    coarse = rng.integers(0, values, size=(batch_size, cells, cells))
    return coarse.repeat(block, axis=1).repeat(block, axis=2)[:, :size, :size]


@dataclass(frozen=True)
class _Recipe:
    """What every synthetic sample of one setting shares: task, bands, size, frames, outputs, seed, ignore index."""

    task_type: str
    band_names: tuple[str, ...]
    size: int
    num_frames: int
    outputs: int
    seed: int
    ignore_index: int | None

    @classmethod
    def of(
        cls,
        task_type: str,
        bands: int | Sequence[str],
        size: int,
        num_frames: int,
        num_classes: int | None,
        seed: int,
        ignore_index: int | None,
    ) -> _Recipe:
        """The recipe of the public arguments (validated; ``num_classes`` defaults by task type)."""
        outputs = _default_outputs(task_type, num_classes)
        return cls(
            str(task_type), synthetic_band_names(bands), int(size), int(num_frames), outputs, int(seed), ignore_index
        )


def _generate(recipe: _Recipe, batch_size: int, split: int) -> dict[str, Any]:
    """The numpy arrays of one synthetic batch of ``split`` (see the module docstring for the format)."""
    task_type, channels, outputs = recipe.task_type, len(recipe.band_names), recipe.outputs
    size, num_frames, seed = recipe.size, recipe.num_frames, recipe.seed
    offsets, mixing = _pattern(seed, channels, outputs)
    rng = np.random.default_rng([seed, 1, split])
    noise = rng.normal(0.0, 0.5, size=(batch_size, channels, num_frames, size, size))
    labels: dict[str, np.ndarray] = {}
    if task_type == "segmentation":
        classes = _blocks(rng, batch_size, size, outputs)
        signal = offsets[classes].transpose(0, 3, 1, 2)  # (B, C, H, W)
        mask = classes.astype(np.int64)
        if recipe.ignore_index is not None:
            mask[:, 0, :] = recipe.ignore_index
        labels["mask"] = mask
    elif task_type == "classification":
        classes = rng.integers(0, outputs, size=batch_size)
        signal = np.broadcast_to(offsets[classes][:, :, None, None], (batch_size, channels, size, size))
        labels["target"] = classes.astype(np.int64)
    elif task_type == "multilabel_classification":
        present = rng.random((batch_size, outputs)) < 0.5
        mixed = present.astype(np.float64) @ offsets
        signal = np.broadcast_to(mixed[:, :, None, None], (batch_size, channels, size, size))
        labels["target"] = present.astype(np.float32)
    else:
        field = rng.normal(0.0, 1.0, size=(batch_size, channels, 4, 4))
        block = -(-size // 4)
        signal = field.repeat(block, axis=2).repeat(block, axis=3)[:, :, :size, :size]
        target = np.einsum("kc,bchw->bkhw", mixing, signal).astype(np.float32)
        labels["target"] = target
        labels["valid"] = np.ones(target.shape, dtype=bool)
    image = (signal[:, :, None] + noise).astype(np.float32)
    samples = np.arange(batch_size, dtype=np.float64)[:, None]
    frames = np.arange(num_frames, dtype=np.float64)[None, :]
    meta = {
        "timestamps": _START + (samples * 7.0 + frames * 16.0 + split * 365.0) * _DAY,
        "center_latlon": np.stack([40.0 + samples[:, 0] * 0.01, 15.0 + samples[:, 0] * 0.01], axis=1).astype(
            np.float32
        ),
        "gsd": np.full(batch_size, 30.0, dtype=np.float32),
    }
    return {"image": image if num_frames > 1 else image[:, :, 0], **labels, "meta": meta}


def _to_torch(arrays: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _to_torch(value) if isinstance(value, dict) else torch.from_numpy(np.ascontiguousarray(value))
        for key, value in arrays.items()
    }


def synthetic_batch(
    task_type: SyntheticTask | str = "segmentation",
    *,
    bands: int | Sequence[str] = 4,
    batch_size: int = 2,
    size: int = 32,
    num_frames: int = 1,
    num_classes: int | None = None,
    ignore_index: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """One batch in the format core's tasks and the built-in datasets use (see the module docstring).

    ``bands`` is a count or a sequence of band names (only the count shapes the image). ``num_classes``
    is the number of classes (default 2) or, for regression, of target values per pixel (default 1).
    With ``ignore_index`` the first row of each segmentation mask holds it. The same arguments give the
    same batch.
    """
    recipe = _Recipe.of(task_type, bands, size, num_frames, num_classes, seed, ignore_index)
    return _to_torch(_generate(recipe, int(batch_size), split=0))


class _Samples(Dataset):
    """The samples of one split, held in memory (the loader's default collation batches them)."""

    def __init__(self, arrays: dict[str, Any]) -> None:
        self.arrays = _to_torch(arrays)
        self.length = int(self.arrays["image"].shape[0])

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            key: {name: tensor[index] for name, tensor in value.items()} if isinstance(value, dict) else value[index]
            for key, value in self.arrays.items()
        }


class SyntheticDataModule(SplitLoaders, L.LightningDataModule):
    """A data module of synthetic batches with every attribute core reads from a data module.

    ``spec`` (a :class:`~geofm.specs.DatasetSpec` named ``synthetic`` unless one is given), ``band_names``
    (canonical), ``num_classes`` (= ``num_outputs`` for regression), ``class_names``, ``ignore_index``,
    ``num_frames``, ``mean`` / ``std`` (zeros and ones: the images are normalised already) and
    train / val / test / predict loaders of ``batches`` batches each (``batch_size`` samples of
    ``size`` x ``size`` pixels), in the format of :func:`synthetic_batch`. Each split has its own samples;
    image and labels are linked the same way in all, so a model can learn the task.
    """

    def __init__(
        self,
        task_type: SyntheticTask | str = "segmentation",
        *,
        bands: int | Sequence[str] = 4,
        batch_size: int = 2,
        size: int = 32,
        num_frames: int = 1,
        num_classes: int | None = None,
        class_names: Sequence[str] = (),
        ignore_index: int | None = None,
        batches: int = 2,
        seed: int = 0,
        spec: DatasetSpec | None = None,
    ) -> None:
        super().__init__()
        self._recipe = _Recipe.of(task_type, bands, size, num_frames, num_classes, seed, ignore_index)
        outputs = self._recipe.outputs
        self.task_type = self._recipe.task_type
        self.band_names: tuple[str, ...] = self._recipe.band_names
        self.num_classes = outputs
        self.num_outputs = outputs
        if class_names and len(class_names) != outputs:
            raise ValueError(f"{len(class_names)} class names for {outputs} classes: give one per class")
        default_names = () if task_type == "regression" else tuple(f"class_{i}" for i in range(outputs))
        self.class_names: tuple[str, ...] = tuple(str(n) for n in class_names) or default_names
        self.ignore_index = ignore_index
        self.num_frames = self._recipe.num_frames
        self.mean: tuple[float, ...] | None = (0.0,) * len(self.band_names)
        self.std: tuple[float, ...] | None = (1.0,) * len(self.band_names)
        self.batch_size = int(batch_size)
        self.size = self._recipe.size
        self.batches = int(batches)
        self.seed = self._recipe.seed
        self.spec = spec or DatasetSpec(
            name="synthetic",
            summary="synthetic batches of geofm.testing",
            factory="geofm.testing.synthetic:SyntheticDataModule",
            task=self.task_type,
            bands=self.band_names,
            classes=self.class_names,
            ignore_index=ignore_index,
            num_frames=self.num_frames,
            gsd=30.0,
        )
        self._splits: dict[str, _Samples] = {}

    def setup(self, stage: str | None = None) -> None:
        """Generate the samples of every split (once)."""
        if self._splits:
            return
        for number, split in enumerate(("train", "val", "test")):
            arrays = _generate(self._recipe, self.batch_size * self.batches, split=number)
            self._splits[split] = _Samples(arrays)

    def split_loader(self, split: str) -> DataLoader:
        """The batches of ``split``: ``train`` shuffled, ``val`` and ``test`` in order, each split its own samples."""
        self.setup()
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self._splits[split], batch_size=self.batch_size, shuffle=split == "train", generator=generator
        )

    def predict_dataloader(self) -> DataLoader:
        """The test batches, for ``Trainer.predict``."""
        return self.split_loader("test")


def quiet_cpu_trainer(**options: Any) -> L.Trainer:
    """A Lightning ``Trainer`` on the CPU for one epoch that writes and prints nothing, to run a task in a test.

    No logger, checkpoints, progress bar or model summary; ``options`` are further ``Trainer`` arguments or
    replace these (``max_epochs=3``, ``num_sanity_val_steps=0``, ``default_root_dir=tmp_path``).
    """
    quiet: dict[str, Any] = {
        "accelerator": "cpu",
        "max_epochs": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    return L.Trainer(**{**quiet, **options})
