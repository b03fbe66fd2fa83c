"""``geofm predict``: map whole scenes with a trained run into georeferenced GeoTIFFs, or detect their objects."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["predict_command"]


def predict_command(
    run: Path = typer.Argument(..., help="a run directory written by geofm run, or a .ckpt file inside one"),
    inputs: list[str] = typer.Argument(..., help="GeoTIFF files, glob patterns ('scenes/*.tif') or folders"),
    out: Path = typer.Option(
        ..., "--out", "-o", help="folder for the outputs: <scene>_pred.tif maps, or <scene>.gpkg objects"
    ),
    tile_size: int = typer.Option(256, help="tile size in pixels"),
    overlap: int = typer.Option(
        32,
        help="pixels shared by neighbouring tiles (blended smoothly; for detection runs, objects smaller than the "
        "overlap are taken whole from one tile, larger ones stitched from their parts)",
    ),
    batch_size: int = typer.Option(8, help="tiles per forward pass"),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N"),
    precision: str = typer.Option("32", help="32 or bf16"),
    output: str | None = typer.Option(
        None,
        help="class, probabilities, regression or embeddings (default: class for segmentation and classification "
        "runs, probabilities for multilabel_classification runs, regression for regression runs)",
    ),
    dtype: str | None = typer.Option(
        None, help="output data type, e.g. uint8 or uint16 (class), float32 or uint8 (probabilities)"
    ),
    compression: str = typer.Option("deflate", help="deflate, lzw, zstd, lerc or none"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace outputs that already exist"),
    preview: bool = typer.Option(False, "--preview", help="also write <scene>_pred.png: input RGB beside the map"),
    score_threshold: float | None = typer.Option(
        None, help="detection runs: drop objects scoring below this (default 0.3)"
    ),
    nms_iou: float | None = typer.Option(
        None, help="detection runs: overlap above which two detections of a class are one object (default 0.5)"
    ),
    vector_format: str | None = typer.Option(
        None, help="detection runs: gpkg (default; in the scene's CRS) or geojson (EPSG:4326, RFC 7946)"
    ),
) -> None:
    """Predict scenes of any size tile by tile, in bounded memory, keeping their georeference.

    Detection and instance segmentation runs write each scene's objects as polygons (layer "objects" with
    class, class_index and score), merged across overlapping tiles so that each object comes out once.
    """
    from geofm.predict import predict
    from geofm.predict.allocator import keep_freed_memory

    keep_freed_memory()  # no page faults in again on every model call between reads and writes

    written = predict(
        run,
        inputs,
        out,
        tile_size=tile_size,
        overlap=overlap,
        batch_size=batch_size,
        device=device,
        precision=precision,
        output=output,
        dtype=dtype,
        compression=compression,
        overwrite=overwrite,
        preview=preview,
        score_threshold=score_threshold,
        nms_iou=nms_iou,
        vector_format=vector_format,
    )
    for path in written:
        typer.echo(str(path))
        if preview:
            typer.echo(str(path.with_suffix(".png")))
