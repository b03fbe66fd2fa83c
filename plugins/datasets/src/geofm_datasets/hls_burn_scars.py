"""HLS burn scars (IBM/NASA, Hugging Face ``ibm-nasa-geospatial/hls_burn_scars``) in the publisher's layout."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geofm_datasets.availability import dataset_root, missing_dataset_error
from geofm_datasets.datamodule import GeoTiffSegmentationDataModule
from geofm_datasets.dataset import BandLayout, SegmentationSample
from geofm_datasets.named import build_named_segmentation, extract_archives, find_folder, unknown_options
from geofm_datasets.segmentation import registered_spec
from geofm_datasets.segmentation_specs import HLS_BURN_SCARS_SPEC

__all__ = ["build_hls_burn_scars", "burn_scar_samples"]

IMAGE_SUFFIX = "_merged.tif"
MASK_SUFFIX = ".mask.tif"
_ROOTS = ("", "hls_burn_scars", "data/hls_burn_scars", "burn_scars/hls_burn_scars")


def _folder_samples(folder: Path) -> list[SegmentationSample]:
    samples = []
    for image in sorted(folder.glob(f"*{IMAGE_SUFFIX}")):
        sample_id = image.name[: -len(IMAGE_SUFFIX)]
        samples.append(SegmentationSample(sample_id, image, folder / f"{sample_id}{MASK_SUFFIX}"))
    return samples


def burn_scar_samples(root: Path) -> dict[str, list[SegmentationSample]]:
    """Samples of ``training/`` (train) and ``validation/`` (val and test) under ``root``.

    A downloaded ``hls_burn_scars.tar.gz`` is extracted first. A chip without its mask, or a missing
    folder, raises the dataset's missing-data error.
    """
    spec = HLS_BURN_SCARS_SPEC
    base = find_folder(root, _ROOTS, ["training", "validation"])
    if base is None and extract_archives(spec, root):
        base = find_folder(root, _ROOTS, ["training", "validation"])
    if base is None:
        raise missing_dataset_error(spec, root, ["training/", "validation/"])
    splits = {}
    for split, folder in (("train", "training"), ("val", "validation")):
        samples = _folder_samples(base / folder)
        if not samples:
            raise missing_dataset_error(spec, root, [f"{folder}/*{IMAGE_SUFFIX}"])
        unmasked = [s.label.name for s in samples if s.label is not None and not s.label.is_file()]
        if unmasked:
            raise missing_dataset_error(spec, root, [f"{folder}/{', '.join(unmasked[:3])}"])
        splits[split] = samples
    splits["test"] = splits["val"]
    return splits


def build_hls_burn_scars(
    *,
    data_root: str | Path | None = None,
    bands: Sequence[str] | None = None,
    batch_size: int = 8,
    num_workers: int = 0,
    seed: int = 0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    crop_size: int | None = None,
    scale: float = 10000.0,
    flips: bool | str = True,
    cache: bool | str = False,
    pin_memory: bool | str = False,
    eval_full_tiles: bool | str = False,
    **options: Any,
) -> GeoTiffSegmentationDataModule:
    """The HLS burn scars data module: 6 HLS bands (reflectance x ``scale``), -1 labels ignored (as 255)."""
    spec = registered_spec(HLS_BURN_SCARS_SPEC)
    unknown_options(spec, options)
    root = dataset_root(spec, data_root)
    return build_named_segmentation(
        spec,
        burn_scar_samples(root),
        file_bands=spec.bands,
        layout=BandLayout((len(spec.bands),)),
        bands=bands,
        batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
        mean=mean,
        std=std,
        crop_size=crop_size,
        scale=scale,
        label_nodata=-1,
        flips=flips,
        cache=cache,
        pin_memory=pin_memory,
        eval_full_tiles=eval_full_tiles,
    )
