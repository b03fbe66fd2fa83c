import pytest

from geofm.bands import canonical_band, canonical_bands, match_bands, wavelength
from geofm.errors import DataError


@pytest.mark.parametrize(
    ("name", "sensor", "expected"),
    [
        ("B8A", None, "NIR_NARROW"),
        ("B08", None, "NIR_BROAD"),
        ("b02", None, "BLUE"),
        ("B05", "hls_l30", "NIR_NARROW"),
        ("B05", None, "RED_EDGE_1"),
        ("l30:B06", None, "SWIR_1"),
        ("swir16", None, "SWIR_1"),
        ("nir08", None, "NIR_NARROW"),
        ("VV", "sentinel1", "VV"),
        ("red", None, "RED"),
    ],
)
def test_canonical_names(name, sensor, expected):
    assert canonical_band(name, sensor) == expected


def test_unknown_band_names_close_matches():
    with pytest.raises(DataError, match=r"B8A|B8"):
        canonical_band("B8B")


def test_duplicates_rejected():
    with pytest.raises(DataError, match="BLUE"):
        canonical_bands(["B2", "BLUE"])


def test_wavelength_and_matching():
    assert wavelength("B4") == pytest.approx(0.665)
    assert match_bands(["RED", "VV"], ["BLUE", "RED"]) == [1, None]
