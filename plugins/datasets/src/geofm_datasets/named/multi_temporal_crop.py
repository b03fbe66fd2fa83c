"""Multi-temporal crop classification (IBM/NASA, Clark University) in the publisher's layout, as (C, T, H, W).

Each chip holds 3 time steps x 6 HLS bands, time-major; its mask holds 0 (no data) and the classes
1..13, delivered as 0..12 with no data ignored.
"""

from __future__ import annotations

from pathlib import Path

from geofm_datasets.availability import missing_dataset_error
from geofm_datasets.named.common import (
    check_samples,
    locate_dataset,
    named_segmentation_factory,
    read_id_list,
)
from geofm_datasets.named.specs import MULTI_TEMPORAL_CROP_SPEC
from geofm_datasets.segmentation.dataset import BandLayout, SegmentationSample

__all__ = ["build_multi_temporal_crop", "crop_samples"]

IMAGE_SUFFIX = "_merged.tif"
MASK_SUFFIX = ".mask.tif"
_ROOTS = ("", "multi-temporal-crop-classification", "multi_temporal_crop")
# per split: (image folder, mask folder, id lists tried in order); source.coop's copy has hls/ and masks/
_LAYOUTS = {
    "train": (
        ("training_chips", "training_chips", ("training_data.txt", "train_data.txt")),
        ("hls", "masks", ("training_data.txt", "train_data.txt")),
    ),
    "val": (
        ("validation_chips", "validation_chips", ("validation_data.txt",)),
        ("hls", "masks", ("validation_data.txt",)),
    ),
}


def _split(base: Path, split: str) -> list[SegmentationSample] | None:
    for image_dir, mask_dir, lists in _LAYOUTS[split]:
        images = base / image_dir
        if not images.is_dir():
            continue
        id_list = next((base / name for name in lists if (base / name).is_file()), None)
        if id_list is not None:
            ids = read_id_list(id_list, strip=(IMAGE_SUFFIX, MASK_SUFFIX, ".tif"))
        elif image_dir != mask_dir:
            continue  # one folder for both splits: the lists decide
        else:
            ids = sorted(p.name[: -len(IMAGE_SUFFIX)] for p in images.glob(f"*{IMAGE_SUFFIX}"))
        return [
            SegmentationSample(i, images / f"{i}{IMAGE_SUFFIX}", base / mask_dir / f"{i}{MASK_SUFFIX}") for i in ids
        ]
    return None


def crop_samples(root: Path) -> dict[str, list[SegmentationSample]]:
    """Samples of the training chips (train) and validation chips (val and test) under ``root``.

    Downloaded ``training_chips.tgz`` / ``validation_chips.tgz`` are extracted first; the id lists
    ``training_data.txt`` / ``validation_data.txt`` select chips where present.
    """
    spec = MULTI_TEMPORAL_CROP_SPEC
    base = locate_dataset(spec, root, _ROOTS, ["training_chips", "validation_chips"], ["hls"])
    splits = {}
    for split in ("train", "val"):
        samples = _split(base, split)
        if not samples:
            folder = _LAYOUTS[split][0][0]
            raise missing_dataset_error(spec, root, [f"{folder}/*{IMAGE_SUFFIX}"])
        check_samples(spec, root, split, samples)
        splits[split] = samples
    splits["test"] = splits["val"]
    return splits


build_multi_temporal_crop = named_segmentation_factory(
    MULTI_TEMPORAL_CROP_SPEC,
    crop_samples,
    layout=BandLayout(
        (len(MULTI_TEMPORAL_CROP_SPEC.bands),),
        num_frames=MULTI_TEMPORAL_CROP_SPEC.num_frames,
        frames_in_file=True,
        temporal=True,
    ),
    label_nodata=0,
    label_offset=-1,
    doc="The multi-temporal crop data module: images (C=6, T=3, H, W), 13 classes, no-data labels ignored.",
)
