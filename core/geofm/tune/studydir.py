"""The study directory: its file names, creating it, and writing its files.

This module is the only place that knows the layout of a study directory::

    <study>/tune.yaml          the resolved tune file: base run, search space, every setting (--resume reads it)
    <study>/study.db           the Optuna storage (SQLite; absent when --storage names another)
    <study>/trials/0007/       trial 7: an ordinary run directory (config, checkpoints, metrics, summary)
                               plus trial.log, the trial's console output
    <study>/trials.csv         one row per trial: state, value, duration, parameters, run directory, error
    <study>/best.yaml          the best trial's run configuration: `geofm run --config best.yaml` re-runs it
    <study>/summary.json       best value and parameters, trial counts by state, repeats
    <study>/plots/             Optuna's plots: optimisation history, parameter importances, slice ...
    <study>/repeats/seed_3/    the best configuration trained again with seed 3 (an ordinary run directory)
    <study>/ray/               Ray Tune's own records (the Ray backend only)

Trial directories are named by the Optuna trial number, which the storage hands out once, so trials of
a resumed study (or of several machines sharing one storage) never share a directory. Paths recorded in
the study's files are relative to the study directory, so a study can be moved or copied.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from geofm.errors import ConfigError
from geofm.rundir import Entry, OutputDir, new_directory, write_text_atomic

__all__ = ["StudyDir"]

TUNE_FILE = "tune.yaml"
STORAGE_FILE = "study.db"
TRIALS_DIR = "trials"
TRIALS_FILE = "trials.csv"
BEST_FILE = "best.yaml"
SUMMARY_FILE = "summary.json"
REPEATS_DIR = "repeats"
RAY_DIR = "ray"
TRIAL_LOG = "trial.log"


def study_stem(name: str | None, backbone: str) -> str:
    """The folder name of a new study: ``name``, or the time and the backbone."""
    stem = name or f"{dt.datetime.now():%Y%m%d-%H%M%S}-tune-{backbone}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)


@dataclass(frozen=True)
class StudyDir(OutputDir):
    """A study directory (see the module docstring for its layout)."""

    @classmethod
    def create(cls, out: str | os.PathLike[str], stem: str, *, named: bool) -> StudyDir:
        """Create ``<out>/<stem>``; a study ``named`` by the user that exists is an error (resume it instead)."""
        taken = "study {path} exists: continue it with --resume {path}, or give another --name" if named else None
        return cls(new_directory(out, stem, kind="studies", taken=taken))

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> StudyDir:
        """An existing study directory; anything else is a :class:`ConfigError` saying what to give."""
        study = Path(path).expanduser()
        if not (study / TUNE_FILE).is_file():
            raise ConfigError(f"{study} holds no {TUNE_FILE}: give a study directory that `geofm tune` wrote")
        return cls(study)

    # --- paths ---------------------------------------------------------------------------------------

    trials_dir = Entry(TRIALS_DIR, "``trials/``: one run directory per trial.")
    repeats_dir = Entry(REPEATS_DIR, "``repeats/``: the best configuration trained again, one run directory per seed.")
    ray_dir = Entry(RAY_DIR, "``ray/``: Ray Tune's own records.")
    best_path = Entry(BEST_FILE)

    @staticmethod
    def trial_name(number: int) -> str:
        """The run-directory name of trial ``number`` (``0007``)."""
        return f"{number:04d}"

    def trial_path(self, number: int) -> Path:
        """``trials/0007``: the run directory of trial ``number``."""
        return self.trials_dir / self.trial_name(number)

    def default_storage(self) -> str:
        """The SQLite URL of ``study.db``."""
        return f"sqlite:///{(self.path / STORAGE_FILE).resolve()}"

    # --- files ---------------------------------------------------------------------------------------

    def write_tune_file(self, data: Mapping[str, Any]) -> None:
        """Write ``tune.yaml``."""
        write_text_atomic(self.path / TUNE_FILE, yaml.safe_dump(dict(data), sort_keys=False))

    def read_tune_file(self) -> dict[str, Any]:
        """``tune.yaml`` as plain data."""
        from geofm.config import load_config

        return load_config(self.path / TUNE_FILE)

    def write_best(self, config: Mapping[str, Any], header: str) -> None:
        """Write ``best.yaml`` (a run configuration) under a comment ``header``."""
        comment = "".join(f"# {line}\n" for line in header.splitlines())
        write_text_atomic(self.best_path, comment + yaml.safe_dump(dict(config), sort_keys=False))

    def write_trials_csv(self, header: list[str], rows: list[list[Any]]) -> None:
        """Write ``trials.csv``."""
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        write_text_atomic(self.path / TRIALS_FILE, buffer.getvalue())
