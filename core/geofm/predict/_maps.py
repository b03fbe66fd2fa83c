"""Maps of whole scenes: streaming tiled prediction into georeferenced GeoTIFFs.

Tiles are read with rasterio windows, normalised with the run's statistics, batched through the model
with the batch metadata the data pipeline gives a sample of the same file (``timestamps``, each tile's
``center_latlon``, ``gsd``; :func:`geofm.predict.scene.scene_meta`), blended with a smooth weight window
and accumulated in a buffer of one tile height across the scene width (:mod:`geofm.predict.tiling`). Rows
that no later tile touches are written to the output at once, so peak memory depends on the tile size,
batch size and scene width, not on the scene height.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from geofm.errors import ConfigError
from geofm.predict._options import PredictOptions
from geofm.predict._outputs import OutputLayout, TileRunner, embedding_geometry, output_layout, output_tags, per_tile
from geofm.predict._preview import class_palette
from geofm.predict._run import LoadedRun
from geofm.predict._setup import GDAL_CACHE_MB, normalisation, prepare_scenes, scene_report
from geofm.predict.scene import SceneBands, SceneMeta, read_batches, scene_meta
from geofm.predict.schedule import WRITE_QUEUE, call_schedule, torch_threads
from geofm.predict.tiling import StripeAccumulator, StripeBlender, Tile, batches, blend_window, iter_tiles, tile_starts

__all__ = ["output_path", "predict_maps", "predict_scene"]

log = logging.getLogger(__name__)

BLOCK = 256


def output_path(scene: Path, out_dir: Path) -> Path:
    """Where the prediction of ``scene`` goes: ``<out_dir>/<scene stem>_pred.tif``."""
    return out_dir / f"{scene.stem}_pred.tif"


def _run_batches(
    stream: Iterator[tuple[Sequence[Tile], np.ndarray, list[np.ndarray | None]]],
    runner: TileRunner,
    blender: StripeBlender,
    streams: int,
    meta: SceneMeta,
) -> int:
    """Run the model on each batch of ``stream`` with its tiles' ``meta``, blend the output; return the tiles run.

    Up to ``streams`` model calls run at once, each in a thread of its own, while ``stream`` reads the
    next batch. Their outputs go, in the order of the batches, to a writer thread that blends and writes
    them, at most :data:`WRITE_QUEUE` batches behind. ``stream`` must keep the last ``streams`` batches
    it gave untouched (:func:`geofm.predict.scene.read_batches` with ``held=streams``). A failure in a
    model call or in the writer stops the loop. A batch whose tiles hold no valid pixel skips the model.
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
    layout = output_layout(loaded, options.output, options.dtype, embed_dim, reduction)
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
    (:mod:`geofm.predict.schedule`); the queues between the stages hold a few batches at most, so memory
    stays bounded.
    """
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    started = time.perf_counter()
    layout = _layout(loaded, options)
    tile, overlap = options.tile_size, options.overlap
    channels, frames = len(loaded.band_names), loaded.num_frames
    mean, std = normalisation(loaded)
    r = layout.reduction
    schedule = options.schedule or call_schedule(device)
    with rasterio.Env(GDAL_NUM_THREADS=str(schedule.io_threads)), rasterio.open(scene) as src:
        height, width = src.height, src.width
        # a classification tile is never padded: a scene smaller than a tile is classified as it is
        tile_rows, tile_cols = (min(tile, height), min(tile, width)) if per_tile(loaded, layout.kind) else (tile, tile)
        align = r if r > 1 else 1
        rows = tile_starts(height, tile_rows, min(overlap, tile_rows - 1), align)
        cols = tile_starts(width, tile_cols, min(overlap, tile_cols - 1), align)
        if options.schedule is None:  # a schedule that was chosen, not given, is fitted to the scene
            schedule = schedule.fitted(len(rows) * len(cols) // options.batch_size)
        meta = scene_meta(scene, src, bands, frames, rows, cols, tile_rows, tile_cols)
        out_height, out_width = -(-height // r), -(-width // r)
        window = blend_window(tile_rows // r, tile_cols // r, overlap // r)
        runner = TileRunner(loaded, layout.kind, device, options.precision, window)
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
            "num_threads": str(schedule.io_threads),  # GDAL compresses written blocks in its threads
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
                stream = read_batches(
                    src, bands, tiles, shape, mean, std, held=schedule.streams, workers=schedule.io_threads
                )
                with closing(stream), torch_threads(schedule.model_threads):
                    tiles_run = _run_batches(stream, runner, blender, schedule.streams, meta)
                blender.flush(out_height)
            os.replace(partial, destination)
        finally:
            partial.unlink(missing_ok=True)
    elapsed = time.perf_counter() - started
    report = scene_report(scene, destination, height, width, len(rows) * len(cols), tiles_run, elapsed)
    report["megapixels_per_s"] = round(height * width / 1e6 / elapsed, 4) if elapsed > 0 else None
    return report


def predict_maps(
    run_dir_or_checkpoint: str | os.PathLike[str] | None,
    scenes: Sequence[Path],
    out_dir: Path,
    options: PredictOptions,
    loaded: LoadedRun | None = None,
) -> list[Path]:
    """Map each of ``scenes`` (resolved GeoTIFF paths) into ``out_dir``; return the files written.

    Called by :func:`geofm.predict.predict` after its checks of ``options`` and ``out_dir``. Existing
    outputs, an output that does not fit the run and band mismatches are reported before any folder is
    made or any tile is computed.
    """
    import rasterio

    destinations = [output_path(scene, out_dir) for scene in scenes]
    loaded, device, scene_bands = prepare_scenes(
        run_dir_or_checkpoint, loaded, scenes, destinations, out_dir, options, lambda run: _layout(run, options)
    )
    written = []
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024):
        for scene, destination, bands in zip(scenes, destinations, scene_bands, strict=True):
            report = predict_scene(loaded, scene, destination, bands, options, device)
            log.info(
                "%s -> %s (%.1f s, %s Mpx/s)", scene.name, destination, report["seconds"], report["megapixels_per_s"]
            )
            if options.preview:
                from geofm.predict._preview import write_preview

                write_preview(scene, bands, loaded, destination, destination.with_suffix(".png"))
            written.append(destination)
    return written
