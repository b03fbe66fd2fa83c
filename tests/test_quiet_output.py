"""What a user sees: a run prints geofm's own lines only, and the packages install without deprecations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
PYPROJECTS = [REPO / "pyproject.toml", *sorted(REPO.glob("plugins/*/pyproject.toml"))]
GEOFM_LINES = ("INFO geofm", "WARNING geofm", "warning: TRAINING FROM RANDOM INITIALISATION")
"""How geofm's own lines start: its loggers, and the random-initialisation warning."""


@pytest.mark.slow
def test_a_tiny_demo_run_prints_only_geofm_lines(cli, tmp_path: Path) -> None:
    from geofm_datasets.demo import generate_demo

    root = generate_demo(tmp_path / "demo", num_scenes=12, size=64)
    result = cli(
        "run", "--backbone", "prithvi_eo_v2_tiny_tl", "--max-epochs", "1", "--out", str(tmp_path / "runs"),
        "--data-root", str(root), "--set", "dataset.num_scenes=12", "--set", "dataset.size=64",
        "--set", "trainer.limit_train_batches=2", "--set", "trainer.progress_bar=false",
        env={"GEOFM_CACHE": str(tmp_path / "cache"), "HF_HOME": str(tmp_path / "hf")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    foreign = [line for line in lines if not line.startswith(GEOFM_LINES) or "site-packages" in line]
    assert foreign == [], foreign
    # the hub is unreachable here (or offline): one message, no retry log
    assert sum("RANDOM INITIALISATION" in line for line in lines) <= 2
    assert len(result.stdout.splitlines()) + len(lines) < 30, result.stdout + result.stderr


@pytest.mark.parametrize("path", PYPROJECTS, ids=lambda p: p.parent.name)
def test_licence_metadata_is_an_spdx_expression(path: Path) -> None:
    project = tomllib.loads(path.read_text())["project"]
    assert isinstance(project["license"], str), f'{path}: use license = "<SPDX expression>" (PEP 639)'
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))
