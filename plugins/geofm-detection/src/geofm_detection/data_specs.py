"""Specs of the detection datasets (filled in by the datasets' author)."""

from __future__ import annotations

from geofm.specs import DatasetSpec

DATASETS: tuple[DatasetSpec, ...] = ()
