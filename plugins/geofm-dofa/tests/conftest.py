"""Shared fixtures of the geofm-dofa tests: the reference fixture cases and real samples (../shared)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from geofm.testing.reference_fixtures import ReferenceFixtures, architecture_options

REPO = Path(__file__).resolve().parents[3]
SHARED = (REPO / ".." / "shared").resolve()
FIXTURES = SHARED / "fixtures" / "dofa"
REAL_SEN1FLOODS11 = SHARED / "data" / "real" / "sen1floods11"


ARCHITECTURE = ("img_size", "embed_dim", "depth", "num_heads", "mlp_ratio", "patch_size")
"""The architecture entries of a fixture case that are ``geofm.build_backbone`` options as they are."""


@pytest.fixture
def reference() -> ReferenceFixtures:
    """The DOFA fixture cases (skipped without ../shared); ``options`` gives build_backbone's keywords."""
    return ReferenceFixtures(FIXTURES, "DOFA", lambda description: architecture_options(description, ARCHITECTURE))


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
