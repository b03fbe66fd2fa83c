"""Generic GeoTIFF segmentation data: finding images and labels, pairing them, splitting, building the module.

Samples are one image file each, or several (stacked channels, time series: see :mod:`geofm_datasets.layouts`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geofm.data import find_rasters, raster_info
from geofm.errors import ConfigError, DataError
from geofm.specs import DatasetSpec
from geofm_datasets.datamodule import GeoTiffSegmentationDataModule
from geofm_datasets.dataset import BandLayout, SegmentationSample
from geofm_datasets.layouts import LABEL_SUFFIXES, file_band_names, find_samples, is_pattern

__all__ = [
    "LABEL_SUFFIXES",
    "build_geotiff_segmentation",
    "pair_samples",
    "read_split_file",
    "registered_spec",
    "split_samples",
]

SPLITS = ("train", "val", "test")


def registered_spec(default: DatasetSpec) -> DatasetSpec:
    """The registry's copy of ``default`` (stamped with distribution and version), else ``default``."""
    try:
        from geofm.registry import get_registry

        return get_registry("datasets").get(default.name)
    except Exception:  # used outside a loaded plugin system (e.g. the factory called directly)
        return default


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"option {name}={value!r} is not a boolean; use true or false")
    return bool(value)


def _resolve(root: Path | None, value: str | Path) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() or root is None else root / path)


def _sources(root: Path | None, value: str | Path | Sequence[str | Path]) -> list[str]:
    items = [value] if isinstance(value, str | Path) else list(value)
    return [_resolve(root, item) for item in items]


def _strip_suffix(text: str, suffix: str) -> str:
    return text[: -len(suffix)] if suffix and text.endswith(suffix) else text


def _sample_id(path: Path, image_suffix: str) -> str:
    stem = path.name.rsplit(".", 1)[0] if "." in path.name else path.name
    return _strip_suffix(stem, image_suffix)


def pair_samples(
    images: Sequence[Path], labels: Sequence[Path], *, label_suffix: str | None = None, image_suffix: str = ""
) -> list[SegmentationSample]:
    """Pair each image with the label whose stem is the image id plus a suffix (``_mask``, ``_label`` ...).

    The id is the image stem without ``image_suffix``. An image without a label raises
    :class:`DataError` naming it and the label names looked for.
    """
    by_stem = {_sample_id(p, ""): p for p in labels}
    suffixes = (label_suffix,) if label_suffix is not None else LABEL_SUFFIXES
    samples, unpaired = [], []
    label_set = set(labels)
    for image in images:
        if image in label_set:
            continue  # images and labels in one folder: skip the labels themselves
        sample_id = _sample_id(image, image_suffix)
        label = next((by_stem[sample_id + s] for s in suffixes if sample_id + s in by_stem), None)
        if label is None or label == image:
            unpaired.append(image)
        else:
            samples.append(SegmentationSample(sample_id, image, label))
    if unpaired:
        shown = ", ".join(str(p) for p in unpaired[:5]) + (" ..." if len(unpaired) > 5 else "")
        raise DataError(
            f"{len(unpaired)} image(s) have no label: {shown}. Labels are matched by file stem plus one of "
            f"{[s for s in suffixes]}; set label_suffix, or point labels at the right folder or glob."
        )
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise DataError(f"image ids {duplicates} occur more than once; give images unique file names")
    return samples


