"""``bench/data_loader.py`` runs end to end at a tiny size and reports what it promises (no timing asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "data_loader.py"


def test_tiny_bench_prints_its_report(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_data_loader", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--tiny", "--workers", "0"])
    report = json.loads(capsys.readouterr().out)
    assert report["benchmark"] == "data_loader" and report["files"] == 8 and report["target_ratio"] == 0.8
    for key in ("raw_rasterio", "pipeline", "pipeline_cached"):
        assert report[key]["samples"] == 8 and report[key]["samples_per_s"] > 0
    assert report["ratio"] == pytest.approx(
        report["pipeline"]["samples_per_s"] / report["raw_rasterio"]["samples_per_s"], rel=0.01
    )
