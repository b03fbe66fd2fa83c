"""Shared fixtures of the geofm-prithvi tests: the reference fixture cases (from ../shared) and their options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / ".." / "shared" / "fixtures" / "prithvi"


def _fixture_case(name: str) -> tuple[dict[str, Any], Path, Path]:
    """(description json, checkpoint path, io path) of a shared fixture case; skips when absent."""
    description = FIXTURES / f"{name}.json"
    if not description.is_file():
        pytest.skip(f"shared Prithvi fixtures not found at {FIXTURES.resolve()}")
    return json.loads(description.read_text()), FIXTURES / f"{name}.pt", FIXTURES / f"{name}_io.pt"


def _fixture_options(architecture: dict[str, Any]) -> dict[str, Any]:
    """build_prithvi keyword arguments reproducing a fixture's architecture."""
    return {
        "img_size": architecture["img_size"],
        "num_frames": architecture["num_frames"],
        "patch_size": tuple(architecture["patch_size"]),
        "embed_dim": architecture["embed_dim"],
        "depth": architecture["depth"],
        "num_heads": architecture["num_heads"],
        "mlp_ratio": architecture["mlp_ratio"],
        "coords_encoding": tuple(architecture["coords_encoding"]),
        "coords_scale_learn": architecture["coords_scale_learn"],
    }


@pytest.fixture
def fixture_case() -> Any:
    """``fixture_case(name) -> (description, checkpoint path, io path)``; skips without ../shared."""
    return _fixture_case


@pytest.fixture
def fixture_options() -> Any:
    """``fixture_options(architecture) -> build_prithvi keyword arguments``."""
    return _fixture_options
