"""geofm-datasets: the generated ``demo`` dataset and generic GeoTIFF segmentation data for geofm.

Importing the package is light; the data modules (torch, Lightning, rasterio) are imported from
their own modules, which the dataset factories name.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
