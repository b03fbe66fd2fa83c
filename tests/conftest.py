"""Shared fixtures of the cross-distribution tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``geofm ARGS`` in a fresh interpreter (as a user would) and capture its output."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "geofm_cli.app", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="session")
def cli():
    """:func:`run_cli`: run the ``geofm`` command in a subprocess."""
    return run_cli


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` beside the repository; tests that need it skip where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (it holds fixtures and real samples; present in CI)")
    return SHARED
