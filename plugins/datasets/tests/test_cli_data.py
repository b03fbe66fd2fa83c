"""``geofm data stats`` (the CLI module of the data engineer; skipped when the CLI is not importable)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

cli_data = pytest.importorskip("geofm_cli.data")
from typer.testing import CliRunner  # noqa: E402


def test_stats_json_by_band_name(tmp_path: Path, write_tif) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(1, 100, (3, 10, 10)).astype(np.int16) for _ in range(2)]
    arrays[0][:, 0, :] = -1
    for i, a in enumerate(arrays):
        write_tif(tmp_path / f"x{i}.tif", a, nodata=-1, descriptions=("B02", "B03", "B04"))
    result = CliRunner().invoke(cli_data.app, ["stats", str(tmp_path), "--bands", "RED,B02", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    stacked = np.concatenate([a.reshape(3, -1) for a in arrays], 1).astype(float)
    valid = (stacked != -1).all(0)
    assert doc["bands"] == ["RED", "BLUE"]
    np.testing.assert_allclose(doc["mean"], stacked[[2, 0]][:, valid].mean(1))
    np.testing.assert_allclose(doc["std"], stacked[[2, 0]][:, valid].std(1))


def test_stats_table_by_index_with_nodata(tmp_path: Path, write_tif) -> None:
    write_tif(tmp_path / "a.tif", np.array([[[0, 2], [4, 6]]], np.float32))
    result = CliRunner().invoke(cli_data.app, ["stats", str(tmp_path / "*.tif"), "--bands", "1", "--nodata", "0"])
    assert result.exit_code == 0, result.output
    assert "mean=4.0000" in result.output and "std=1.6330" in result.output
