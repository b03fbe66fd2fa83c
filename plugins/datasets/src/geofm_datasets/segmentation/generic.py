"""Generic GeoTIFF segmentation data: finding images and labels, pairing them, splitting, building the module.

Samples are one image file each, or several (stacked channels, time series: see
:mod:`geofm_datasets.segmentation.layouts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from geofm.data import find_rasters, raster_info
from geofm.data.factory import DatasetOptions, complete_spec
from geofm.errors import ConfigError, DataError
from geofm_datasets.options import (
    SPLITS,
    as_list,
    loading_keywords,
    loading_values,
    optional_float,
    pair_by_stem,
    sources,
    split_paths,
    takes_keywords_of,
    unknown_options,
)
from geofm_datasets.segmentation.datamodule import GeoTiffSegmentationDataModule
from geofm_datasets.segmentation.dataset import BandLayout, SegmentationSample
from geofm_datasets.segmentation.layouts import LABEL_SUFFIXES, file_band_names, find_samples, is_pattern
from geofm_datasets.splits import assign_splits, read_entries

__all__ = [
    "LABEL_SUFFIXES",
    "build_geotiff_segmentation",
    "pair_samples",
    "read_split_file",
    "split_samples",
]


_SPLIT_FILE_HINT = "give one text file of image ids per split"


def pair_samples(
    images: Sequence[Path], labels: Sequence[Path], *, label_suffix: str | None = None, image_suffix: str = ""
) -> list[SegmentationSample]:
    """Pair each image with the label whose stem is the image id plus a suffix (``_mask``, ``_label`` ...).

    The id is the image stem without ``image_suffix``. An image without a label raises
    :class:`DataError` naming it and the label names looked for.
    """
    suffixes = (label_suffix,) if label_suffix is not None else LABEL_SUFFIXES
    pairs = pair_by_stem(images, labels, suffixes=suffixes, image_suffix=image_suffix, what="label")
    return [SegmentationSample(sample_id, image, label) for sample_id, image, label in pairs]


def read_split_file(path: str | Path) -> list[str]:
    """The ids in a split file: one per line (file names allowed; blank lines and ``#`` comments skipped)."""
    names = [Path(text).name for text in read_entries(path, what="split file", hint=_SPLIT_FILE_HINT)]
    return [name.rsplit(".", 1)[0] if name.lower().endswith((".tif", ".tiff")) else name for name in names]


def split_samples(
    samples: Sequence[SegmentationSample],
    *,
    split_files: Mapping[str, str | Path] | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
    image_suffix: str = "",
) -> dict[str, list[SegmentationSample]]:
    """Samples per split: from split files where given; else a seeded shuffle into test, val and train.

    With split files for ``train`` only, validation takes ``val_fraction`` of it. Ids in a split file
    that match no image raise :class:`DataError`.
    """
    by_id = {s.id: s for s in samples}
    result: dict[str, list[SegmentationSample]] = {}
    for split, path in (split_files or {}).items():
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r} in split_files; use {', '.join(SPLITS)}")
        ids = [
            i[: -len(image_suffix)] if image_suffix and i.endswith(image_suffix) else i for i in read_split_file(path)
        ]
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise DataError(
                f"split file {path} lists {len(missing)} id(s) without an image and label, e.g. "
                f"{', '.join(missing[:5])}; ids are image file stems"
            )
        result[split] = [by_id[i] for i in ids]
    return assign_splits(samples, result, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)


def _layout(sample: SegmentationSample, names: Sequence[str], num_frames: int | None, temporal: bool) -> BandLayout:
    """The band layout of samples shaped like ``sample``, checked against the band ``names`` of one step."""
    steps = len(sample.files)
    in_file = num_frames is not None and int(num_frames) > 1 and steps == 1
    if num_frames is not None and steps > 1 and int(num_frames) != steps:
        raise ConfigError(f"num_frames={num_frames} but the frames give {steps} files per sample")
    frames = int(num_frames) if in_file else steps
    if len(sample.files[0]) == 1:  # one file per step: its band count is checked as each file is read
        return BandLayout((len(names),), num_frames=frames, frames_in_file=in_file, temporal=temporal)
    counts = []
    for path in sample.files[0]:
        count = raster_info(path).count
        if in_file:
            if count % frames:
                raise DataError(f"{path} has {count} bands, not a multiple of num_frames={frames} (T x C bands)")
            count //= frames
        counts.append(count)
    if sum(counts) != len(names):
        raise DataError(
            f"file_bands names {len(names)} bands but a time step of {sample.id} has {sum(counts)} "
            f"({' + '.join(map(str, counts))} over its files); name the bands of one time step in file order"
        )
    return BandLayout(tuple(counts), num_frames=frames, frames_in_file=in_file, temporal=temporal)


