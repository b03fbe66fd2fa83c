"""Prediction with a trained run: whole scenes, tile by tile, into georeferenced maps or vector objects.

The public surface (importing this package imports neither torch nor numpy; each name loads its module
on first use):

- :func:`predict`: every scene of a set of inputs, as ``geofm predict`` and :func:`geofm.predict` do;
  maps (GeoTIFFs) for segmentation, regression and classification runs, objects (GeoPackage or GeoJSON)
  for detection and instance segmentation runs.
- :func:`predict_scene`: the map of one scene whose bands are matched, with a loaded run.
- :class:`PredictOptions`: how scenes are tiled, run and written.
- :func:`load_run` / :class:`LoadedRun`: a run's model rebuilt from its directory, ready to predict.
- :class:`CallSchedule`: how the work of a scene is spread over threads; pass one as ``schedule`` to
  :func:`predict` (or :class:`PredictOptions`) to run with it instead of the one chosen for the device.

Public modules, building blocks that callers and tests use on their own: :mod:`geofm.predict.tiling`
(tile grid, blending window, the one-stripe accumulator), :mod:`geofm.predict.scene` (matching a scene's
bands, its batch metadata, reading normalised tiles), :mod:`geofm.predict.schedule` (the call schedule
and torch's threads) and :mod:`geofm.predict.allocator` (glibc's allocator settings ``geofm predict``
applies). Modules whose names start with ``_`` are private: the entry point (``_predict``), maps
(``_maps``, ``_outputs``, ``_preview``), objects (``_objects``, ``_objects_merge``, ``_objects_write``),
what both share (``_setup``, ``_options``) and loading a run (``_run``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geofm.lazy import lazy_exports

if TYPE_CHECKING:
    from geofm.predict._maps import predict_scene
    from geofm.predict._options import PredictOptions
    from geofm.predict._predict import predict
    from geofm.predict._run import LoadedRun, load_run
    from geofm.predict.schedule import CallSchedule

__all__ = ["CallSchedule", "LoadedRun", "PredictOptions", "load_run", "predict", "predict_scene"]

_SOURCES = {
    "CallSchedule": "geofm.predict.schedule",
    "LoadedRun": "geofm.predict._run",
    "PredictOptions": "geofm.predict._options",
    "load_run": "geofm.predict._run",
    "predict": "geofm.predict._predict",
    "predict_scene": "geofm.predict._maps",
}


__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
