"""Shared fixtures of the geofm-dofa tests: the reference fixture cases and real samples (../shared)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
SHARED = (REPO / ".." / "shared").resolve()
FIXTURES = SHARED / "fixtures" / "dofa"
REAL_SEN1FLOODS11 = SHARED / "data" / "real" / "sen1floods11"


def _fixture_case(name: str) -> tuple[dict[str, Any], Path, Path]:
    """(description json, checkpoint path, io path) of a shared fixture case; skips when absent."""
    description = FIXTURES / f"{name}.json"
    if not description.is_file():
        pytest.skip(f"shared DOFA fixtures not found at {FIXTURES}")
    data = json.loads(description.read_text())
    return data, FIXTURES / data["checkpoint"], FIXTURES / f"{name}_io.pt"


def _fixture_options(architecture: dict[str, Any]) -> dict[str, Any]:
    """``geofm.build_backbone`` keyword arguments reproducing a fixture's architecture."""
    return {
        "img_size": architecture["img_size"],
        "embed_dim": architecture["embed_dim"],
        "depth": architecture["depth"],
        "num_heads": architecture["num_heads"],
        "mlp_ratio": architecture["mlp_ratio"],
        "patch_size": architecture["patch_size"],
    }


@pytest.fixture
def fixture_case() -> Any:
    """``fixture_case(name) -> (description, checkpoint path, io path)``; skips without ../shared."""
    return _fixture_case


@pytest.fixture
def fixture_options() -> Any:
    """``fixture_options(architecture) -> build_backbone keyword arguments``."""
    return _fixture_options


@pytest.fixture
def real_sen1floods11() -> Path:
    """The real Sen1Floods11 chip folder of ../shared (S2/, S1/, Labels/); skips where it is absent."""
    if not REAL_SEN1FLOODS11.is_dir():
        pytest.skip(f"real Sen1Floods11 sample not found at {REAL_SEN1FLOODS11} (shared data absent)")
    return REAL_SEN1FLOODS11


@pytest.fixture
def full_precision() -> Any:
    """Full-precision float32 matmuls for the duration of a test (restored afterwards)."""
    import torch

    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    yield
    torch.set_float32_matmul_precision(before)
