"""Hook implementations of ``geofm-datasets``: the segmentation, classification and regression datasets.

Specs only: each task's specs live beside its code (``<task>/specs.py``, ``named/specs.py``) and name
their factories lazily (``"module:attr"``), so listings never import torch or rasterio.
"""

from __future__ import annotations

from collections.abc import Iterable

from geofm.hookspecs import hookimpl
from geofm.specs import DatasetSpec
from geofm_datasets.classification.specs import CLASSIFICATION_SPECS
from geofm_datasets.named.specs import BIGEARTHNET_SPEC, NAMED_SEGMENTATION_SPECS
from geofm_datasets.regression.specs import REGRESSION_SPECS
from geofm_datasets.segmentation.specs import SEGMENTATION_SPECS

__all__ = ["geofm_datasets"]


@hookimpl
def geofm_datasets() -> Iterable[DatasetSpec]:
    """The generated demos, the generic GeoTIFF datasets and the named public datasets."""
    return [*SEGMENTATION_SPECS, *REGRESSION_SPECS, BIGEARTHNET_SPEC, *CLASSIFICATION_SPECS, *NAMED_SEGMENTATION_SPECS]
