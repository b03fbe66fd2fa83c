"""Shared fixtures of the cross-distribution tests."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

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


@contextmanager
def _plugin_from_source(folder: Path, module_name: str, source: str) -> Iterator[ModuleType]:
    (folder / f"{module_name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    sys.path.insert(0, str(folder))
    try:
        from geofm.testing import isolated_plugins

        module = importlib.import_module(module_name)
        with isolated_plugins(module):
            yield module
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(module_name, None)


@pytest.fixture(scope="session")
def plugin_from_source():
    """``plugin_from_source(folder, module_name, source)``: within the block, the registry holds the
    installed plugins plus the plugin module written from ``source`` into ``folder`` (yielded)."""
    return _plugin_from_source
