"""Reading GeoTIFFs with rasterio: headers, windows, band selection by name and the nodata mask.

Every failure to open or read a file becomes a :class:`~geofm.errors.DataError` naming the file and
saying what to do, so a corrupt tile in a folder of thousands is found at once.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geofm.bands import canonical_bands
from geofm.errors import DataError

if TYPE_CHECKING:
    import rasterio
    from rasterio.windows import Window

__all__ = [
    "RASTER_SUFFIXES",
    "BandSelection",
    "RasterHandles",
    "RasterInfo",
    "find_rasters",
    "open_raster",
    "raster_info",
    "read_label",
    "read_pixels",
    "read_target",
    "read_window",
    "select_bands",
    "valid_mask",
]


RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img")
"""File suffixes taken as rasters when a folder is listed."""


def find_rasters(
    sources: str | Path | Sequence[str | Path], *, suffixes: Sequence[str] = RASTER_SUFFIXES
) -> list[Path]:
    """The raster files named by ``sources``: files, folders (their rasters, not recursive) or globs.

    The result is sorted and free of duplicates. A source that matches nothing raises :class:`DataError`.
    """
    import glob

    items = [sources] if isinstance(sources, str | Path) else list(sources)
    found: set[Path] = set()
    for item in items:
        text = str(Path(item).expanduser())
        if any(ch in text for ch in "*?["):
            matches = [Path(m) for m in glob.glob(text, recursive=True) if Path(m).is_file()]
        elif Path(text).is_dir():
            matches = [p for p in Path(text).iterdir() if p.is_file() and p.suffix.lower() in suffixes]
        elif Path(text).is_file():
            matches = [Path(text)]
        else:
            raise DataError(f"{text} does not exist; give raster files, a folder of them, or a glob like 'dir/*.tif'")
        if not matches:
            raise DataError(f"no raster files ({', '.join(suffixes)}) match {text}")
        found.update(matches)
    return sorted(found)


@dataclass(frozen=True)
class RasterInfo:
    """The header of one raster file: size, bands, nodata, georeferencing and tags (no pixels)."""

    path: Path
    count: int
    height: int
    width: int
    dtype: str
    nodata: float | None
    crs: Any
    transform: Any
    descriptions: tuple[str | None, ...]
    tags: dict[str, str]


@dataclass(frozen=True)
class BandSelection:
    """Which bands of a file to read: 1-based rasterio ``indexes`` and the canonical ``names`` delivered."""

    indexes: tuple[int, ...]
    names: tuple[str, ...]


@contextmanager
def open_raster(path: str | Path) -> Iterator[rasterio.io.DatasetReader]:
    """Open ``path`` with rasterio; a missing, corrupt or non-raster file raises :class:`DataError`."""
    handle = _open(Path(path))
    try:
        yield handle
    finally:
        handle.close()


def _open(path: Path) -> Any:
    import rasterio
    from rasterio.errors import RasterioError

    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file; check the path or the --data-root folder")
    try:
        return rasterio.open(path)
    except RasterioError as error:
        raise DataError(
            f"cannot open {path} as a raster ({error}). The file is corrupt, truncated or not a GeoTIFF: "
            "re-download or regenerate it, or leave it out of the inputs."
        ) from error


class RasterHandles:
    """Open rasterio readers kept for reuse, so reading a window of a file read before skips opening it.

    Opening a GeoTIFF (header, tags, tile index) is a large part of the cost of reading a small window of
    it, so a dataset that reads windows of the same files epoch after epoch keeps them open here: at most
    ``max_open`` (least recently used ones are closed). Handles belong to the process that opened them:
    after a fork (DataLoader workers) they are dropped, never shared, and pickling carries none.
    """

    def __init__(self, max_open: int = 64) -> None:
        self.max_open = int(max_open)
        self._open: OrderedDict[Path, Any] = OrderedDict()
        self._pid = os.getpid()

    def __len__(self) -> int:
        """Number of readers open in this process."""
        return len(self._open) if self._pid == os.getpid() else 0

    def reader(self, path: str | Path) -> Any:
        """An open reader of ``path`` (opened now if needed; errors as :func:`open_raster`)."""
        if self._pid != os.getpid():  # inherited through fork: the file offsets are shared, never use them
            self._open = OrderedDict()
            self._pid = os.getpid()
        path = Path(path)
        handle = self._open.get(path)
        if handle is not None and not handle.closed:
            self._open.move_to_end(path)
            return handle
        handle = _open(path)
        self._open[path] = handle
        while len(self._open) > self.max_open:
            _, oldest = self._open.popitem(last=False)
            oldest.close()
        return handle

    def use(self, path: str | Path) -> AbstractContextManager[Any]:
        """A context manager giving the reader of ``path``; leaving it keeps the file open."""
        return nullcontext(self.reader(path))

    def close(self) -> None:
        """Close every reader this process opened."""
        if self._pid == os.getpid():
            for handle in self._open.values():
                handle.close()
        self._open = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {"max_open": self.max_open}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["max_open"])  # type: ignore[misc]


def _opened(path: Path, handles: RasterHandles | None) -> AbstractContextManager[Any]:
    return handles.use(path) if handles is not None else open_raster(path)


def raster_info(path: str | Path) -> RasterInfo:
    """The header of ``path`` (size, band count, nodata, CRS, transform, band descriptions, tags)."""
    with open_raster(path) as src:
        tags = dict(src.tags())
        return RasterInfo(
            path=Path(path),
            count=src.count,
            height=src.height,
            width=src.width,
            dtype=src.dtypes[0],
            nodata=src.nodata,
            crs=src.crs,
            transform=src.transform,
            descriptions=tuple(src.descriptions),
            tags=tags,
        )


def select_bands(
    file_bands: Sequence[str],
    wanted: Sequence[str] | None = None,
    *,
    sensor: str | None = None,
    source: str = "the dataset",
) -> BandSelection:
    """Map the canonical band names ``wanted`` onto a file's bands ``file_bands`` (names in file order).

    Names go through the band vocabulary (:func:`geofm.bands.canonical_bands`, with ``sensor`` as
    context), so ``B8A``, ``NIR_NARROW`` and ``nir08`` all find the same band. ``wanted=None`` selects
    every file band in file order. A wanted band the file lacks raises :class:`DataError` listing both.
    """
    canonical_file = canonical_bands(file_bands, sensor)
    if wanted is None:
        return BandSelection(tuple(range(1, len(canonical_file) + 1)), canonical_file)
    canonical_wanted = canonical_bands(wanted, sensor)
    position = {band: i for i, band in enumerate(canonical_file)}
    missing = [band for band in canonical_wanted if band not in position]
    if missing:
        raise DataError(
            f"{source} has no band {', '.join(missing)}: its files hold {', '.join(canonical_file)} "
            f"(given as {', '.join(file_bands)}), but {', '.join(canonical_wanted)} were asked for. "
            "Choose bands from the files (--bands) or use a backbone whose bands the data has."
        )
    return BandSelection(tuple(position[b] + 1 for b in canonical_wanted), canonical_wanted)


def _holds(dtype: np.dtype, value: float) -> bool:
    """Whether integer ``dtype`` can hold ``value`` exactly."""
    info = np.iinfo(dtype)
    return float(value).is_integer() and info.min <= value <= info.max


def valid_mask(image: np.ndarray, nodata: float | None) -> np.ndarray:
    """(H, W) bool: pixels where every band is finite and differs from ``nodata``."""
    has_nodata = nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata))
    if np.issubdtype(image.dtype, np.integer):
        if not has_nodata or not _holds(image.dtype, nodata):
            return np.ones(image.shape[1:], bool)  # no pixel can equal a value its type cannot hold
        # compared in the pixels' own type: a Python float would first cast every pixel to float64
        return np.logical_and.reduce(image != image.dtype.type(nodata), axis=0)
    valid = np.logical_and.reduce(np.isfinite(image), axis=0)
    if has_nodata:
        valid &= np.logical_and.reduce(image != nodata, axis=0)
    return valid


def _check_count(src: Any, path: Path, expected: int | None) -> None:
    if expected is not None and src.count != expected:
        raise DataError(
            f"{path} has {src.count} bands but the dataset declares {expected} (file_bands). Give the bands "
            "of the files in file order, or remove files with a different band layout."
        )


def read_pixels(src: Any, path: Path, indexes: int | Sequence[int], *, what: str = "", **options: Any) -> np.ndarray:
    """``src.read(indexes, **options)`` (``window``, ``out_shape``, ``resampling`` ...) of the open raster ``src``.

    A failed read raises :class:`DataError` naming ``path`` (prefixed by ``what``, e.g. ``"label "``) as
    corrupt or truncated.
    """
    from rasterio.errors import RasterioError

    try:
        return src.read(indexes, **options)
    except RasterioError as error:
        raise DataError(
            f"cannot read pixels of {what}{path} ({error}): the file is corrupt or truncated. "
            "Re-download or regenerate it, or leave it out of the inputs."
        ) from error


def _selected(src: Any, path: Path, indexes: Sequence[int] | None, what: str = "") -> list[int]:
    """The 1-based bands ``indexes`` (``None`` = all) of ``src``; one beyond its bands raises :class:`DataError`."""
    selected = list(indexes) if indexes is not None else list(range(1, src.count + 1))
    if max(selected, default=0) > src.count:
        raise DataError(f"{what}{path} has {src.count} bands; {what}band {max(selected)} does not exist")
    return selected


def _read_bands(
    path: Path,
    window: Window | None,
    indexes: Sequence[int] | None,
    nodata: float | None,
    handles: RasterHandles | None,
    *,
    what: str = "",
    expected_count: int | None = None,
) -> tuple[np.ndarray, float | None]:
    """The raw pixels of bands ``indexes`` (``None`` = all) in ``window``, and the nodata value that applies.

    That is ``nodata``, or the file's own when ``None``. ``what`` prefixes the file in errors (``"target "``).
    """
    with _opened(path, handles) as src:
        _check_count(src, path, expected_count)
        raw = read_pixels(src, path, _selected(src, path, indexes, what), what=what, window=window)
        return raw, src.nodata if nodata is None else nodata


def read_window(
    path: str | Path,
    *,
    window: Window | None = None,
    indexes: Sequence[int] | None = None,
    nodata: float | None = None,
    expected_count: int | None = None,
    handles: RasterHandles | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read bands ``indexes`` (1-based; ``None`` = all) of ``window`` (``None`` = the whole file).

    Returns ``(image, valid)``: ``image`` float32 (C, h, w) and ``valid`` bool (h, w), false where any
    band is NaN or equals ``nodata`` (``None`` = the file's own nodata value). ``expected_count``
    checks the file's band count (a mismatch raises :class:`DataError` naming the file). ``handles``
    keeps the file open for the next read (:class:`RasterHandles`).
    """
    raw, file_nodata = _read_bands(Path(path), window, indexes, nodata, handles, expected_count=expected_count)
    valid = valid_mask(raw, file_nodata)
    return raw.astype(np.float32, copy=False), valid