@takes_keywords_of(loading_keywords)
def build_geotiff_segmentation(
    common: DatasetOptions,
    /,
    *,
    images: str | Path | Sequence[str | Path] = "images",
    labels: str | Path | Sequence[str | Path] = "labels",
    split_files: str | Path | Mapping[str, str | Path] | None = None,
    file_bands: str | Sequence[str] | None = None,
    sensor: str | None = None,
    classes: str | Sequence[str] | None = None,
    num_classes: int | None = None,
    ignore_index: int = 255,
    label_nodata: float | None = None,
    label_offset: int = 0,
    nodata: float | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    label_suffix: str | None = None,
    image_suffix: str = "",
    frames: str | Sequence[str] | None = None,
    num_frames: int | None = None,
    stack: str | Sequence[str] | None = None,
    **options: Any,
) -> GeoTiffSegmentationDataModule:
    """Build the data module of a folder (or globs, or ``{id}`` patterns) of image GeoTIFFs and labels.

    Relative ``images``, ``labels``, patterns and split files are taken under ``common.data_root``. ``frames``
    (one pattern per time step, or one with ``{time}``) or ``num_frames`` (files of T x C bands) make
    time series delivered as (C, T, H, W); ``stack`` patterns add the bands of more files per sample.
    See the ``geotiff_segmentation`` spec's options for each keyword. A generic spec
    (``geotiff_segmentation``) is completed with the bands, classes and splits found; another (a
    dataset that reads its files through this factory, e.g. ``demo``) is kept as it is.
    """
    spec = common.spec
    loading, options = loading_keywords(**options)
    unknown_options(spec, options)
    root = common.data_root
    frames = as_list(frames) or []
    stack = as_list(stack) or []
    try:
        if frames or stack or is_pattern(images) or is_pattern(labels):
            samples = find_samples(
                root,
                images=_pattern_or_sources(root, images),
                labels=_pattern_or_sources(root, labels),
                frames=frames or None,
                stack=stack or None,
                label_suffix=label_suffix,
                image_suffix=image_suffix,
            )
        else:
            image_files = find_rasters(sources(root, images))
            label_files = find_rasters(sources(root, labels))
            samples = pair_samples(image_files, label_files, label_suffix=label_suffix, image_suffix=image_suffix)
    except DataError as error:
        raise DataError(
            f"{error}. geotiff_segmentation reads images and labels from --data-root (folders images/ and "
            "labels/ by default) or from the images and labels options (folders, globs or {id} patterns)"
        ) from error
    if not samples:
        raise DataError(f"no image with a label was found under {root}; check the images and labels options")
    class_names = as_list(classes)
    if not class_names:
        if num_classes is None:
            raise DataError("give the classes (names in label-value order, e.g. classes=water,land) or num_classes")
        class_names = [f"class_{i}" for i in range(int(num_classes))]
    elif num_classes is not None and int(num_classes) != len(class_names):
        raise ConfigError(f"num_classes={num_classes} but {len(class_names)} class names were given")
    frame_count = int(num_frames) if num_frames is not None else None
    names = as_list(file_bands) or file_band_names(samples[0], num_frames=frame_count or 1)
    layout = _layout(samples[0], names, frame_count, temporal=bool(frames) or frame_count is not None)
    splits = split_samples(
        samples,
        split_files=split_paths(root, split_files),
        val_fraction=float(val_fraction),
        test_fraction=float(test_fraction),
        seed=common.seed,
        image_suffix=image_suffix,
    )
    if spec.generic:
        found = {"classes": tuple(class_names), "ignore_index": int(ignore_index), "num_frames": layout.num_frames}
        common = complete_spec(common, splits, bands=tuple(names), sensor=sensor, **found)
    return GeoTiffSegmentationDataModule(
        common=common,
        samples=splits,
        file_bands=names,
        sensor=sensor,
        classes=class_names,
        ignore_index=int(ignore_index),
        nodata=optional_float(nodata),
        label_nodata=optional_float(label_nodata),
        label_offset=int(label_offset),
        layout=layout,
        **loading_values(**loading),
        gsd=common.spec.gsd,
    )


def _pattern_or_sources(root: Path | None, value: str | Path | Sequence[str | Path]) -> Any:
    if is_pattern(value):
        return value
    return sources(root, value)
