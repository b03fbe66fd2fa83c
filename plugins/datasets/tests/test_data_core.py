"""Tests of core geofm.data: reading, band selection, stats, transforms and metadata."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from geofm.data import (
    compute_band_stats,
    date_from_name,
    find_rasters,
    gsd_metres,
    normalize,
    random_flips,
    raster_meta,
    read_label,
    read_window,
    select_bands,
    timestamp,
    valid_mask,
)
from geofm.errors import DataError


def test_stats_match_numpy_with_nodata_excluded(tmp_path: Path, write_tif) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.normal(1000, 200, size=(3, 40, 30)).astype(np.float32) for _ in range(3)]
    arrays[0][:, :5, :5] = -9999  # nodata in all bands
    arrays[1][2, 10, 10] = -9999  # nodata in one selected band excludes the pixel in every band
    arrays[1][1, 12, 12] = -9999  # nodata in a band not selected does not matter
    arrays[2][0, 3, 3] = np.nan
    paths = [write_tif(tmp_path / f"a{i}.tif", a, nodata=-9999) for i, a in enumerate(arrays)]
    stats = compute_band_stats(paths, indexes=[3, 1], scale=2.0)
    stacked = np.concatenate([a.reshape(3, -1) for a in arrays], axis=1).astype(np.float64)
    selected = stacked[[2, 0]]
    valid = np.isfinite(selected).all(0) & (selected != -9999).all(0)
    expected = selected[:, valid] * 2.0
    np.testing.assert_allclose(stats.mean, expected.mean(1), rtol=1e-9)
    np.testing.assert_allclose(stats.std, expected.std(1), rtol=1e-9)
    assert stats.count == (valid.sum(), valid.sum())
    assert stats.num_files == 3


def test_stats_decimated_read_is_close(tmp_path: Path, write_tif) -> None:
    rng = np.random.default_rng(3)
    array = rng.normal(50, 5, size=(1, 200, 200)).astype(np.float32)
    path = write_tif(tmp_path / "big.tif", array)
    stats = compute_band_stats([path], max_pixels=2500)
    assert stats.count[0] <= 2500
    assert stats.mean[0] == pytest.approx(50, abs=0.5)
    assert stats.std[0] == pytest.approx(5, abs=0.5)


def test_stats_all_nodata_band_raises(tmp_path: Path, write_tif) -> None:
    path = write_tif(tmp_path / "empty.tif", np.zeros((1, 4, 4), np.int16), nodata=0)
    with pytest.raises(DataError, match="no valid pixel"):
        compute_band_stats([path])


def test_select_bands_by_name_and_missing_band() -> None:
    file_bands = ("B02", "B03", "B04", "B8A", "B11", "B12")
    selection = select_bands(file_bands, ["NIR_NARROW", "red", "B02"], sensor="hls_s30")
    assert selection.indexes == (4, 3, 1)
    assert selection.names == ("NIR_NARROW", "RED", "BLUE")
    assert select_bands(file_bands, None, sensor="hls_s30").indexes == (1, 2, 3, 4, 5, 6)
    with pytest.raises(DataError) as error:
        select_bands(file_bands, ["RED", "RED_EDGE_1"], sensor="hls_s30", source="dataset x")
    message = str(error.value)
    assert "RED_EDGE_1" in message and "SWIR_2" in message and "dataset x" in message


def test_read_window_and_label(tmp_path: Path, write_tif) -> None:
    from rasterio.windows import Window

    image = np.arange(2 * 8 * 8, dtype=np.int16).reshape(2, 8, 8)
    image[1, 2, 3] = -1
    path = write_tif(tmp_path / "x.tif", image, nodata=-1)
    data, valid = read_window(path, window=Window(1, 2, 4, 3), indexes=[2])
    assert data.dtype == np.float32 and data.shape == (1, 3, 4)
    np.testing.assert_array_equal(data[0], image[1, 2:5, 1:5])
    assert not valid[0, 2] and valid.sum() == 11
    with pytest.raises(DataError, match="declares 3"):
        read_window(path, expected_count=3)
    label = np.array([[0, 1], [9, 2]], np.uint8)
    label_path = write_tif(tmp_path / "y.tif", label, nodata=9)
    np.testing.assert_array_equal(read_label(label_path, ignore_index=255), [[0, 1], [255, 2]])


def test_corrupt_file_raises_data_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00 this is not a tiff")
    with pytest.raises(DataError, match=r"broken\.tif.*corrupt"):
        read_window(bad)


def test_find_rasters_folders_globs_and_missing(tmp_path: Path, write_tif) -> None:
    for name in ("a.tif", "b.TIF", "c.txt"):
        if name.endswith("txt"):
            (tmp_path / name).write_text("x")
        else:
            write_tif(tmp_path / name, np.zeros((1, 2, 2), np.uint8))
    assert [p.name for p in find_rasters(tmp_path)] == ["a.tif", "b.TIF"]
    assert [p.name for p in find_rasters(str(tmp_path / "a*"))] == ["a.tif"]
    with pytest.raises(DataError, match="does not exist"):
        find_rasters(tmp_path / "nope")


def test_normalize_writes_into_a_given_array_without_touching_the_input() -> None:
    raw = np.array([[[1000, 1300]], [[0, 500]]], np.int16)
    buffer = np.full((2, 3, 4), 7.0, np.float32)
    target = buffer[:, :1, :2]
    result = normalize(raw, (1000.0, 500.0), (300.0, 250.0), valid=np.array([[True, False]]), out=target)
    assert result is target and np.shares_memory(result, buffer)
    np.testing.assert_allclose(buffer[:, 0, :2], [[0.0, 0.0], [-2.0, 0.0]])
    assert (buffer[:, 1:] == 7.0).all() and (buffer[:, :1, 2:] == 7.0).all()  # only the view was written
    assert raw.tolist() == [[[1000, 1300]], [[0, 500]]]


@pytest.mark.parametrize(
    ("pixels", "dtype", "nodata", "expected"),
    [
        ([[[0, -9999], [7, 0]], [[5, 5], [5, 0]]], np.int16, 0.0, [[0, 1], [1, 0]]),  # GDAL gives nodata as a float
        ([[[0, -9999], [7, 0]], [[5, 5], [5, 0]]], np.int16, -9999.0, [[1, 0], [1, 1]]),
        ([[[0, 1], [65535, 2]], [[5, 5], [5, 5]]], np.uint16, 65535.0, [[1, 1], [0, 1]]),
        ([[[0, 255], [254, 1]], [[255, 255], [0, 0]]], np.uint8, 255.5, [[1, 1], [1, 1]]),  # cannot be a uint8
        ([[[0, 255], [254, 1]], [[255, 255], [0, 0]]], np.uint8, -1.0, [[1, 1], [1, 1]]),
        ([[[0, 255], [254, 1]], [[255, 255], [0, 0]]], np.uint8, None, [[1, 1], [1, 1]]),
        ([[[0, -9999], [1, np.nan]], [[5, 5], [5, 5]]], np.float32, -9999.0, [[1, 0], [1, 0]]),  # NaN too
    ],
)
def test_valid_mask_finds_nodata_in_any_pixel_type(
    pixels: list, dtype: type, nodata: float | None, expected: list
) -> None:
    image = np.array(pixels, dtype=dtype)
    np.testing.assert_array_equal(valid_mask(image, nodata), np.array(expected, bool))


def test_normalize_and_flips() -> None:
    image = np.array([[[10.0, 20.0]], [[1.0, 3.0]]], np.float32)
    valid = np.array([[True, False]])
    out = normalize(image, (10.0, 2.0), (5.0, 1.0), scale=2.0, valid=valid)
    np.testing.assert_allclose(out, [[[2.0, 0.0]], [[0.0, 0.0]]])
    with pytest.raises(DataError, match="3 means"):
        normalize(image, (1.0, 2.0, 3.0), (1.0, 1.0, 1.0))
    rng = np.random.default_rng(0)
    img = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    for _ in range(5):
        flipped, mask = random_flips(img, img[0].astype(np.int64), rng)
        np.testing.assert_array_equal(flipped[0], mask)  # image and mask flipped together


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("HLS.S30.T33UUP.2019123T101031.v2.0.B02.tif", datetime(2019, 5, 3, 10, 10, 31, tzinfo=timezone.utc)),
        ("S2A_MSIL2A_20200704T101031_N0214.tif", datetime(2020, 7, 4, 10, 10, 31, tzinfo=timezone.utc)),
        ("scene_2021-02-28_x.tif", datetime(2021, 2, 28, tzinfo=timezone.utc)),
        ("demo_003_20190105.tif", datetime(2019, 1, 5, tzinfo=timezone.utc)),
        ("tile_2018032.tif", datetime(2018, 2, 1, tzinfo=timezone.utc)),
        ("chip_123_99999999.tif", None),
        ("no_date.tif", None),
    ],
)
def test_date_from_name(name: str, expected: datetime | None) -> None:
    assert date_from_name(name) == expected


def test_meta_of_known_utm_point(tmp_path: Path, write_tif) -> None:
    # UTM 33N easting 500000 is the central meridian 15 E; northing 5538630 is about 50 N
    size = 100
    transform = Affine(30, 0, 500_000 - size * 15, 0, -30, 5_538_630 + size * 15)
    path = write_tif(
        tmp_path / "x_20200101.tif",
        np.ones((1, size, size), np.int16),
        transform=transform,
        tags={"TIFFTAG_DATETIME": "2021:06:15 10:30:00"},
    )
    meta = raster_meta(path)
    assert meta.center_latlon[0] == pytest.approx(50.0, abs=1e-3)
    assert meta.center_latlon[1] == pytest.approx(15.0, abs=1e-6)
    assert meta.gsd == pytest.approx(30.0)
    assert meta.timestamp == datetime(2021, 6, 15, 10, 30, tzinfo=timezone.utc).timestamp()  # tag beats name


def test_meta_geographic_and_unknown(tmp_path: Path, write_tif) -> None:
    from rasterio.crs import CRS

    transform = Affine(0.001, 0, 10.0, 0, -0.001, 60.5)
    assert gsd_metres(CRS.from_epsg(4326), transform, 60.0) == pytest.approx((55.6 + 111.2) / 2, rel=0.01)
    path = write_tif(tmp_path / "nocrs.tif", np.ones((1, 4, 4), np.uint8), crs=None)
    meta = raster_meta(path)
    assert math.isnan(meta.center_latlon[0]) and math.isnan(meta.gsd) and math.isnan(meta.timestamp)
    assert (
        timestamp(path, {"ACQUISITION_DATE": "2022-03-04T05:06:07Z"})
        == datetime(2022, 3, 4, 5, 6, 7, tzinfo=timezone.utc).timestamp()
    )