def read_target(
    path: str | Path,
    *,
    window: Window | None = None,
    indexes: Sequence[int] | None = None,
    nodata: float | None = None,
    handles: RasterHandles | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read target bands ``indexes`` (1-based; ``None`` = all) as float32 (K, h, w) and their validity.

    A value is invalid where it is NaN or infinite or equals ``nodata`` (``None`` = the file's nodata);
    unlike an image, each band has its own mask. ``handles`` keeps the file open for the next read.
    """
    raw, file_nodata = _read_bands(Path(path), window, indexes, nodata, handles, what="target ")
    values = raw.astype(np.float32, copy=False)
    valid = np.isfinite(values)
    if file_nodata is not None and not math.isnan(file_nodata):
        valid &= raw != file_nodata
    return values, valid


def read_label(
    path: str | Path,
    *,
    window: Window | None = None,
    nodata: float | None = None,
    ignore_index: int | None = None,
    handles: RasterHandles | None = None,
) -> np.ndarray:
    """Read band 1 of a label raster as int64 (h, w).

    ``nodata`` pixels (``None`` = the file's nodata value) become ``ignore_index``. ``handles`` keeps
    the file open for the next read (:class:`RasterHandles`).
    """
    path = Path(path)
    with _opened(path, handles) as src:
        raw = read_pixels(src, path, 1, what="label ", window=window)
        label_nodata = src.nodata if nodata is None else nodata
    floating = np.issubdtype(raw.dtype, np.floating)
    invalid = ~np.isfinite(raw) if floating else None
    if label_nodata is not None and not math.isnan(label_nodata):
        invalid = raw == label_nodata if invalid is None else invalid | (raw == label_nodata)
    if invalid is None or not invalid.any():
        return raw.astype(np.int64)
    label = np.where(invalid, 0, raw).astype(np.int64) if floating else raw.astype(np.int64)
    label[invalid] = 0 if ignore_index is None else ignore_index
    return label
