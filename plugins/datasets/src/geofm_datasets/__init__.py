"""geofm-datasets: segmentation, classification and regression datasets for geofm, generated and on disk.

Grouped by task (``segmentation``, ``classification``, ``regression``: dataset, data module, layouts,
specs and generic factory each), ``named`` for the public datasets in their publishers' layouts, and the
shared pieces at the top (base dataset and data module, options, splits, generated demo data).
Importing the package is light; the data modules (torch, Lightning, rasterio) are imported from their
own modules, which the dataset factories name.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
