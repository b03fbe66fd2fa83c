"""``metrics.csv``: the run's logged metrics, one row per logging call, kept across resumes.

Lightning's CSV logger deletes an existing ``metrics.csv`` when a run is resumed; this logger keeps every
row of the epochs the resumed checkpoint had finished and drops the rows of epochs it will train again, so
each epoch appears once. The file is rewritten atomically on every save (it holds a few rows per epoch),
so a kill at any moment leaves a complete file. Only rank 0 writes.
"""

from __future__ import annotations

import csv
import io
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from geofm.rundir import write_text_atomic

__all__ = ["MetricsCsvLogger", "read_metrics"]


def read_metrics(path: Path) -> list[dict[str, str]]:
    """The rows of a ``metrics.csv`` (empty when the file is absent)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _epoch(row: Mapping[str, Any]) -> int | None:
    try:
        return int(float(row.get("epoch", "")))
    except (TypeError, ValueError):
        return None


class MetricsCsvLogger(Logger):
    """A Lightning logger writing ``path``; ``resume_epoch`` keeps the existing rows up to that epoch.

    ``resume_epoch`` is the ``epoch`` of the checkpoint a resumed run continues from (its rows are
    complete); ``None`` starts a new file.
    """

    def __init__(self, path: Path, resume_epoch: int | None = None) -> None:
        super().__init__()
        self._path = Path(path)
        self._rows: list[dict[str, Any]] = []
        self._dirty = False
        if resume_epoch is not None:
            kept = [row for row in read_metrics(self._path) if (_epoch(row) or 0) <= resume_epoch]
            self._rows = [{k: v for k, v in row.items() if v not in ("", None)} for row in kept]
            self._dirty = True

    @property
    def name(self) -> str:
        """The logger's name."""
        return "geofm"

    @property
    def version(self) -> str:
        """One version per run directory."""
        return ""

    @property
    def save_dir(self) -> str:
        """The run directory."""
        return str(self._path.parent)

    @property
    def log_dir(self) -> str:
        """The run directory."""
        return str(self._path.parent)

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """Hyper-parameters live in ``config.yaml``: nothing to do."""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record one row of ``metrics`` (tensors become numbers)."""
        row: dict[str, Any] = {}
        for key, value in metrics.items():
            row[key] = value.item() if hasattr(value, "item") else value
        row["step"] = step if step is not None else len(self._rows)
        self._rows.append(row)
        self._dirty = True

    @rank_zero_only
    def save(self) -> None:
        """Rewrite ``metrics.csv`` with every row, atomically."""
        if not self._dirty:
            return
        columns = sorted({key for row in self._rows for key in row} - {"epoch", "step"})
        fields = ["epoch", "step", *columns]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._rows)
        write_text_atomic(self._path, buffer.getvalue())
        self._dirty = False

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Write what is left."""
        self.save()
