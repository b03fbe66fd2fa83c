"""One trial: the base run with the trial's values, run quietly by :func:`geofm.runner.run`.

The same code runs a trial in the study's process (Optuna backend) and in a Ray worker. A trial is an
ordinary run directory ``<study>/trials/<number>``; its console output (Lightning's, geofm's logging,
warnings) goes to ``trial.log`` in that directory, never to the study's console.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from geofm.errors import ConfigError
from geofm.tune.capture import output_to, routed_output
from geofm.tune.studydir import TRIAL_LOG, StudyDir

__all__ = ["TrialJob", "objective_value", "one_line"]


def one_line(error: BaseException) -> str:
    """``Type: message`` on one line (what ``trials.csv`` and the progress show)."""
    from geofm.errors import unwrap_worker_error

    error = unwrap_worker_error(error)
    message = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {message}"


def objective_value(summary: Mapping[str, Any], metric: str) -> float:
    """The value of ``metric`` (``val/<name>``) in a run's summary: the best checkpoint, re-scored."""
    name = metric.removeprefix("val/")
    values = summary.get("val") or {}
    if name not in values:
        known = ", ".join(f"val/{k}" for k in values) or "none"
        raise ConfigError(f"the trials do not log {metric} (they log {known}); give one of those as --metric")
    value = values[name]
    return float("nan") if value is None else float(value)


class _LogIntoRunDir(Callback):
    """Move the trial's log into its run directory once Lightning knows the directory."""

    def __init__(self, log: Path) -> None:
        self.log_path = log  # not ``log``: Lightning sets ``callback.log`` to the module's ``log``

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        target = Path(trainer.default_root_dir) / TRIAL_LOG
        if self.log_path != target and self.log_path.exists():
            os.replace(self.log_path, target)
            self.log_path = target


@dataclass(frozen=True)
class TrialJob:
    """What every trial of a study shares: the base run (plain data) and where trials go.

    Picklable, so that Ray workers receive it.
    """

    base: dict[str, Any]
    study_path: str

    @property
    def study(self) -> StudyDir:
        """The study directory."""
        return StudyDir(Path(self.study_path))

    def config(self, number: int, values: Mapping[str, Any]) -> dict[str, Any]:
        """The run configuration of trial ``number`` with ``values`` at their dotted keys."""
        from geofm.config import apply_overrides

        overrides = [(key.split("."), value) for key, value in values.items()]
        overrides += [
            (["out"], str(self.study.trials_dir)),
            (["name"], self.study.trial_name(number)),
            (["trainer", "progress_bar"], False),
        ]
        return apply_overrides(self.base, overrides)

    def run(self, number: int, values: Mapping[str, Any], callbacks: Sequence[Any] = ()) -> dict[str, Any]:
        """Run trial ``number``; its output goes to ``trials/<number>/trial.log``. Returns the run's summary."""
        from geofm.runner import run

        study = self.study
        log = study.trials_dir / f".{study.trial_name(number)}.log"  # until the run directory exists
        mover = _LogIntoRunDir(log)
        try:
            with routed_output(), output_to(log):
                return run(self.config(number, values), callbacks=[*callbacks, mover])
        finally:
            run_dir = study.trial_path(number)
            if mover.log_path == log and log.exists():
                os.replace(log, run_dir / TRIAL_LOG if run_dir.is_dir() else run_dir.with_suffix(".log"))
