"""BigEarthNet v1.0 facts, light enough for the plugin's specs: bands, the two class nomenclatures, statistics.

The 43 CORINE Land Cover level-3 classes are in the order of ``original_labels`` of the publisher's
``label_indices.json`` (git.tu-berlin.de/rsim/BigEarthNet-S2_19-classes_models); the 19 classes and the
43 -> 19 conversion are its ``BigEarthNet-19_labels`` and ``label_conversion`` (Sumbul et al., 2021).
Eleven classes have no 19-class counterpart and are dropped from 19-class targets.
The per-band mean and std of the L2A digital numbers are those of the publisher's models
(git.tu-berlin.de/rsim/bigearthnet-models-tf, ``BigEarthNet.py``).
"""

from __future__ import annotations

__all__ = [
    "BANDS",
    "BAND_MEAN",
    "BAND_STD",
    "CLASSES_19",
    "CLASSES_43",
    "NATIVE_GSD",
    "TO_19",
    "class_names",
]

BANDS: tuple[str, ...] = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
"""The twelve Sentinel-2 L2A bands of a patch, in the publisher's order (B10, cirrus, is not delivered)."""

NATIVE_GSD: dict[str, float] = {
    **dict.fromkeys(("B02", "B03", "B04", "B08"), 10.0),
    **dict.fromkeys(("B05", "B06", "B07", "B8A", "B11", "B12"), 20.0),
    **dict.fromkeys(("B01", "B09"), 60.0),
}
"""Metres per pixel of each band file: 120x120 (10 m), 60x60 (20 m) and 20x20 (60 m) pixels per patch."""

BAND_MEAN: dict[str, float] = {
    "B01": 340.76769064,
    "B02": 429.9430203,
    "B03": 614.21682446,
    "B04": 590.23569706,
    "B05": 950.68368468,
    "B06": 1792.46290469,
    "B07": 2075.46795189,
    "B08": 2218.94553375,
    "B8A": 2266.46036911,
    "B09": 2246.0605464,
    "B11": 1594.42694882,
    "B12": 1009.32729131,
}
"""Per-band mean of the L2A digital numbers over the archive (publisher's figures)."""

BAND_STD: dict[str, float] = {
    "B01": 554.81258967,
    "B02": 572.41639287,
    "B03": 582.87945694,
    "B04": 675.88746967,
    "B05": 729.89827633,
    "B06": 1096.01480586,
    "B07": 1273.45393088,
    "B08": 1365.45589904,
    "B8A": 1356.13789355,
    "B09": 1302.3292881,
    "B11": 1079.19066363,
    "B12": 818.86747235,
}
"""Per-band standard deviation of the L2A digital numbers over the archive (publisher's figures)."""

_AGRI_NATURAL = "Land principally occupied by agriculture, with significant areas of natural vegetation"
_IN_BOTH = (
    "Complex cultivation patterns",
    _AGRI_NATURAL,
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
)
"""Six classes that stand, in this order, in both nomenclatures."""

CLASSES_43: tuple[str, ...] = (
    "Continuous urban fabric",
    "Discontinuous urban fabric",
    "Industrial or commercial units",
    "Road and rail networks and associated land",
    "Port areas",
    "Airports",
    "Mineral extraction sites",
    "Dump sites",
    "Construction sites",
    "Green urban areas",
    "Sport and leisure facilities",
    "Non-irrigated arable land",
    "Permanently irrigated land",
    "Rice fields",
    "Vineyards",
    "Fruit trees and berry plantations",
    "Olive groves",
    "Pastures",
    "Annual crops associated with permanent crops",
    *_IN_BOTH,
    "Natural grassland",
    "Moors and heathland",
    "Sclerophyllous vegetation",
    "Transitional woodland/shrub",
    "Beaches, dunes, sands",
    "Bare rock",
    "Sparsely vegetated areas",
    "Burnt areas",
    "Inland marshes",
    "Peatbogs",
    "Salt marshes",
    "Salines",
    "Intertidal flats",
    "Water courses",
    "Water bodies",
    "Coastal lagoons",
    "Estuaries",
    "Sea and ocean",
)
"""The 43 CORINE classes of the labels json files, in the publisher's index order."""

CLASSES_19: tuple[str, ...] = (
    "Urban fabric",
    "Industrial or commercial units",
    "Arable land",
    "Permanent crops",
    "Pastures",
    *_IN_BOTH,
    "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub",
    "Beaches, dunes, sands",
    "Inland wetlands",
    "Coastal wetlands",
    "Inland waters",
    "Marine waters",
)
"""The 19-class nomenclature (Sumbul et al., 2021), in the publisher's index order."""

_GROUPS_19: tuple[tuple[str, ...], ...] = (
    ("Continuous urban fabric", "Discontinuous urban fabric"),
    ("Industrial or commercial units",),
    ("Non-irrigated arable land", "Permanently irrigated land", "Rice fields"),
    ("Vineyards", "Fruit trees and berry plantations", "Olive groves", "Annual crops associated with permanent crops"),
    ("Pastures",),
    ("Complex cultivation patterns",),
    (_AGRI_NATURAL,),
    ("Agro-forestry areas",),
    ("Broad-leaved forest",),
    ("Coniferous forest",),
    ("Mixed forest",),
    ("Natural grassland", "Sparsely vegetated areas"),
    ("Moors and heathland", "Sclerophyllous vegetation"),
    ("Transitional woodland/shrub",),
    ("Beaches, dunes, sands",),
    ("Inland marshes", "Peatbogs"),
    ("Salt marshes", "Salines"),
    ("Water courses", "Water bodies"),
    ("Coastal lagoons", "Estuaries", "Sea and ocean"),
)

TO_19: dict[str, str | None] = {
    **dict.fromkeys(CLASSES_43),
    **{old: new for new, olds in zip(CLASSES_19, _GROUPS_19, strict=True) for old in olds},
}
"""43-class name -> 19-class name, ``None`` for the eleven classes the 19-class nomenclature drops."""


def class_names(nomenclature: int) -> tuple[str, ...]:
    """The class names of the 19- or 43-class nomenclature."""
    if nomenclature == 19:
        return CLASSES_19
    if nomenclature == 43:
        return CLASSES_43
    raise ValueError(f"BigEarthNet has a 19-class and a 43-class nomenclature, not {nomenclature}")
