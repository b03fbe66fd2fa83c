"""The ``nwpu_vhr10`` dataset: NWPU VHR-10, ten classes of objects boxed in 650 RGB images (150 more without any).

The publisher ships ``positive image set/NNN.jpg`` (650 images with objects), ``negative image set/NNN.jpg``
(150 without) and ``ground truth/NNN.txt`` with one line ``(x1,y1),(x2,y2),class`` per object (pixels of
the image, classes 1..10). The images are not georeferenced: boxes are read in pixels (identity
transform) and the metadata has no time or location, only the spec's nominal ground sample distance.
There is no official split, so one is drawn from ``split_seed`` (70 / 15 / 15 per cent), the same
whatever the run's seed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geofm.data import raster_info
from geofm.data.download import dataset_dir, source_lines
from geofm.data.factory import DatasetOptions
from geofm.errors import DataError
from geofm_detection.annotations import Instance, encode_instances
from geofm_detection.data_options import as_bool, unknown_options
from geofm_detection.data_specs import NWPU_VHR10_SPEC
from geofm_detection.detection_datamodule import SPLITS, DetectionDataModule
from geofm_detection.detection_dataset import DetectionSample, quiet_georeferencing

__all__ = ["NEGATIVE", "POSITIVE", "TRUTH", "build_nwpu_vhr10", "find_nwpu_root", "read_ground_truth", "split_ids"]

POSITIVE = "positive image set"
"""The folder of the images with objects."""
NEGATIVE = "negative image set"
"""The folder of the images without objects."""
TRUTH = "ground truth"
"""The folder of the box files, one per positive image."""

_NESTED = "NWPU VHR-10 dataset"
_NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
_LINE = re.compile(rf"\({_NUMBER},{_NUMBER}\)\s*,\s*\({_NUMBER},{_NUMBER}\)\s*,\s*(\d+)\s*")
_FRACTIONS = (0.7, 0.15, 0.15)


def find_nwpu_root(data_root: str | Path | None) -> Path:
    """The folder holding ``positive image set/`` and ``ground truth/``: the root or its ``NWPU VHR-10 dataset/``.

    The root is ``--data-root``, else ``$GEOFM_CACHE/datasets/nwpu_vhr10``. A missing dataset raises
    :class:`DataError` naming what is missing, the expected layout and where to download it.
    """
    spec = NWPU_VHR10_SPEC
    root = dataset_dir(spec, data_root)
    for folder in (root, root / _NESTED):
        if (folder / POSITIVE).is_dir() and (folder / TRUTH).is_dir():
            return folder
    missing = [name for name in (POSITIVE, TRUTH) if not (root / name).is_dir()]
    lines = [f"dataset {spec.name} is not at {root}: missing {', '.join(f'{name}/' for name in missing)}"]
    archives = sorted(p.name for p in root.glob("*.rar")) if root.is_dir() else []
    if archives:
        lines.append(f"unpack {archives[0]} there first (e.g. unrar x '{root / archives[0]}' '{root}/')")
    lines.extend(source_lines(spec, root))
    raise DataError("\n  ".join(lines))


def read_ground_truth(path: Path) -> list[Instance]:
    """The boxes of one ground-truth file: lines ``(x1,y1),(x2,y2),class`` with classes 1..10.

    Blank lines are skipped; a malformed line or an unknown class raises :class:`DataError` naming the line.
    """
    classes = NWPU_VHR10_SPEC.classes
    instances = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.fullmatch(line.strip())
        if match is None or not 1 <= int(match.group(5)) <= len(classes):
            raise DataError(
                f"{path} line {number} is {line.strip()!r}, not '(x1,y1),(x2,y2),class' with a class from 1 to "
                f"{len(classes)}; fix the line or re-download the dataset"
            )
        x1, y1, x2, y2 = (float(match.group(i)) for i in range(1, 5))
        box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
        instances.append(Instance(classes[int(match.group(5)) - 1], box))
    return instances


def split_ids(ids: Sequence[str], split_seed: int = 0) -> dict[str, list[str]]:
    """``ids`` shuffled with ``split_seed`` into train, val and test (70 / 15 / 15 per cent, at least one each)."""
    if len(ids) < 3:
        raise DataError(f"NWPU VHR-10 needs at least 3 images to split into train, val and test; found {len(ids)}")
    held = [max(1, round(f * len(ids))) for f in _FRACTIONS[1:]]
    order = [ids[i] for i in np.random.default_rng(split_seed).permutation(len(ids))]
    n_val, n_test = held
    return {
        "train": sorted(order[n_val + n_test :]),
        "val": sorted(order[:n_val]),
        "test": sorted(order[n_val : n_val + n_test]),
    }


def _samples(folder: Path, subset: str, ids: Sequence[str], index: dict[str, int]) -> list[DetectionSample]:
    samples = []
    for stem in ids:
        image = folder / subset / f"{stem}.jpg"
        instances = read_ground_truth(folder / TRUTH / f"{stem}.txt") if subset == POSITIVE else []
        with quiet_georeferencing():
            info = raster_info(image)
        where = str(folder / TRUTH / f"{stem}.txt")
        annotations = encode_instances(instances, index, height=info.height, width=info.width, where=where)
        samples.append(DetectionSample(f"{subset.split()[0]}/{stem}", image, annotations))
    return samples


def build_nwpu_vhr10(
    common: DatasetOptions,
    /,
    *,
    negatives: bool | str = False,
    split_seed: int = 0,
    augment: bool | str = True,
    pin_memory: bool | str = False,
    **options: Any,
) -> DetectionDataModule:
    """The data module of NWPU VHR-10 under ``common.data_root`` (or where ``geofm`` keeps datasets).

    Images of different sizes are padded to the largest of each batch; ``crop_size`` trains on random
    crops instead. See the ``nwpu_vhr10`` spec's layout and options.
    """
    spec = common.spec
    unknown_options(spec, options)
    folder = find_nwpu_root(common.data_root)
    index = {name: i for i, name in enumerate(spec.classes)}
    positives = sorted(p.stem for p in (folder / POSITIVE).glob("*.jpg"))
    missing = [stem for stem in positives if not (folder / TRUTH / f"{stem}.txt").is_file()]
    if not positives or missing:
        what = f"ground truth/{missing[0]}.txt ({len(missing)} missing)" if missing else "positive image set/*.jpg"
        raise DataError("\n  ".join([f"dataset {spec.name} at {folder} is incomplete: no {what}", *source_lines(spec)]))
    splits = split_ids(positives, int(split_seed))
    samples = {split: _samples(folder, POSITIVE, splits[split], index) for split in SPLITS}
    if as_bool(negatives, "negatives") and (folder / NEGATIVE).is_dir():
        stems = sorted(p.stem for p in (folder / NEGATIVE).glob("*.jpg"))
        empty = split_ids(stems, int(split_seed)) if len(stems) >= 3 else {"train": stems, "val": [], "test": []}
        for split in SPLITS:
            samples[split] += _samples(folder, NEGATIVE, empty[split], index)
    return DetectionDataModule(
        common=common,
        samples=samples,
        class_names=spec.classes,
        file_bands=spec.bands,
        augment=as_bool(augment, "augment"),
        with_masks=False,
        gsd=spec.gsd,
        pin_memory=as_bool(pin_memory, "pin_memory"),
    )
