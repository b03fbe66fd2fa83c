"""What the named segmentation datasets share: finding their folders, reading id lists, building the module."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from geofm.data.factory import DatasetOptions
from geofm.errors import ConfigError
from geofm.specs import DatasetSpec
from geofm_datasets.availability import dataset_root, missing_dataset_error
from geofm_datasets.options import loading_keywords, loading_values, takes_keywords_of, unknown_options
from geofm_datasets.segmentation.datamodule import GeoTiffSegmentationDataModule
from geofm_datasets.segmentation.dataset import BandLayout, SegmentationSample
from geofm_datasets.splits import read_entries

__all__ = [
    "build_named_segmentation",
    "check_samples",
    "extract_archives",
    "find_folder",
    "locate_dataset",
    "named_segmentation_factory",
    "read_id_list",
    "unknown_options",
]

log = logging.getLogger(__name__)


def find_folder(root: Path, candidates: Sequence[str], marker: str | Sequence[str]) -> Path | None:
    """The first ``root / candidate`` that holds every ``marker`` (a relative path), or ``None``."""
    markers = [marker] if isinstance(marker, str) else list(marker)
    for candidate in candidates:
        folder = root / candidate if candidate else root
        if all((folder / m).exists() for m in markers):
            return folder
    return None


def extract_archives(spec: DatasetSpec, root: Path) -> bool:
    """Unpack the archives the publisher ships (already under ``root``, e.g. after a manual download).

    Uses :func:`geofm.data.download.extract_archives` (what ``geofm data download`` does): each archive
    once per version, unsafe members refused. Returns whether anything was unpacked.
    """
    from geofm.data.download import ARCHIVE_SUFFIXES
    from geofm.data.download import extract_archives as unpack

    if not root.is_dir() or not any(p.name.lower().endswith(ARCHIVE_SUFFIXES) for p in root.iterdir()):
        return False
    log.warning("dataset %s: unpacking the archives in %s", spec.name, root)
    return bool(unpack(root))


def locate_dataset(spec: DatasetSpec, root: Path, candidates: Sequence[str], *markers: Sequence[str]) -> Path:
    """The folder under ``root`` (one of ``candidates``) that holds one of the ``markers`` sets of paths.

    When none does, the publisher's archives under ``root`` are unpacked (:func:`extract_archives`) and
    the folders looked for again; still none raises the missing-dataset error naming the first set.
    """

    def first() -> Path | None:
        return next((f for m in markers if (f := find_folder(root, candidates, m)) is not None), None)

    found = first()
    if found is None and extract_archives(spec, root):
        found = first()
    if found is None:
        raise missing_dataset_error(spec, root, [f"{m}/" for m in markers[0]])
    return found


def read_id_list(path: Path, *, strip: Sequence[str] = ()) -> list[str]:
    """Sample ids of a split list: one per line (first comma-separated field), known suffixes stripped.

    Blank lines and ``#`` comments are skipped, and so is a header line without any digit.
    """
    fields = [text.split(",", 1)[0].strip().strip('"') for text in read_entries(path)]
    if fields and not any(ch.isdigit() for ch in fields[0]):
        fields = fields[1:]  # a header
    names = [Path(field).name for field in fields if field]
    return [next((n[: -len(s)] for s in strip if n.endswith(s)), n) for n in names]


def check_samples(spec: DatasetSpec, root: Path, split: str, samples: Sequence[SegmentationSample]) -> None:
    """Raise the missing-dataset error when files a split list names are not on disk."""
    missing = [
        str(path)
        for s in samples
        for path in (*[p for group in s.files for p in group], s.label)
        if path is not None and not path.is_file()
    ]
    if missing:
        shown = [*missing[:3], f"... ({len(missing)} files)"] if len(missing) > 3 else missing
        raise missing_dataset_error(spec, root, [f"{split} file(s) {', '.join(shown)}"])


def build_named_segmentation(
    common: DatasetOptions,
    splits: Mapping[str, Sequence[SegmentationSample]],
    *,
    file_bands: Sequence[str],
    layout: BandLayout,
    label_nodata: float | None,
    label_offset: int = 0,
    **loading: Any,
) -> GeoTiffSegmentationDataModule:
    """The data module of a named dataset's splits, with the spec's bands, classes and ignore index.

    ``loading`` holds the keywords :func:`~geofm_datasets.options.loading_keywords` gives (``scale`` ...).
    """
    spec = common.spec
    if spec.ignore_index is None:
        raise ConfigError(f"dataset {spec.name} declares no ignore_index")
    return GeoTiffSegmentationDataModule(
        common=common,
        samples=splits,
        file_bands=file_bands,
        sensor=spec.sensor,
        classes=spec.classes,
        ignore_index=spec.ignore_index,
        label_nodata=label_nodata,
        label_offset=label_offset,
        layout=layout,
        **loading_values(**loading),
        gsd=spec.gsd,
    )


def named_segmentation_factory(
    default_spec: DatasetSpec,
    find_splits: Callable[[Path], Mapping[str, Sequence[SegmentationSample]]],
    *,
    layout: BandLayout,
    label_nodata: float,
    label_offset: int = 0,
    default_scale: float = 1.0,
    doc: str,
) -> Callable[..., GeoTiffSegmentationDataModule]:
    """The factory of a named dataset of one file per sample, the spec's bands in file order.

    ``find_splits`` gives the samples per split under the dataset's root (``--data-root``, else where
    ``geofm data download`` puts it). The factory is named and documented (``doc``) as the spec's
    ``factory`` says, and takes the loading keywords every windowed dataset takes (``scale`` defaults to
    ``default_scale``).
    """

    @takes_keywords_of(loading_keywords)
    def factory(common: DatasetOptions, /, **options: Any) -> GeoTiffSegmentationDataModule:
        spec = common.spec
        loading, options = loading_keywords(**{"scale": default_scale, **options})
        unknown_options(spec, options)
        root = dataset_root(spec, common.data_root)
        return build_named_segmentation(
            common,
            find_splits(root),
            file_bands=spec.bands,
            layout=layout,
            label_nodata=label_nodata,
            label_offset=label_offset,
            **loading,
        )

    signature = inspect.signature(factory)
    parameters = [p.replace(default=default_scale) if p.name == "scale" else p for p in signature.parameters.values()]
    factory.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    module, name = default_spec.factory.split(":")
    factory.__module__, factory.__name__, factory.__qualname__, factory.__doc__ = module, name, name, doc
    return factory
