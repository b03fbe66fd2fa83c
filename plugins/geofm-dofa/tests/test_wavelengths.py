"""The band -> wavelength table: the reference's exact numbers for every sensor geofm's vocabulary knows."""

from __future__ import annotations

import pytest

from geofm.bands import BANDS
from geofm.errors import DataError
from geofm_dofa.wavelengths import (
    CANONICAL_WAVELENGTHS,
    REFERENCE_WAVELENGTHS,
    SAR_WAVELENGTH,
    dofa_wavelength,
    dofa_wavelengths,
)

S2_13 = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
S2_13_UM = (0.44, 0.49, 0.56, 0.665, 0.705, 0.74, 0.783, 0.832, 0.864, 0.945, 1.373, 1.61, 2.20)
HLS6_UM = (0.49, 0.56, 0.665, 0.864, 1.61, 2.20)


def test_sentinel2_codes_give_the_reference_numbers() -> None:
    assert dofa_wavelengths(S2_13) == S2_13_UM
    assert dofa_wavelengths(("B01", "B02", "b8a", "B09")) == (0.44, 0.49, 0.864, 0.945)


@pytest.mark.parametrize(
    "bands",
    [
        ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"),
        ("B02", "B03", "B04", "B8A", "B11", "B12"),  # HLS S30 codes
        ("l30:B02", "l30:B03", "l30:B04", "l30:B05", "l30:B06", "l30:B07"),  # HLS L30 / Landsat 8-9 codes
        ("blue", "green", "red", "nir08", "swir16", "swir22"),  # STAC common names
    ],
)
def test_hls_bands_any_spelling(bands: tuple[str, ...]) -> None:
    assert dofa_wavelengths(bands) == HLS6_UM


def test_landsat_and_sentinel1() -> None:
    assert dofa_wavelengths(("B10", "B11"), sensor="landsat8") == (10.90, 12.00)
    assert dofa_wavelengths(("B1", "B4", "B7"), sensor="landsat7") == (0.49, 0.832, 2.20)
    assert dofa_wavelengths(("VV", "VH")) == (SAR_WAVELENGTH, SAR_WAVELENGTH) == (5.405, 5.405)
    assert dofa_wavelengths(("HH", "HV")) == (5.405, 5.405)


def test_reference_names_and_prefixes() -> None:
    assert dofa_wavelength("THERMAL_INFRARED_12") == 12.00
    assert dofa_wavelength("S1GRD.VV-VH") == dofa_wavelength("ASC_VH") == 5.405
    assert dofa_wavelength("HLS.NIR_NARROW") == 0.864
    assert dofa_wavelength("S2.B8A") == 0.864


def test_every_band_of_geofm_vocabulary_has_a_wavelength() -> None:
    assert set(CANONICAL_WAVELENGTHS) == set(BANDS)
    for name in BANDS:
        assert dofa_wavelength(name) == CANONICAL_WAVELENGTHS[name] > 0
    # where the reference has a number for a band, it is the reference's (not geofm's vocabulary's)
    shared = set(REFERENCE_WAVELENGTHS) & set(CANONICAL_WAVELENGTHS)
    assert shared >= {"COASTAL_AEROSOL", "NIR_NARROW", "CIRRUS", "SWIR_2", "VV", "VH"}
    assert all(CANONICAL_WAVELENGTHS[b] == REFERENCE_WAVELENGTHS[b] for b in shared)


def test_unknown_band_is_an_error_that_says_what_to_do() -> None:
    with pytest.raises(DataError, match=r"no wavelength for band 'BLU'.*BLUE.*backbone\.wavelengths"):
        dofa_wavelength("BLU")
