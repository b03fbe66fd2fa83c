"""geofm: fine-tune geospatial foundation models through plugins.

Importing ``geofm`` is light (no torch); the functions that build models import it when called.
"""

from __future__ import annotations

import importlib as _importlib

# the packages geofm.tune and geofm.predict are loaded before the functions geofm.tune and geofm.predict are
# bound, so that importing one of their modules later (from geofm.tune.space import ...) cannot replace the
# function with the package
_importlib.import_module("geofm.tune")
_importlib.import_module("geofm.predict")

from geofm.api import (  # noqa: E402
    build_backbone,
    build_model,
    evaluate,
    get_spec,
    list_components,
    predict,
    run,
    tune,
    tune_repeat,
)
from geofm.errors import GeofmError  # noqa: E402
from geofm.hookspecs import hookimpl  # noqa: E402
from geofm.specs import BackboneSpec, DatasetSpec, DecoderSpec, NeckSpec, TaskSpec, WeightsSpec  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "BackboneSpec",
    "DatasetSpec",
    "DecoderSpec",
    "GeofmError",
    "NeckSpec",
    "TaskSpec",
    "WeightsSpec",
    "__version__",
    "build_backbone",
    "build_model",
    "evaluate",
    "get_spec",
    "hookimpl",
    "list_components",
    "predict",
    "run",
    "tune",
    "tune_repeat",
]
