"""Segmentation datasets read from GeoTIFFs: samples, windows, the data module and the generic factory.

Importing the package is light; ``specs`` is metadata only, the other modules import torch and rasterio.
"""
