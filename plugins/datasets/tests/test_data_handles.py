"""Open-file reuse (``RasterHandles``) and the in-place ``normalize``: same results, fewer opens, fork-safe."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from rasterio.windows import Window

from geofm.data import RasterHandles, normalize, read_label, read_window
from geofm.errors import DataError


@pytest.fixture
def tiles(tmp_path: Path, write_tif) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        image = rng.integers(1, 1000, (2, 8, 8)).astype(np.int16)
        image[:, 0, 0] = -1
        paths.append(write_tif(tmp_path / f"t{i}.tif", image, nodata=-1))
    return paths


def test_reads_with_handles_equal_reads_without(tiles: list[Path], tmp_path: Path, write_tif) -> None:
    handles = RasterHandles()
    for path in tiles * 2:
        for window in (None, Window(1, 2, 4, 3)):
            plain = read_window(path, window=window, indexes=[2, 1])
            kept = read_window(path, window=window, indexes=[2, 1], handles=handles)
            np.testing.assert_array_equal(plain[0], kept[0])
            np.testing.assert_array_equal(plain[1], kept[1])
    label = write_tif(tmp_path / "label.tif", np.array([[0, 1], [255, 2]], np.uint8), nodata=255)
    np.testing.assert_array_equal(read_label(label, ignore_index=9, handles=handles), [[0, 1], [9, 2]])
    assert len(handles) == 4
    with pytest.raises(DataError, match="does not exist"):
        read_window(tmp_path / "missing.tif", handles=handles)


def test_handles_are_reused_and_the_least_recent_closed(tiles: list[Path]) -> None:
    handles = RasterHandles(max_open=2)
    first = handles.reader(tiles[0])
    assert handles.reader(tiles[0]) is first
    handles.reader(tiles[1])
    handles.reader(tiles[0])  # now tiles[1] is the least recently used
    handles.reader(tiles[2])
    assert len(handles) == 2 and not first.closed
    second = handles.reader(tiles[1])
    assert first.closed and not second.closed
    handles.close()
    assert second.closed and len(handles) == 0


def test_handles_are_not_shared_across_processes_or_pickled(tiles: list[Path], monkeypatch) -> None:
    handles = RasterHandles()
    parent = handles.reader(tiles[0])
    copy = pickle.loads(pickle.dumps(handles))
    assert len(copy) == 0 and copy.max_open == handles.max_open
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as in a forked DataLoader worker
    assert len(handles) == 0
    child = handles.reader(tiles[0])
    assert child is not parent and not parent.closed


def test_normalize_in_place_matches_the_formula_and_leaves_the_input() -> None:
    rng = np.random.default_rng(1)
    image = rng.normal(100, 20, (3, 5, 6)).astype(np.float32)
    image[1, 2, 3] = np.nan
    before = image.copy()
    valid = np.isfinite(image).all(axis=0)
    mean, std = (10.0, 20.0, 30.0), (2.0, 3.0, 4.0)
    out = normalize(image, mean, std, scale=1.5, valid=valid)
    expected = (image * np.float32(1.5) - np.float32(mean).reshape(3, 1, 1)) / np.float32(std).reshape(3, 1, 1)
    expected[:, ~valid] = 0
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(image, before)  # NaN compares equal in assert_array_equal
    integers = rng.integers(0, 1000, (2, 1, 4, 4)).astype(np.int16)  # (C, T, H, W)
    np.testing.assert_array_equal(
        normalize(integers, (1.0, 2.0), (2.0, 4.0)),
        (integers.astype(np.float32) - np.float32([1, 2]).reshape(2, 1, 1, 1)) / np.float32([2, 4]).reshape(2, 1, 1, 1),
    )
