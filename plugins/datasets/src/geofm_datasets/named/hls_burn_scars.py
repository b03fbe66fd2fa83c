"""HLS burn scars (IBM/NASA, Hugging Face ``ibm-nasa-geospatial/hls_burn_scars``) in the publisher's layout."""

from __future__ import annotations

from pathlib import Path

from geofm_datasets.availability import missing_dataset_error
from geofm_datasets.named.common import locate_dataset, named_segmentation_factory
from geofm_datasets.named.specs import HLS_BURN_SCARS_SPEC
from geofm_datasets.segmentation.dataset import BandLayout, SegmentationSample

__all__ = ["build_hls_burn_scars", "burn_scar_samples"]

IMAGE_SUFFIX = "_merged.tif"
MASK_SUFFIX = ".mask.tif"
_ROOTS = ("", "hls_burn_scars", "data/hls_burn_scars", "burn_scars/hls_burn_scars")


def _folder_samples(root: Path, base: Path, folder: str) -> list[SegmentationSample]:
    """The chips of ``base / folder`` with their masks; none, or a chip without its mask, is missing data."""
    spec = HLS_BURN_SCARS_SPEC
    samples = []
    for image in sorted((base / folder).glob(f"*{IMAGE_SUFFIX}")):
        sample_id = image.name[: -len(IMAGE_SUFFIX)]
        samples.append(SegmentationSample(sample_id, image, base / folder / f"{sample_id}{MASK_SUFFIX}"))
    if not samples:
        raise missing_dataset_error(spec, root, [f"{folder}/*{IMAGE_SUFFIX}"])
    unmasked = [s.label.name for s in samples if s.label is not None and not s.label.is_file()]
    if unmasked:
        raise missing_dataset_error(spec, root, [f"{folder}/{', '.join(unmasked[:3])}"])
    return samples


def burn_scar_samples(root: Path) -> dict[str, list[SegmentationSample]]:
    """Samples of ``training/`` (train) and ``validation/`` (val and test) under ``root``.

    A downloaded ``hls_burn_scars.tar.gz`` is extracted first. A chip without its mask, or a missing
    folder, raises the dataset's missing-data error.
    """
    base = locate_dataset(HLS_BURN_SCARS_SPEC, root, _ROOTS, ["training", "validation"])
    train, val = (_folder_samples(root, base, folder) for folder in ("training", "validation"))
    return {"train": train, "val": val, "test": val}


build_hls_burn_scars = named_segmentation_factory(
    HLS_BURN_SCARS_SPEC,
    burn_scar_samples,
    layout=BandLayout((len(HLS_BURN_SCARS_SPEC.bands),)),
    label_nodata=-1,
    default_scale=10000.0,
    doc="The HLS burn scars data module: 6 HLS bands (reflectance x ``scale``), -1 labels ignored (as 255).",
)
