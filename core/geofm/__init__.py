"""geofm: fine-tune geospatial foundation models through plugins.

Importing ``geofm`` is light (no torch); the functions that build models import it when called.
"""

from __future__ import annotations

from geofm.api import build_backbone, build_model, evaluate, get_spec, list_components, predict, run
from geofm.errors import GeofmError
from geofm.hookspecs import hookimpl
from geofm.specs import BackboneSpec, DatasetSpec, DecoderSpec, NeckSpec, TaskSpec, WeightsSpec

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
]
