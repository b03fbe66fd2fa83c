"""Image classification datasets (one class or a multi-hot target per image) read from GeoTIFFs.

Importing the package is light; ``specs`` is metadata only, the other modules import torch and rasterio.
"""
