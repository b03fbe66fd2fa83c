"""A study's results as files: ``trials.csv``, ``best.yaml``, ``plots/`` and ``summary.json``.

Everything is read from the Optuna study (the same for both backends) and the trials' run directories,
and can be written again at any time (each ``--resume`` does).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from geofm.errors import GeofmError
from geofm.rundir import SUMMARY_FILE, RunDir
from geofm.tune.context import StudyContext
from geofm.tune.optuna_backend import state_name, trial_value

__all__ = ["PLOTS", "trial_error", "trial_run_dir", "write_reports"]

log = logging.getLogger(__name__)

PLOTS = ("optimization_history", "param_importances", "slice", "parallel_coordinate", "intermediate_values")
"""``plots/<name>.png``, drawn by ``plot_<name>`` of ``optuna.visualization.matplotlib``."""


def trial_run_dir(ctx: StudyContext, trial: FrozenTrial) -> Path:
    """The run directory of ``trial``: in this study directory, or in another machine's sharing the storage."""
    own = ctx.study_dir.trial_path(trial.number)
    other = trial.user_attrs.get("study_dir")
    if other is None or own.exists() or Path(other) == ctx.study_dir.path.resolve():
        return own
    return Path(other) / str(trial.user_attrs.get("run_dir") or own.relative_to(ctx.study_dir.path).as_posix())


def trial_error(ctx: StudyContext, trial: FrozenTrial) -> str | None:
    """Why a trial failed: its recorded error, or the error its run directory recorded."""
    if trial.user_attrs.get("error"):
        return str(trial.user_attrs["error"])
    if trial.state != TrialState.FAIL:
        return None
    return _run_summary(ctx, trial).get("error") or "failed"


def _run_summary(ctx: StudyContext, trial: FrozenTrial) -> dict[str, Any]:
    path = trial_run_dir(ctx, trial)
    return (RunDir(path).read_json(SUMMARY_FILE) if path.is_dir() else None) or {}


def _epochs(ctx: StudyContext, trial: FrozenTrial) -> int | None:
    """Epochs the trial trained: its run's count, or the epochs it reported."""
    epochs = _run_summary(ctx, trial).get("epochs")
    if isinstance(epochs, int):
        return epochs
    return max(trial.intermediate_values) if trial.intermediate_values else None


def _write_trials_csv(ctx: StudyContext, trials: list[FrozenTrial]) -> None:
    keys = ctx.space.keys
    header = ["number", "state", ctx.metric, "duration_s", "epochs", *keys, "started", "run_dir", "retry_of", "error"]
    rows = []
    for trial in trials:
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        rows.append(
            [
                trial.number,
                state_name(trial.state),
                trial_value(trial),
                None if duration is None else round(duration, 3),
                _epochs(ctx, trial),
                *(trial.params.get(key) for key in keys),
                trial.datetime_start.isoformat(timespec="seconds") if trial.datetime_start else None,
                ctx.study_dir.relative(trial_run_dir(ctx, trial)),
                trial.user_attrs.get("retry_of"),
                trial_error(ctx, trial),
            ]
        )
    ctx.study_dir.write_trials_csv(header, rows)


def _write_best(ctx: StudyContext, best: FrozenTrial) -> dict[str, Any] | None:
    """``best.yaml``: the best trial's own ``config.yaml``, writing new runs where the base run would."""
    path = trial_run_dir(ctx, best)
    try:
        config = RunDir.open(path).read_config().to_dict()
    except (GeofmError, OSError) as error:  # a missing or damaged trial directory: the study still reports
        log.warning("no best.yaml: the run directory of trial %d cannot be read (%s)", best.number, error)
        return None
    config["out"] = ctx.job.base.get("out", "runs")
    config["name"] = None
    config["trainer"]["progress_bar"] = ctx.job.base["trainer"].get("progress_bar", True)  # trials run without
    header = (
        f"the best trial ({best.number:04d}) of study {ctx.study_name}: {ctx.metric}={best.value:.6g}\n"
        f"parameters: {', '.join(f'{k}={v}' for k, v in best.params.items())}\n"
        "re-run it with: geofm run --config best.yaml"
    )
    ctx.study_dir.write_best(config, header)
    return config


def write_plots(ctx: StudyContext, study: optuna.Study) -> tuple[list[str], dict[str, str]]:
    """Optuna's matplotlib plots into ``plots/``; returns the files written and why others were skipped."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # headless; a notebook keeps its own backend
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    plots = ctx.study_dir.plots_dir
    plots.mkdir(exist_ok=True)
    written: list[str] = []
    skipped: dict[str, str] = {}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    for name in PLOTS:
        if not complete:
            skipped[name] = "no complete trial"
            continue
        if name == "intermediate_values" and not any(t.intermediate_values for t in study.trials):
            skipped[name] = "no trial reported a value per epoch"
            continue
        figures = set(plt.get_fignums())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                draw = getattr(optuna_plots, f"plot_{name}")
                axes = draw(study) if name == "intermediate_values" else draw(study, target_name=ctx.metric)
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
            figure.savefig(plots / f"{name}.png", dpi=100, bbox_inches="tight")
            written.append(f"plots/{name}.png")
        except (ValueError, RuntimeError, ZeroDivisionError) as error:  # e.g. importances of a single trial
            skipped[name] = " ".join(str(error).split())
        finally:
            for number in set(plt.get_fignums()) - figures:  # only the figures drawn here
                plt.close(number)
    return written, skipped


def _counts(trials: list[FrozenTrial]) -> dict[str, int]:
    counts = {"complete": 0, "pruned": 0, "fail": 0, "running": 0, "waiting": 0}
    for trial in trials:
        counts[state_name(trial.state)] = counts.get(state_name(trial.state), 0) + 1
    return counts


def write_reports(
    ctx: StudyContext, study: optuna.Study, *, status: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Write ``trials.csv``, ``best.yaml``, ``plots/`` and ``summary.json``; return the summary."""
    trials = study.get_trials(deepcopy=False)
    _write_trials_csv(ctx, trials)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best: dict[str, Any] | None = None
    if complete:
        trial = study.best_trial
        config = _write_best(ctx, trial)
        best = {
            "number": trial.number,
            "value": trial.value,
            "params": dict(trial.params),
            "run_dir": ctx.study_dir.relative(trial_run_dir(ctx, trial)),
            "config": "best.yaml" if config is not None else None,
        }
    plots, skipped = write_plots(ctx, study)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    summary: dict[str, Any] = {
        "status": status,
        "study_dir": str(ctx.study_dir.path),
        "study_name": ctx.study_name,
        "backend": ctx.settings.backend,
        "metric": ctx.metric,
        "direction": ctx.direction,
        "target_trials": ctx.settings.trials,
        "trials": _counts(trials),
        "best": best,
        "first_error": ({"number": failed[0].number, "error": trial_error(ctx, failed[0])} if failed else None),
        "plots": plots,
        "plots_skipped": skipped,
        **(extra or {}),
    }
    previous = ctx.study_dir.read_json("summary.json") or {}
    if "repeats" in previous and "repeats" not in summary:
        summary["repeats"] = previous["repeats"]
    ctx.study_dir.write_json("summary.json", summary)
    return summary
