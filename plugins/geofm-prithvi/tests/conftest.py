"""Shared fixtures of the geofm-prithvi tests: the reference fixture cases (from ../shared) and their options."""

from __future__ import annotations

from pathlib import Path

import pytest

from geofm.testing.reference_fixtures import ReferenceFixtures, architecture_options

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / ".." / "shared" / "fixtures" / "prithvi"


ARCHITECTURE = (
    "img_size",
    "num_frames",
    "embed_dim",
    "depth",
    "num_heads",
    "patch_size",
    "mlp_ratio",
    "coords_encoding",
    "coords_scale_learn",
)
"""The architecture entries of a fixture case that are factory options as they are."""


@pytest.fixture
def reference() -> ReferenceFixtures:
    """The Prithvi fixture cases (skipped without ../shared); ``options`` gives the factory's keywords."""
    return ReferenceFixtures(FIXTURES, "Prithvi", lambda description: architecture_options(description, ARCHITECTURE))
