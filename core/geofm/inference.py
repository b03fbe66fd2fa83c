"""Streaming tiled inference of scenes of any size into georeferenced GeoTIFFs.

Tiles are read with rasterio windows, normalised with the run's statistics, batched through the model
with the batch metadata the data pipeline gives a sample of the same file (``timestamps``, each tile's
``center_latlon``, ``gsd``; :func:`geofm._scene.scene_meta`), blended with a smooth weight window and
accumulated in a buffer of one tile height across the scene width (:mod:`geofm._tiling`). Rows that no
later tile touches are written to the output at once, so peak memory depends on the tile size, batch
size and scene width, not on the scene height.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geofm._compose_plan import DETECTION_TASKS
from geofm._outputs import OUTPUT_KINDS, OutputLayout, embedding_geometry, output_tags, per_tile, plan_output
from geofm._outputs import TileRunner as _Runner
from geofm._preview import class_palette
from geofm._scene import SceneBands, SceneMeta, match_scene_bands, read_batches, scene_meta
from geofm._tiling import StripeAccumulator, StripeBlender, Tile, batches, blend_window, iter_tiles, tile_starts
from geofm.errors import ConfigError, DataError
from geofm.loading import LoadedRun, load_run_model

__all__ = ["OUTPUT_KINDS", "PredictOptions", "check_out_dir", "output_path", "predict", "predict_scene"]

log = logging.getLogger(__name__)

COMPRESSIONS = ("deflate", "lzw", "zstd", "lerc", "none")
PRECISIONS = ("32", "bf16")
BLOCK = 256
GDAL_CACHE_MB = 64
"""GDAL block cache during prediction: enough for the blocks of one row of tiles, bounded for huge scenes."""
WRITE_QUEUE = 2
"""Batches of model output that may wait for the writer thread, when there is one (bounded memory)."""


@dataclass(frozen=True)
class PredictOptions:
    """How scenes are predicted (see :func:`predict` for the meaning of each field)."""

    tile_size: int = 256
    overlap: int = 32
    batch_size: int = 8
    device: str = "auto"
    precision: str = "32"
    output: str | None = None
    dtype: str | None = None
    compression: str = "deflate"
    overwrite: bool = False
    preview: bool = False

    def check(self) -> None:
        """Refuse impossible values with the option's name."""
        if self.tile_size < 16:
            raise ConfigError(f"tile_size must be >= 16 pixels, got {self.tile_size}")
        if not 0 <= self.overlap <= self.tile_size // 2:
            raise ConfigError(f"overlap must be between 0 and tile_size/2 ({self.tile_size // 2}), got {self.overlap}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.output is not None and self.output not in OUTPUT_KINDS:
            raise ConfigError(f"output must be one of {', '.join(OUTPUT_KINDS)}, got {self.output!r}")
        if self.compression.lower() not in COMPRESSIONS:
            raise ConfigError(f"compression must be one of {', '.join(COMPRESSIONS)}, got {self.compression!r}")
        if self.device not in ("auto", "cpu") and not self.device.startswith(("cuda", "mps")):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")


def output_path(scene: Path, out_dir: Path) -> Path:
    """Where the prediction of ``scene`` goes: ``<out_dir>/<scene stem>_pred.tif``."""
    return out_dir / f"{scene.stem}_pred.tif"


def check_out_dir(folder: Path) -> None:
    """Refuse an ``--out`` folder that cannot hold the predictions, creating and leaving nothing.

    A DataError when ``folder`` is a file, lies below a file, or cannot be written: an existing folder
    must take a probe file (created and removed at once, which also finds read-only mounts); a folder
    still to be made needs its nearest existing parent to be a folder this process may write in.
    """
    hint = "pass a writable --out folder (predictions go inside it as <scene>_pred.tif)"
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise DataError(f"--out {folder} is an existing file, not a folder; {hint}")
    parent = folder.absolute()
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not os.path.isdir(parent):
        raise DataError(f"--out {folder} cannot be created: {parent} is a file, not a folder; {hint}")
    if parent != folder.absolute():
        if not os.access(parent, os.W_OK | os.X_OK):
            raise DataError(f"--out {folder} cannot be created: {parent} is not writable; {hint}")
        return
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".geofm-probe-"):
            pass
    except OSError as error:
        raise DataError(f"--out {folder} is not writable ({error.strerror or error}); {hint}") from error