def read_split_file(path: str | Path) -> list[str]:
    """The ids in a split file: one per line (file names allowed; blank lines and ``#`` comments skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"split file {path} does not exist; give one text file of image ids per split")
    ids = []
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            name = Path(text).name
            ids.append(name.rsplit(".", 1)[0] if name.lower().endswith((".tif", ".tiff")) else name)
    return ids


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
    if not _valid_fraction(val_fraction) or not _valid_fraction(test_fraction):
        raise ConfigError("val_fraction and test_fraction must be between 0 and 1")
    if "train" not in result:
        held = {s.id for items in result.values() for s in items}
        pool = [s for s in samples if s.id not in held]
        order = np.random.default_rng(seed).permutation(len(pool))
        pool = [pool[i] for i in order]
        n = len(pool)
        n_test = round(n * test_fraction) if "test" not in result else 0
        n_val = round(n * val_fraction) if "val" not in result else 0
        if n >= 2 and val_fraction > 0 and "val" not in result:
            n_val = max(n_val, 1)
        if n_test + n_val >= n:
            raise DataError(
                f"{n} images cannot be split into train, val ({val_fraction}) and test ({test_fraction}): "
                "add images or lower the fractions"
            )
        if n_test:
            result["test"] = sorted(pool[:n_test], key=lambda s: s.id)
        if n_val:
            result["val"] = sorted(pool[n_test : n_test + n_val], key=lambda s: s.id)
        result["train"] = sorted(pool[n_test + n_val :], key=lambda s: s.id)
    elif "val" not in result and val_fraction > 0 and len(result["train"]) >= 2:
        train = result["train"]
        order = np.random.default_rng(seed).permutation(len(train))
        n_val = max(1, round(len(train) * val_fraction))
        result["val"] = sorted((train[i] for i in order[:n_val]), key=lambda s: s.id)
        result["train"] = sorted((train[i] for i in order[n_val:]), key=lambda s: s.id)
    return result


def _valid_fraction(value: float) -> bool:
    return 0.0 <= float(value) < 1.0


def _split_files(root: Path | None, value: Any) -> dict[str, str] | None:
    if value is None:
        folder = root / "splits" if root is not None else None
        if folder is None or not folder.is_dir():
            return None
        found = {s: str(folder / f"{s}.txt") for s in SPLITS if (folder / f"{s}.txt").is_file()}
        return found or None
    if isinstance(value, str | Path):
        folder = Path(_resolve(root, value))
        found = {s: str(folder / f"{s}.txt") for s in SPLITS if (folder / f"{s}.txt").is_file()}
        if not found:
            raise DataError(f"split folder {folder} holds none of {', '.join(f'{s}.txt' for s in SPLITS)}")
        return found
    return {str(k): _resolve(root, v) for k, v in dict(value).items()}


def _file_bands(images: Sequence[Path], file_bands: list[str] | None) -> list[str]:
    if file_bands:
        return file_bands
    info = raster_info(images[0])
    names = [d for d in info.descriptions if d]
    if len(names) == info.count:
        return names
    raise DataError(
        f"the bands of {images[0]} are not named (no band descriptions): give file_bands, the band names in "
        f"file order ({info.count} bands), e.g. file_bands=B02,B03,B04,B8A,B11,B12 with sensor=hls_s30"
    )


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


def build_geotiff_segmentation(
    *,
    data_root: str | Path | None = None,
    bands: Sequence[str] | None = None,
    batch_size: int = 8,
    num_workers: int = 0,
    seed: int = 0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    crop_size: int | None = None,
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
    scale: float = 1.0,
    flips: bool | str = True,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    label_suffix: str | None = None,
    image_suffix: str = "",
    frames: str | Sequence[str] | None = None,
    num_frames: int | None = None,
    stack: str | Sequence[str] | None = None,
    cache: bool | str = False,
    pin_memory: bool | str = False,
    eval_full_tiles: bool | str = False,
    spec: DatasetSpec | None = None,
    **options: Any,
) -> GeoTiffSegmentationDataModule:
    """Build the data module of a folder (or globs, or ``{id}`` patterns) of image GeoTIFFs and labels.

    Relative ``images``, ``labels``, patterns and split files are taken under ``data_root``. ``frames``
    (one pattern per time step, or one with ``{time}``) or ``num_frames`` (files of T x C bands) make
    time series delivered as (C, T, H, W); ``stack`` patterns add the bands of more files per sample.
    See the ``geotiff_segmentation`` spec's options for each keyword.
    """
    if options:
        from geofm_datasets.plugin import GEOTIFF_SEGMENTATION_SPEC

        known = ", ".join(sorted(GEOTIFF_SEGMENTATION_SPEC.options))
        raise ConfigError(f"unknown option(s) {', '.join(sorted(options))} for geotiff_segmentation; known: {known}")
    root = Path(data_root).expanduser() if data_root is not None else None
    frames = _pattern_list(frames)
    stack = _pattern_list(stack)
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
            image_files = find_rasters(_sources(root, images))
            label_files = find_rasters(_sources(root, labels))
            samples = pair_samples(image_files, label_files, label_suffix=label_suffix, image_suffix=image_suffix)
    except DataError as error:
        raise DataError(
            f"{error}. geotiff_segmentation reads images and labels from --data-root (folders images/ and "
            "labels/ by default) or from the images and labels options (folders, globs or {id} patterns)"
        ) from error
    if not samples:
        raise DataError(f"no image with a label was found under {root}; check the images and labels options")
    class_names = _as_list(classes)
    if not class_names:
        if num_classes is None:
            raise DataError("give the classes (names in label-value order, e.g. classes=water,land) or num_classes")
        class_names = [f"class_{i}" for i in range(int(num_classes))]
    elif num_classes is not None and int(num_classes) != len(class_names):
        raise ConfigError(f"num_classes={num_classes} but {len(class_names)} class names were given")
    frame_count = int(num_frames) if num_frames is not None else None
    names = _as_list(file_bands) or file_band_names(samples[0], num_frames=frame_count or 1)
    layout = _layout(samples[0], names, frame_count, temporal=bool(frames) or frame_count is not None)
    splits = split_samples(
        samples,
        split_files=_split_files(root, split_files),
        val_fraction=float(val_fraction),
        test_fraction=float(test_fraction),
        seed=seed,
        image_suffix=image_suffix,
    )
    if spec is None:
        from geofm_datasets.plugin import GEOTIFF_SEGMENTATION_SPEC

        base = registered_spec(GEOTIFF_SEGMENTATION_SPEC)
        spec = dataclasses.replace(
            base,
            bands=tuple(names),
            sensor=sensor,
            classes=tuple(class_names),
            ignore_index=int(ignore_index),
            splits=tuple(s for s in SPLITS if s in splits),
            num_frames=layout.num_frames,
        )
    return GeoTiffSegmentationDataModule(
        spec=spec,
        samples=splits,
        file_bands=names,
        sensor=sensor,
        bands=_as_list(bands),
        classes=class_names,
        ignore_index=int(ignore_index),
        batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
        mean=mean,
        std=std,
        scale=float(scale),
        nodata=None if nodata is None else float(nodata),
        label_nodata=None if label_nodata is None else float(label_nodata),
        label_offset=int(label_offset),
        layout=layout,
        crop_size=int(crop_size) if crop_size else None,
        flips=_as_bool(flips, "flips"),
        cache=_as_bool(cache, "cache"),
        pin_memory=_as_bool(pin_memory, "pin_memory"),
        eval_full_tiles=_as_bool(eval_full_tiles, "eval_full_tiles"),
        gsd=spec.gsd,
    )


def _pattern_list(value: str | Sequence[str] | None) -> list[str]:
    """Patterns given as a list, or as one string (several separated by commas)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _pattern_or_sources(root: Path | None, value: str | Path | Sequence[str | Path]) -> Any:
    if is_pattern(value):
        return value
    return _sources(root, value)
