"""``geofm data``: commands about raster data (per-band statistics, downloading named datasets)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(
    help="Raster data: per-band mean and std for normalisation, downloading named datasets.", no_args_is_help=True
)


@app.callback()
def data() -> None:
    """Raster data: per-band mean and std for normalisation, downloading named datasets."""


def _band_indexes(
    bands: str | None, file_bands: str | None, sensor: str | None, first_file: Path
) -> tuple[list[int] | None, list[str]]:
    """1-based band indexes and display names for ``--bands`` (indexes or names) over the first file."""
    from geofm.data import raster_info, select_bands
    from geofm.errors import DataError

    info = raster_info(first_file)
    if file_bands:
        names = [b.strip() for b in file_bands.split(",") if b.strip()]
        if len(names) != info.count:
            raise DataError(f"--file-bands names {len(names)} bands but {first_file} has {info.count}")
    else:
        names = [d or f"band_{i + 1}" for i, d in enumerate(info.descriptions)]
    if not bands:
        return None, names
    wanted = [b.strip() for b in bands.split(",") if b.strip()]
    if all(w.isdigit() for w in wanted):
        indexes = [int(w) for w in wanted]
        bad = [i for i in indexes if not 1 <= i <= info.count]
        if bad:
            raise DataError(f"band index(es) {bad} out of range: {first_file} has bands 1..{info.count}")
        return indexes, [names[i - 1] for i in indexes]
    if not file_bands and any(d is None for d in info.descriptions):
        raise DataError(
            f"the bands of {first_file} are not named; give --file-bands (names in file order) to select by "
            "name, or select by 1-based index, e.g. --bands 1,2,3"
        )
    selection = select_bands(names, wanted, sensor=sensor, source=str(first_file))
    return list(selection.indexes), list(selection.names)


@app.command("stats")
def stats(
    paths: list[str] = typer.Argument(..., help="GeoTIFF files, folders of them, or globs ('data/*.tif')."),
    bands: str | None = typer.Option(
        None, "--bands", help="Bands to use: 1-based indexes (1,2,3) or names (B02,B03 or BLUE,GREEN)."
    ),
    file_bands: str | None = typer.Option(
        None, "--file-bands", help="Band names of the files in file order (default: the band descriptions)."
    ),
    sensor: str | None = typer.Option(None, "--sensor", help="Sensor for band codes such as B05 (e.g. hls_l30)."),
    nodata: float | None = typer.Option(None, "--nodata", help="Value meaning no data (default: each file's own)."),
    scale: float = typer.Option(1.0, "--scale", help="Multiply values by this before the statistics."),
    max_files: int = typer.Option(256, "--max-files", help="Use at most this many files (a seeded random sample)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Per-band mean and std (nodata excluded), e.g. for --set data.mean=... / data.std=..."""
    from geofm.data import compute_band_stats, find_rasters

    files = find_rasters(paths)
    indexes, names = _band_indexes(bands, file_bands, sensor, files[0])
    result = compute_band_stats(files, indexes=indexes, nodata=nodata, scale=scale, max_files=max_files)
    if as_json:
        typer.echo(json.dumps({"bands": names, **result.to_dict()}, indent=2))
        return
    typer.echo(f"{result.num_files} file(s) of {len(files)}")
    width = max(len("band"), *(len(n) for n in names))
    typer.echo(f"{'band':<{width}}  {'mean':>12}  {'std':>12}  {'pixels':>12}")
    for name, mean, std, count in zip(names, result.mean, result.std, result.count, strict=True):
        typer.echo(f"{name:<{width}}  {mean:>12.4f}  {std:>12.4f}  {count:>12d}")
    typer.echo("mean=" + ",".join(f"{m:.4f}" for m in result.mean))
    typer.echo("std=" + ",".join(f"{s:.4f}" for s in result.std))


@app.command("download")
def download(
    name: str = typer.Argument(..., help="Dataset name (geofm datasets list)."),
    data_root: str | None = typer.Option(
        None, "--data-root", help="Folder to put it in (default: $GEOFM_CACHE/datasets/NAME, ~/.cache/geofm/...)."
    ),
    extract: bool = typer.Option(True, "--extract/--no-extract", help="Unpack .tar.gz / .zip archives it ships."),
) -> None:
    """Download a named dataset from its Hugging Face dataset repository (where the publisher offers one)."""
    from geofm.data.download import download_dataset
    from geofm.registry import get_registry

    spec = get_registry("datasets").get(name)
    root = download_dataset(spec, data_root, extract=extract)
    typer.echo(f"dataset {spec.name} is in {root}")
    hint = "" if data_root is None else f" --data-root {root}"
    typer.echo(f"use it with: geofm run --dataset {spec.name}{hint}")
