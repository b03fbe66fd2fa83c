"""The entry point of prediction: checks what is asked, then maps scenes or detects their objects."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from geofm.errors import ConfigError
from geofm.predict._options import ObjectOptions, PredictOptions
from geofm.predict._run import LoadedRun, run_task_type
from geofm.predict._setup import check_out_dir
from geofm.predict.schedule import CallSchedule
from geofm.vocabulary import DETECTION_TASKS

__all__ = ["predict"]


def predict(
    run_dir_or_checkpoint: str | os.PathLike[str] | None,
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
    schedule: CallSchedule | None = None,
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
    loaded run (:func:`geofm.predict.load_run`) to skip loading it again. An ``out_dir`` that is a
    file or cannot be written is refused before the run is loaded. ``schedule``: a
    :class:`~geofm.predict.schedule.CallSchedule` to run every scene with instead of the one chosen for the
    device (a testing and benchmarking hook; see :class:`~geofm.predict.PredictOptions`).

    A detection or instance_segmentation run writes the objects of each scene instead, as vectors in
    ``<out_dir>/<stem>.gpkg`` (:mod:`geofm.predict._objects`): ``score_threshold`` (default 0.3) drops weaker
    detections, ``nms_iou`` (default 0.5) is the overlap above which two detections of a class from
    overlapping tiles are one object, ``vector_format`` is ``gpkg`` (layer ``objects``, in the scene's CRS)
    or ``geojson`` (``<stem>.geojson``, EPSG:4326 as RFC 7946 asks). These three options are refused for
    other runs, and the map options ``output``, ``dtype``, ``compression`` and ``preview`` for detection runs.
    """
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
        schedule=schedule,
    )
    options.check()
    from geofm.data.reading import find_rasters

    out_path = Path(out_dir).expanduser()
    check_out_dir(out_path)
    scenes = [p.resolve() for p in find_rasters(inputs)]
    object_settings = {"score_threshold": score_threshold, "nms_iou": nms_iou, "vector_format": vector_format}
    task_type = loaded.task_type if loaded is not None else None
    if task_type is None and run_dir_or_checkpoint is not None:
        task_type = run_task_type(run_dir_or_checkpoint)
    if task_type in DETECTION_TASKS:
        from geofm.predict._objects import predict_objects

        settings = {key: value for key, value in object_settings.items() if value is not None}
        return predict_objects(run_dir_or_checkpoint, scenes, out_path, options, ObjectOptions(**settings), loaded)
    given = [f"--{key.replace('_', '-')}" for key, value in object_settings.items() if value is not None]
    if given:
        raise ConfigError(
            f"{', '.join(given)} apply to detection and instance_segmentation runs, not to this {task_type} run; "
            "leave them out"
        )
    from geofm.predict._maps import predict_maps

    return predict_maps(run_dir_or_checkpoint, scenes, out_path, options, loaded)
