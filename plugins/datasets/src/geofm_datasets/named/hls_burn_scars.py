"""HLS burn scars (IBM/NASA, Hugging Face ``ibm-nasa-geospatial/hls_burn_scars``) in the publisher's layout."""

from __future__ import annotations

from pathlib import Path

from geofm_datasets.availability import missing_dataset_error
from geofm_datasets.named.common import extract_archives, find_folder, named_segmentation_factory
from geofm_datasets.named.specs import HLS_BURN_SCARS_SPEC
from geofm_datasets.segmentation.dataset import BandLayout, SegmentationSample

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


build_hls_burn_scars = named_segmentation_factory(
    HLS_BURN_SCARS_SPEC,
    burn_scar_samples,
    layout=BandLayout((len(HLS_BURN_SCARS_SPEC.bands),)),
    label_nodata=-1,
    default_scale=10000.0,
    doc="The HLS burn scars data module: 6 HLS bands (reflectance x ``scale``), -1 labels ignored (as 255).",
)
