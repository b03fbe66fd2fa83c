"""Named public datasets in their publishers' layouts (Sen1Floods11, HLS burn scars, multi-temporal crop, BigEarthNet).

Importing the package is light; ``specs`` and ``bigearthnet_classes`` are metadata only.
"""
