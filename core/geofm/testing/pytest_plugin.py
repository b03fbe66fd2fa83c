"""pytest plugin (``pytest11`` entry point): fixtures for testing geofm plugins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from geofm.testing.isolation import isolated_plugins


@pytest.fixture
def geofm_isolated() -> Iterator[Callable[..., AbstractContextManager[Any]]]:
    """A function that opens :func:`geofm.testing.isolated_plugins` with extra plugin objects."""
    yield isolated_plugins


def pytest_report_header(config: pytest.Config) -> str:
    """Name the geofm version in pytest's header."""
    import geofm

    return f"geofm {geofm.__version__}"
