"""Pixel-wise regression datasets: image and float target GeoTIFFs read through windows.

Importing the package is light; ``specs`` is metadata only, the other modules import torch and rasterio.
"""
