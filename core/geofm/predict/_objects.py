"""Objects of whole scenes, for detection and instance segmentation runs, as vector files.

A scene is tiled with overlap, read and normalised as for map outputs (:mod:`geofm.predict.tiling`,
:mod:`geofm.predict.scene`), and its tiles run through the run's model in batches with their batch
metadata. Each tile's detections above the score threshold are shifted into scene pixels, and the
detections of all tiles are merged into one per object (:func:`geofm.predict._objects_merge.merge_objects`:
a cut view gives way to a whole one, parts of an object larger than the overlap are stitched, class-wise
non-maximum suppression removes the rest). The objects are written as polygons in map coordinates
(:mod:`geofm.predict._objects_write`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from geofm.errors import ConfigError, ContractError
from geofm.predict._objects_merge import ObjectCollector, merge_objects
from geofm.predict._objects_write import (
    MASK_THRESHOLD,
    VECTOR_FORMATS,
    object_geometries,
    vector_libraries,
    write_objects,
)
from geofm.predict._options import ObjectOptions, PredictOptions
from geofm.predict._outputs import meta_tensors
from geofm.predict._run import LoadedRun
from geofm.predict._setup import GDAL_CACHE_MB, normalisation, prepare_scenes, scene_report
from geofm.predict.scene import SceneBands, read_batches, scene_meta
from geofm.predict.schedule import call_schedule
from geofm.predict.tiling import batches, iter_tiles, tile_starts
from geofm.vocabulary import DETECTION_TASKS

__all__ = ["objects_path", "predict_objects", "predict_objects_scene"]

log = logging.getLogger(__name__)


def objects_path(scene: Path, out_dir: Path, vector_format: str = "gpkg") -> Path:
    """Where the objects of ``scene`` go: ``<out_dir>/<scene stem>.gpkg`` (or ``.geojson``)."""
    return out_dir / f"{scene.stem}{VECTOR_FORMATS[vector_format][1]}"


# --- the model call --------------------------------------------------------------------------------


def _contract(loaded: LoadedRun, problem: str) -> ContractError:
    decoder = loaded.config.get("decoder", {}).get("name", "?")
    return ContractError(
        f"the detection model of {loaded.run_dir} (decoder {decoder}) {problem}; in eval mode a detection decoder "
        "returns one dict per image with boxes (N, 4), labels (N,) and scores (N,), and masks (N, 1, H, W) for "
        "instance_segmentation (geofm.contracts.DetectorModule)"
    )


def _detect(
    loaded: LoadedRun,
    batch: np.ndarray,
    meta: Mapping[str, np.ndarray],
    device: Any,
    precision: str,
    score_threshold: float,
) -> list[dict[str, np.ndarray]]:
    """The detections scoring at least ``score_threshold`` in each tile of ``batch``, as numpy arrays.

    ``boxes`` (N, 4) float64 and ``masks`` (N, H, W) booleans (probability above :data:`MASK_THRESHOLD`,
    instance segmentation only) are in tile pixels; ``labels`` (N,) int64, ``scores`` (N,) float32.
    """
    import torch

    masks = loaded.task_type == "instance_segmentation"
    image = torch.from_numpy(batch).to(device, non_blocking=True)
    bf16 = precision == "bf16"
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        outputs = loaded.model(image, **meta_tensors(meta, device))
        if not isinstance(outputs, Sequence) or len(outputs) != len(batch):
            raise _contract(loaded, f"returned {type(outputs).__name__} for a batch of {len(batch)} images")
        results = []
        for output in outputs:
            wanted = ("boxes", "labels", "scores", "masks") if masks else ("boxes", "labels", "scores")
            missing = [key for key in wanted if not isinstance(output, Mapping) or key not in output]
            if missing:
                raise _contract(loaded, f"returned an image's detections without {', '.join(missing)}")
            keep = output["scores"].float() >= score_threshold
            result = {
                "boxes": output["boxes"][keep].double().cpu().numpy().reshape(-1, 4),
                "labels": output["labels"][keep].long().cpu().numpy().reshape(-1),
                "scores": output["scores"][keep].float().cpu().numpy().reshape(-1),
            }
            if masks:
                found = output["masks"][keep]
                found = found.reshape(found.shape[0], *found.shape[-2:])
                result["masks"] = (found.float() > MASK_THRESHOLD).cpu().numpy()
            if len({len(value) for value in result.values()}) != 1:
                raise _contract(loaded, "returned boxes, labels and scores of different lengths")
            if len(result["labels"]) and not 0 <= result["labels"].min() <= result["labels"].max() < loaded.num_classes:
                raise _contract(loaded, f"returned class indexes outside 0..{loaded.num_classes - 1}")
            results.append(result)
    return results


# --- one scene -------------------------------------------------------------------------------------


def _metadata(loaded: LoadedRun, scene: Path, options: PredictOptions, objects: ObjectOptions) -> dict[str, str]:
    import json

    import geofm

    return {
        "geofm_version": geofm.__version__,
        "geofm_run": str(loaded.run_dir.resolve()),
        "geofm_checkpoint": str(Path(loaded.checkpoint).resolve()),
        "geofm_task": loaded.task_type,
        "geofm_bands": ",".join(loaded.band_names),
        "geofm_source": str(scene),
        "geofm_model": f"{loaded.config['backbone']['name']}+{loaded.config['decoder']['name']}",
        "geofm_tile_size": str(options.tile_size),
        "geofm_overlap": str(options.overlap),
        "geofm_score_threshold": str(objects.score_threshold),
        "geofm_nms_iou": str(objects.nms_iou),
        "class_names": json.dumps(list(loaded.class_names)),
    }


def predict_objects_scene(
    loaded: LoadedRun,
    scene: Path,
    destination: Path,
    bands: SceneBands,
    options: PredictOptions,
    objects: ObjectOptions,
    device: Any,
) -> dict[str, Any]:
    """Detect the objects of one scene and write them to ``destination``; return counts and timings.

    ``options`` are the :class:`~geofm.predict.PredictOptions` of the tiling, batching and precision.
    Tiles are never larger than the scene; a tile without a valid pixel is not run.
    """
    import rasterio

    started = time.perf_counter()
    tile, overlap = options.tile_size, options.overlap
    channels, frames = len(loaded.band_names), loaded.num_frames
    mean, std = normalisation(loaded)
    io_threads = (options.schedule or call_schedule(device)).io_threads
    detections = 0
    with rasterio.Env(GDAL_NUM_THREADS=str(io_threads)), rasterio.open(scene) as src:
        height, width = src.height, src.width
        tile_rows, tile_cols = min(tile, height), min(tile, width)
        rows = tile_starts(height, tile_rows, min(overlap, tile_rows - 1))
        cols = tile_starts(width, tile_cols, min(overlap, tile_cols - 1))
        meta = scene_meta(scene, src, bands, frames, rows, cols, tile_rows, tile_cols)
        collector = ObjectCollector(height, width, masks=loaded.task_type == "instance_segmentation")
        steps = (frames,) if frames > 1 else ()
        shape = (options.batch_size, channels, *steps, tile_rows, tile_cols)
        tiles = batches(iter_tiles(height, width, rows, cols, tile_rows, tile_cols), options.batch_size)
        stream = read_batches(src, bands, tiles, shape, mean, std, held=1, workers=io_threads)
        tiles_run = 0
        with closing(stream):
            for batch_tiles, array, valids in stream:
                useful = [i for i, valid in enumerate(valids) if valid is not None]
                if not useful:
                    continue
                chosen = [batch_tiles[i] for i in useful]
                found = _detect(
                    loaded, array[useful], meta.batch(chosen), device, options.precision, objects.score_threshold
                )
                for i, result in zip(useful, found, strict=True):
                    collector.add(batch_tiles[i], result, valids[i])  # type: ignore[arg-type]
                    detections += len(result["scores"])
                tiles_run += len(useful)
        merged = merge_objects(collector.objects(), objects.nms_iou, collector.tile_boxes)
        geometries = object_geometries(merged, src.transform)
        metadata = _metadata(loaded, scene, options, objects)
        write_objects(destination, merged, geometries, loaded.class_names, src.crs, objects.vector_format, metadata)
    elapsed = time.perf_counter() - started
    report = scene_report(scene, destination, height, width, len(rows) * len(cols), tiles_run, elapsed)
    return {**report, "detections": detections, "objects": len(merged)}


# --- the entry point from geofm.predict.predict ----------------------------------------------------


def _detects(loaded: LoadedRun) -> None:
    if loaded.task_type not in DETECTION_TASKS:
        raise ConfigError(f"objects are predicted for detection and instance_segmentation runs, not {loaded.task_type}")


def predict_objects(
    run_dir_or_checkpoint: str | os.PathLike[str] | None,
    scenes: Sequence[Path],
    out_dir: Path,
    options: PredictOptions,
    objects: ObjectOptions,
    loaded: LoadedRun | None = None,
) -> list[Path]:
    """Write the objects of each of ``scenes`` (resolved GeoTIFF paths) to ``out_dir``; return the files.

    Called by :func:`geofm.predict.predict` for a detection or instance_segmentation run, after its
    ``out_dir`` check. ``options`` are its :class:`~geofm.predict.PredictOptions`; the map options
    (``output``, ``dtype``, ``compression``, ``preview``) do not apply to objects and are refused. Existing
    outputs, band mismatches and missing vector libraries are reported before any tile is computed.
    """
    import rasterio

    given = [
        name
        for name, used in (
            ("--output", options.output is not None),
            ("--dtype", options.dtype is not None),
            ("--compression", options.compression.lower() != "deflate"),
            ("--preview", options.preview),
        )
        if used
    ]
    if given:
        raise ConfigError(
            f"{', '.join(given)} apply to maps; a detection or instance_segmentation run writes its objects as "
            f"vectors (<scene>.gpkg); leave {'them' if len(given) > 1 else 'it'} out"
        )
    objects.check()
    vector_libraries()
    destinations = [objects_path(scene, out_dir, objects.vector_format) for scene in scenes]
    loaded, device, scene_bands = prepare_scenes(
        run_dir_or_checkpoint, loaded, scenes, destinations, out_dir, options, _detects
    )
    written = []
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024):
        for scene, destination, bands in zip(scenes, destinations, scene_bands, strict=True):
            report = predict_objects_scene(loaded, scene, destination, bands, options, objects, device)
            log.info("%s -> %s (%d objects, %.1f s)", scene.name, destination, report["objects"], report["seconds"])
            written.append(destination)
    return written
