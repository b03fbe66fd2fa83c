"""The ``demo`` dataset: generated land-cover GeoTIFFs, deterministic, cached after the first run.

Scenes (:mod:`geofm_datasets.scenes`) are written as int16 reflectance x 10000 GeoTIFFs in the six HLS
bands (nodata -9999) with uint8 label GeoTIFFs (255 = nodata), in EPSG:32633 with a 30 m transform at
different places and dates (in the tags and the file names). The files go to a temporary folder that
is renamed into place, with a version marker written last, so an interrupted or concurrent generation
never leaves a half-written cache and a changed generator regenerates (:mod:`geofm_datasets.generated`).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from geofm.data.download import dataset_dir
from geofm.data.factory import DatasetOptions
from geofm_datasets.generated import SceneGenerator, build_generated, write_band, write_scene_image
from geofm_datasets.options import takes_keywords_of
from geofm_datasets.scenes import CLASSES, LABEL_NODATA, add_nodata, make_scene
from geofm_datasets.segmentation.specs import DEMO_SPEC

__all__ = ["DEMO_VERSION", "build_demo", "demo_root", "generate_demo"]

DEMO_VERSION = "1"
"""Bump when the generator changes: caches with another version are regenerated."""

DEMO_SEED = 20240501
MARKER = ".geofm-demo.json"


def demo_root(data_root: str | Path | None = None) -> Path:
    """Where the demo lives: ``data_root``, else ``$GEOFM_CACHE/datasets/demo`` (``~/.cache/geofm/...``)."""
    return dataset_dir(DEMO_SPEC, data_root)


def _write_scene(folder: Path, index: int, rng: np.random.Generator, size: int) -> str:
    image, labels = make_scene(rng, size)
    add_nodata(rng, index, image, labels)
    when = datetime(2019, 1, 1, 10, tzinfo=timezone.utc) + timedelta(
        days=int(rng.integers(0, 4 * 365)), seconds=int(rng.integers(0, 3600))
    )
    tags = {"TIFFTAG_DATETIME": f"{when:%Y:%m:%d %H:%M:%S}", "SENSOR": "synthetic HLS S30"}
    scene_id, profile = write_scene_image(folder, "demo", index, image, rng, when, **tags)
    write_band(
        folder / "labels" / f"{scene_id}_mask.tif", labels, profile, nodata=LABEL_NODATA, CLASSES=",".join(CLASSES)
    )
    return scene_id


generate_demo = SceneGenerator(
    "geofm demo", MARKER, DEMO_SEED, ("images", "labels"), _write_scene, DEMO_SPEC, DEMO_VERSION
).generate
"""Generate the demo dataset under ``data_root`` (see :func:`demo_root`) unless it is current; return it."""


@takes_keywords_of(build_generated)
def build_demo(common: DatasetOptions, /, **options: Any) -> Any:
    """The demo's data module (generating the files first when they are missing or stale).

    ``mean``/``std`` default to the statistics of the training scenes saved at generation. See the
    ``demo`` spec's options and :func:`~geofm_datasets.generated.build_generated` for each keyword.
    """
    from geofm_datasets.segmentation.generic import build_geotiff_segmentation

    labels = {
        "labels": "labels",
        "label_suffix": "_mask",
        "label_nodata": LABEL_NODATA,
        "classes": DEMO_SPEC.classes,
        "ignore_index": DEMO_SPEC.ignore_index if DEMO_SPEC.ignore_index is not None else LABEL_NODATA,
    }
    return build_generated(generate_demo, build_geotiff_segmentation, labels, common, **options)