def _device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name} was asked for but CUDA is not available; use --device cpu or auto")
    return device


# --- one scene -------------------------------------------------------------------------------------


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


STREAMS = 2
"""Model calls that run at once on a CPU whose cores torch's threads fill (each with its share of the threads)."""


@dataclass(frozen=True)
class _Plan:
    """How the work of one scene is spread over threads (see :func:`_plan`).

    ``streams``: model calls in flight at once, each in a thread of its own; ``model_threads``: torch's
    intra-op threads during prediction (``None``: left as they are); ``io_threads``: the threads GDAL
    decodes and compresses blocks with, and the threads that normalise tiles.
    """

    streams: int
    model_threads: int | None
    io_threads: int

    def fitted(self, full_batches: int) -> _Plan:
        """The plan for a scene of ``full_batches`` full batches: one call at a time unless each call gets one.

        One batch on a share of the threads takes longer than on all of them (a 512 x 512 chip of 8 + 1
        tiles took 70 % longer as two calls), so several calls at once need a full batch each.
        """
        return self if full_batches >= self.streams else _Plan(1, None, self.io_threads)


def _plan(device: Any) -> _Plan:
    """The threads of prediction on ``device`` (for a scene of a single batch, see :meth:`_Plan.fitted`).

    Reading the next batch, and blending and writing the last ones, always run in threads beside the
    model. On a GPU, or when torch's CPU threads leave cores free, one model call runs at a time and the
    I/O threads use the spare cores. When torch's threads fill every core (the default on a CPU),
    :data:`STREAMS` model calls run at once, each with its share of the threads: the threads of one call
    wait for each other after every operation, so splitting the cores between calls wastes less of them
    (two one-thread calls ran the same tiles 11 % faster than one two-thread call on 2 cores, see
    bench/predict.py), and a call that I/O threads preempt holds up fewer threads. The model's forward must
    be safe to call from two threads at once, as an ``eval()`` module's forward without state is.
    """
    import torch

    cores = _cpu_cores()
    if device.type != "cpu":
        return _Plan(1, None, max(1, cores - 1))
    threads = torch.get_num_threads()
    if threads < cores:
        return _Plan(1, None, cores - threads)
    streams = min(STREAMS, threads)
    return _Plan(streams, threads // streams if streams > 1 else None, cores)


@contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """Set torch's intra-op threads to ``count`` (``None``: unchanged) for the block; restore them after.

    The setting is torch's, for the whole process: other threads' torch work in the meantime gets it too.
    """
    import torch

    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_batches(
    stream: Iterator[tuple[Sequence[Tile], np.ndarray, list[np.ndarray | None]]],
    runner: _Runner,
    blender: StripeBlender,
    streams: int,
    meta: SceneMeta,
) -> int:
    """Run the model on each batch of ``stream`` with its tiles' ``meta``, blend the output; return the tiles run.

    Up to ``streams`` model calls run at once, each in a thread of its own, while ``stream`` reads the
    next batch. Their outputs go, in the order of the batches, to a writer thread that blends and writes
    them, at most :data:`WRITE_QUEUE` batches behind. ``stream`` must keep the last ``streams`` batches
    it gave untouched (:func:`geofm._scene.read_batches` with ``held=streams``). A failure in a model call
    or in the writer stops the loop. A batch whose tiles hold no valid pixel skips the model.
    """
    tiles_run = 0
    running: deque[tuple[Sequence[Tile], Future[np.ndarray] | None, list[np.ndarray | None]]] = deque()
    writes: deque[Future[None]] = deque()
    with (
        ThreadPoolExecutor(streams, thread_name_prefix="geofm-model") as models,
        ThreadPoolExecutor(1, thread_name_prefix="geofm-write") as writer,
    ):

        def hand_on_oldest() -> None:
            tiles, call, valids = running.popleft()
            results = call.result() if call is not None else None
            while len(writes) > WRITE_QUEUE:
                writes.popleft().result()
            writes.append(writer.submit(blender.add, tiles, results, valids))

        try:
            for tiles, array, valids in stream:
                useful = sum(valid is not None for valid in valids)
                call = models.submit(runner, array, meta.batch(tiles)) if useful else None
                running.append((tiles, call, valids))
                tiles_run += useful
                if len(running) >= streams:
                    hand_on_oldest()  # before the next batch is requested, which may reuse its array
            while running:
                hand_on_oldest()
            while writes:
                writes.popleft().result()
        finally:
            for _, call, _ in running:
                if call is not None:
                    call.cancel()
            for future in writes:
                future.cancel()
    return tiles_run


def _layout(loaded: LoadedRun, options: PredictOptions) -> OutputLayout:
    """The output layout of ``options`` for ``loaded``; a ConfigError when they do not fit."""
    embed_dim, reduction = embedding_geometry(loaded.model) if options.output == "embeddings" else (0, 1)
    layout = plan_output(loaded, options.output, options.dtype, embed_dim, reduction)
    tile, overlap = options.tile_size, options.overlap
    if layout.kind == "embeddings" and (tile % reduction or overlap % reduction):
        raise ConfigError(
            f"embeddings are per patch of {reduction} pixels: tile_size ({tile}) and overlap ({overlap}) must be "
            f"multiples of {reduction}"
        )
    return layout


def predict_scene(
    loaded: LoadedRun,
    scene: Path,
    destination: Path,
    bands: SceneBands,
    options: PredictOptions,
    device: Any,
) -> dict[str, Any]:
    """Predict one open-able scene into ``destination``; return timings and sizes.

    Reading and normalising tiles, the model calls and blending and writing form a pipeline of threads
    (:func:`_plan`); the queues between the stages hold a few batches at most, so memory stays bounded.
    """
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    started = time.perf_counter()
    layout = _layout(loaded, options)
    tile, overlap = options.tile_size, options.overlap
    channels, frames = len(loaded.band_names), loaded.num_frames
    mean = list(loaded.mean) if loaded.mean else [0.0] * channels  # a run without statistics: raw values
    std = list(loaded.std) if loaded.std else [1.0] * channels
    r = layout.reduction
    plan = _plan(device)
    with rasterio.Env(GDAL_NUM_THREADS=str(plan.io_threads)), rasterio.open(scene) as src:
        height, width = src.height, src.width
        # a classification tile is never padded: a scene smaller than a tile is classified as it is
        tile_rows, tile_cols = (min(tile, height), min(tile, width)) if per_tile(loaded, layout.kind) else (tile, tile)
        align = r if r > 1 else 1
        rows = tile_starts(height, tile_rows, min(overlap, tile_rows - 1), align)
        cols = tile_starts(width, tile_cols, min(overlap, tile_cols - 1), align)
        plan = plan.fitted(len(rows) * len(cols) // options.batch_size)
        meta = scene_meta(scene, src, bands, frames, rows, cols, tile_rows, tile_cols)
        out_height, out_width = -(-height // r), -(-width // r)
        window = blend_window(tile_rows // r, tile_cols // r, overlap // r)
        runner = _Runner(loaded, layout.kind, device, options.precision, window)
        accumulator = StripeAccumulator(
            layout.count if layout.kind != "class" else loaded.num_classes, out_width, tile_rows // r
        )
        transform = src.transform @ Affine.scale(r, r) if r > 1 else src.transform
        profile = {
            "driver": "GTiff",
            "height": out_height,
            "width": out_width,
            "count": layout.count,
            "dtype": layout.dtype,
            "crs": src.crs,
            "transform": transform,
            "nodata": layout.nodata,
            "tiled": True,
            "blockxsize": BLOCK,
            "blockysize": BLOCK,
            "BIGTIFF": "IF_SAFER",
            "num_threads": str(plan.io_threads),  # GDAL compresses written blocks in its threads
        }
        compression = options.compression.lower()
        if compression != "none":
            profile["compress"] = compression
            predictor = layout.tiff_predictor(compression)
            if predictor is not None:
                profile["predictor"] = predictor
        partial = destination.with_name(destination.name + ".partial")
        try:
            with rasterio.open(partial, "w", **profile) as dst:
                tiling = {"geofm_tile_size": str(tile), "geofm_overlap": str(overlap)}
                dst.update_tags(**output_tags(loaded, layout, scene, tiling))
                for index, text in enumerate(layout.descriptions, start=1):
                    dst.set_band_description(index, text)
                if layout.kind == "probabilities" and layout.dtype == "uint8":
                    dst.scales = (1 / 254,) * layout.count  # GDAL scale: value * scale = probability
                if layout.kind == "class" and layout.dtype == "uint8":
                    palette = class_palette(loaded.num_classes)
                    dst.write_colormap(1, {i: (*c, 255) for i, c in enumerate(palette)})

                def write(values: np.ndarray, valid: np.ndarray, top: int) -> None:
                    window = Window(0, top, values.shape[-1], values.shape[-2])
                    dst.write(layout.encode(values, valid), window=window)

                blender = StripeBlender(accumulator, rows, window, r, write)
                tiles = batches(iter_tiles(height, width, rows, cols, tile_rows, tile_cols), options.batch_size)
                steps = (frames,) if frames > 1 else ()
                shape = (options.batch_size, channels, *steps, tile_rows, tile_cols)
                stream = read_batches(src, bands, tiles, shape, mean, std, held=plan.streams, workers=plan.io_threads)
                with closing(stream), _torch_threads(plan.model_threads):
                    tiles_run = _run_batches(stream, runner, blender, plan.streams, meta)
                blender.flush(out_height)
            os.replace(partial, destination)
        finally:
            partial.unlink(missing_ok=True)
    elapsed = time.perf_counter() - started
    return {
        "input": str(scene),
        "output": str(destination),
        "height": height,
        "width": width,
        "tiles": len(rows) * len(cols),
        "tiles_run": tiles_run,
        "seconds": round(elapsed, 3),
        "megapixels_per_s": round(height * width / 1e6 / elapsed, 4) if elapsed > 0 else None,
    }


# --- the public entry point ------------------------------------------------------------------------


def _check_destinations(destinations: Sequence[Path], overwrite: bool) -> None:
    """Refuse outputs that two inputs would share, and existing ones unless ``overwrite``."""
    clashes = sorted({d.name for d in destinations if destinations.count(d) > 1})
    if clashes:
        raise DataError(f"several inputs would write the same output ({', '.join(clashes)}); predict them separately")
    existing = [d for d in destinations if d.exists()]
    if existing and not overwrite:
        raise DataError(
            f"output {existing[0]} already exists"
            + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else "")
            + "; pass --overwrite (overwrite=True) to replace, or choose another --out folder"
        )


def _match_bands(scenes: Sequence[Path], loaded: LoadedRun) -> list[SceneBands]:
    """Each scene's bands for ``loaded``: every band mismatch is reported before any tile is computed."""
    from geofm.data.reading import open_raster

    band_plans = []
    for scene in scenes:
        with open_raster(scene) as src:
            band_plans.append(match_scene_bands(scene, src, loaded.band_names, loaded.num_frames))
    return band_plans


def _make_out_dir(out_path: Path) -> None:
    try:
        out_path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create --out {out_path} ({error}); pass a writable --out folder") from error


def predict(
    run_dir_or_checkpoint: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    tile_size: int = 256,
    overlap: int = 32,
    batch_size: int = 8,
    device: str = "auto",
    precision: str = "32",
    output: str | None = None,
    dtype: str | None = None,
    compression: str = "deflate",
    overwrite: bool = False,
    preview: bool = False,
    score_threshold: float | None = None,
    nms_iou: float | None = None,
    vector_format: str | None = None,
    loaded: LoadedRun | None = None,
) -> list[Path]:
    """Predict every scene in ``inputs`` with a trained run; return the written files (GeoTIFFs, or vectors).

    ``run_dir_or_checkpoint``: a run directory (its best checkpoint) or a ``.ckpt`` inside one; the model,
    bands, normalisation and task come from the run's ``config.yaml``. ``inputs``: GeoTIFF files, glob
    patterns or folders. Each output ``<out_dir>/<stem>_pred.tif`` has the scene's CRS, transform and size,
    nodata where the input is nodata or NaN, and the run's provenance and class names in its tags.

    Segmentation and regression runs map each tile's pixels. Classification runs classify each tile (a
    sliding window) and paint its class scores over the whole tile, blended like the maps; a tile is never
    larger than the scene, so a chip of at most ``tile_size`` is classified as it is. A multi-temporal
    run (``num_frames`` T > 1) reads scenes of T x C bands, time-major: bands 1..C are time step 0 in the
    run's band order, C+1..2C step 1, and so on; in a file whose band descriptions name its bands, each
    run band is named T times, in time order. A pixel is nodata when any band at any time step is.

    The model is called as in training and validation, ``model(image, **meta)``, with the metadata the
    datasets give a sample of the scene's file: ``timestamps`` (B, T) float64 seconds since 1970 UTC (the
    file's tags, else a date in its name; with T > 1 the tags or description of each step's first band),
    ``center_latlon`` (B, 2) float32 degrees of each tile's own centre, ``gsd`` (B,) float32 metres; NaN
    where the file does not tell. A tile covering a whole chip gets the meta of that chip's sample.

    ``tile_size`` / ``overlap`` (pixels) / ``batch_size``: the tiling; ``device``: ``auto``, ``cpu``,
    ``cuda``; ``precision``: ``32`` or ``bf16``; ``output``: ``class`` (default for segmentation and
    classification), ``probabilities`` (softmax, or per-class sigmoid and the default for
    multilabel_classification), ``regression`` (default for regression) or ``embeddings`` (backbone
    features per patch, at patch resolution); ``dtype``: the output type (``uint8`` probabilities are
    scaled 0..254); ``compression``: deflate, lzw, zstd, lerc or none; ``overwrite``: replace existing
    outputs (otherwise an existing output is an error, raised before anything is computed); ``preview``:
    also write ``<stem>_pred.png``, the input's RGB beside the coloured prediction. ``loaded``: an already
    loaded run (:func:`geofm.loading.load_run_model`) to skip loading it again. An ``out_dir`` that is a
    file or cannot be written is refused before the run is loaded (:func:`check_out_dir`).

    A detection or instance_segmentation run writes the objects of each scene instead, as vectors in
    ``<out_dir>/<stem>.gpkg`` (:mod:`geofm.predict_objects`): ``score_threshold`` (default 0.3) drops weaker
    detections, ``nms_iou`` (default 0.5) is the overlap above which two detections of a class from
    overlapping tiles are one object, ``vector_format`` is ``gpkg`` (layer ``objects``, in the scene's CRS)
    or ``geojson`` (``<stem>.geojson``, EPSG:4326 as RFC 7946 asks). These three options are refused for
    other runs, and the map options ``output``, ``dtype``, ``compression`` and ``preview`` for detection runs.
    """
    import rasterio

    options = PredictOptions(
        tile_size=int(tile_size),
        overlap=int(overlap),
        batch_size=int(batch_size),
        device=str(device),
        precision=str(precision),
        output=output,
        dtype=dtype,
        compression=str(compression),
        overwrite=bool(overwrite),
        preview=bool(preview),
    )
    options.check()
    from geofm.data.reading import find_rasters

    out_path = Path(out_dir).expanduser()
    check_out_dir(out_path)
    scenes = [p.resolve() for p in find_rasters(inputs)]
    object_settings = {"score_threshold": score_threshold, "nms_iou": nms_iou, "vector_format": vector_format}
    task_type = loaded.task_type if loaded is not None else None
    if task_type is None and run_dir_or_checkpoint is not None:
        from geofm.predict_objects import run_task_type

        task_type = run_task_type(run_dir_or_checkpoint)
    if task_type in DETECTION_TASKS:
        from geofm.predict_objects import ObjectOptions, predict_objects

        settings = {key: value for key, value in object_settings.items() if value is not None}
        return predict_objects(run_dir_or_checkpoint, scenes, out_path, options, ObjectOptions(**settings), loaded)
    given = [f"--{key.replace('_', '-')}" for key, value in object_settings.items() if value is not None]
    if given:
        raise ConfigError(
            f"{', '.join(given)} apply to detection and instance_segmentation runs, not to this {task_type} run; "
            "leave them out"
        )
    destinations = [output_path(scene, out_path) for scene in scenes]
    _check_destinations(destinations, options.overwrite)
    torch_device = _device(options.device)
    if loaded is None:
        loaded = load_run_model(run_dir_or_checkpoint, device=torch_device)
    else:
        loaded.model.eval().to(torch_device)
    _layout(loaded, options)  # an output that does not fit the run is refused before any folder is made
    band_plans = _match_bands(scenes, loaded)
    _make_out_dir(out_path)
    written = []
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024):
        for scene, destination, bands in zip(scenes, destinations, band_plans, strict=True):
            report = predict_scene(loaded, scene, destination, bands, options, torch_device)
            log.info(
                "%s -> %s (%.1f s, %s Mpx/s)", scene.name, destination, report["seconds"], report["megapixels_per_s"]
            )
            if options.preview:
                from geofm._preview import write_preview

                write_preview(scene, bands, loaded, destination, destination.with_suffix(".png"))
            written.append(destination)
    return written
